import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CriticalityLevel, diff, type Change } from '@graphql-inspector/core';
import { buildSchema as buildSdl, lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { format, resolveConfig } from 'prettier';
import { buildSchema } from '../src/schema.js';

/*
 * The schema clients were last given, and what has changed since. released.graphql is the merged schema (schema/
 * and every module's SDL) as of the last release, printed in a stable order; it sits outside codegen's and the
 * gateway's SDL globs, so it is never served or generated from. `npm run schema:release` rewrites it on purpose.
 */

export const RELEASED_SCHEMA_FILE = fileURLToPath(new URL('./released.graphql', import.meta.url));

/** A schema as SDL, in a stable order (types and fields sorted), so that the snapshot's diff shows real changes only. */
export function printStable(schema: GraphQLSchema): string {
  return printSchema(lexicographicSortSchema(schema));
}

/** The gateway's schema as it is now. */
export function currentSchema(): GraphQLSchema {
  return buildSchema();
}

/** The released schema; null before the first release. */
export function releasedSchema(): GraphQLSchema | null {
  const sdl = existsSync(RELEASED_SCHEMA_FILE) ? readFileSync(RELEASED_SCHEMA_FILE, 'utf8') : '';
  return sdl.trim() ? buildSdl(sdl) : null;
}

export interface SchemaChanges {
  /** Changes that break a client built against the released schema (a removed field, a new required argument, …). */
  breaking: Change[];
  /** Changes that may (a new enum value a client's switch does not know, a changed default, …). */
  dangerous: Change[];
  safe: Change[];
}

/** What changed from `released` to `current`, by @graphql-inspector/core's criticality rules. */
export async function schemaChanges(released: GraphQLSchema | null, current: GraphQLSchema): Promise<SchemaChanges> {
  const changes = await diff(released, current);
  const at = (level: CriticalityLevel) => changes.filter((change) => change.criticality.level === level);
  return { breaking: at(CriticalityLevel.Breaking), dangerous: at(CriticalityLevel.Dangerous), safe: at(CriticalityLevel.NonBreaking) };
}

/** One line per change, for a person to read. */
export function describeChanges({ breaking, dangerous, safe }: SchemaChanges): string {
  const lines = (label: string, changes: Change[]) =>
    changes.map((change) => `  ${label} ${change.message}${change.criticality.reason ? ` (${change.criticality.reason})` : ''}`);
  const all = [...lines('BREAKING ', breaking), ...lines('dangerous', dangerous), ...lines('safe     ', safe)];
  return all.length ? all.join('\n') : '  no changes';
}

/** `npm run schema:release`: the current schema becomes the released one. `--check`: print the diff, exit 1 if breaking. */
async function main(args: string[]): Promise<void> {
  const changes = await schemaChanges(releasedSchema(), currentSchema());
  console.log(`Changes since schema-history/released.graphql:\n${describeChanges(changes)}`);
  if (args.includes('--check')) {
    if (changes.breaking.length) {
      console.error(`\n${changes.breaking.length} breaking change(s). If clients are ready for them, run \`npm run schema:release\`.`);
      process.exitCode = 1;
    }
    return;
  }
  // Formatted as `npm run format` would, so that format:check passes on the snapshot.
  const options = await resolveConfig(RELEASED_SCHEMA_FILE);
  writeFileSync(RELEASED_SCHEMA_FILE, await format(printStable(currentSchema()), { ...options, parser: 'graphql' }));
  console.log('Wrote schema-history/released.graphql: commit it with the change.');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main(process.argv.slice(2));
