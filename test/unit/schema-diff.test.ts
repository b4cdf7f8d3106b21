import { buildSchema, type GraphQLSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import { currentSchema, describeChanges, printStable, releasedSchema, schemaChanges } from '../../schema-history/schema-history.js';

/*
 * The schema-diff check: the gateway's schema against the last released one (schema-history/released.graphql).
 * A breaking change fails here until the snapshot is updated on purpose (`npm run schema:release`).
 */

const sdl = printStable(currentSchema());
/** The current schema with one edit, as a change to an SDL file would make it. */
const edited = (from: string | RegExp, to: string): GraphQLSchema => {
  const changed = sdl.replace(from, to);
  expect(changed, `the edit ${String(from)} applies`).not.toBe(sdl);
  return buildSchema(changed);
};

describe('schema diff against the released schema', () => {
  it('finds no breaking change since schema-history/released.graphql (dangerous and safe ones are printed)', async () => {
    const released = releasedSchema();
    expect(released, 'schema-history/released.graphql exists: run `npm run schema:release`').not.toBeNull();
    const changes = await schemaChanges(released, currentSchema());
    if (changes.dangerous.length + changes.safe.length > 0) console.log(`Schema changes since the release:\n${describeChanges(changes)}`);
    expect(
      changes.breaking.map((change) => change.message),
      'Breaking schema changes: keep the old shape, or if clients are ready run `npm run schema:release` and commit the snapshot',
    ).toEqual([]);
  });

  it('flags a removed field and a new required argument as breaking', async () => {
    const current = currentSchema();
    const removed = await schemaChanges(current, edited(/\n {2}"""[^"]*"""\n {2}durationSeconds: Int\n/, '\n'));
    expect(removed.breaking.map((change) => change.message)).toEqual([
      "Field 'durationSeconds' was removed from object type 'FineTuneJob'",
    ]);
    const required = await schemaChanges(current, edited('fineTuneJob(', 'fineTuneJob(region: String!, '));
    expect(required.breaking.map((change) => change.message)).toEqual(["Argument 'region: String!' added to field 'Query.fineTuneJob'"]);
  });

  it('lets dangerous and safe changes through: a new enum value, a new optional field', async () => {
    const current = currentSchema();
    const changes = await schemaChanges(current, edited(/\n {2}PENDING\n/, '\n  PENDING\n\n  PAUSED\n'));
    expect(changes.breaking).toEqual([]);
    expect(changes.dangerous.map((change) => change.message).join('\n')).toMatch(/PAUSED/);
    const added = await schemaChanges(current, edited('type FineTuneJob {', 'type FineTuneJob {\n  region: String\n'));
    expect(added.breaking).toEqual([]);
    expect(added.safe.map((change) => change.message)).toEqual(["Field 'region' was added to object type 'FineTuneJob'"]);
  });
});
