import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_JOB_IDS } from '../../src/emulator/index.js';
import { schemaErrorCodes } from '../support/schema-codes.js';
import { startStack, type Stack } from '../support/stack.js';

/** The codes schema/errors.graphql documents: the contract, not the gateway's own list. */
const DOCUMENTED_CODES = schemaErrorCodes();

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { NODE_ENV: 'production' } });
});
afterAll(() => stack.close());

const HOSTILE_IDS = ['..', '.', '%2e%2e', 'a/b', '//evil', 'http://evil', '?x', '#x', 'a\r\nb', 'x'.repeat(10_000), '', ' ', '\u0000'];
const id = fc.oneof(
  fc.constantFrom(...Object.values(SEED_JOB_IDS), ...HOSTILE_IDS),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 10 }),
);
const int = fc.oneof(fc.integer({ min: -3, max: 120 }), fc.constantFrom(2 ** 31 - 1, -(2 ** 31)));
/** Sometimes a value of the wrong type, as a client with a bug sends. */
const orWrong = <T>(arb: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 9, arbitrary: arb }, { weight: 1, arbitrary: fc.constantFrom<unknown>(null, 'x', 1.5, [], {}) });

const SCALARS = ['id', 'name', 'status', 'upstreamStatus', 'fineTunedModel', 'model', 'baseModel', 'trainingType', 'createdAt', 'endedAt'];
const MORE = ['usageTokens', 'durationSeconds', 'isTerminal', 'outputCount', 'trainingFileIds', 'workspaceId', 'nope'];
const NESTED = [
  'costEstimate { amount currency isFinal }',
  'failure { code message }',
  'hyperParameters { nEpochs learningRate raw }',
  'checkpoints { name step status modelName }',
];

const jobSelection = (withLogs: boolean) =>
  fc
    .tuple(
      fc.subarray([...SCALARS, ...MORE, ...NESTED], { minLength: 1, maxLength: 8 }),
      withLogs ? fc.option(fc.tuple(int, int), { nil: undefined }) : fc.constant(undefined),
      fc.boolean(),
    )
    .map(([fields, logs, aliased]) => {
      const all = logs ? [...fields, `logs(offset: ${logs[0]}, limit: ${logs[1]}) { total offset lines }`] : fields;
      return all.map((field, i) => (aliased && i === 0 ? `first: ${field}` : field)).join(' ');
    });

const operation = fc.oneof(
  fc.record({ value: orWrong(id), selection: jobSelection(true) }).map(({ value, selection }) => ({
    query: `query($id: ID!) { fineTuneJob(id: $id) { ${selection} } }`,
    variables: { id: value },
  })),
  fc.record({ ids: orWrong(fc.array(id, { maxLength: 8 })), selection: jobSelection(true) }).map(({ ids, selection }) => ({
    query: `query($ids: [ID!]!) { fineTuneJobsByIds(ids: $ids) { ${selection} } }`,
    variables: { ids },
  })),
  fc
    .record({
      page: orWrong(int),
      pageSize: orWrong(int),
      model: fc.option(fc.string({ maxLength: 300 }), { nil: undefined }),
      selection: jobSelection(false),
    })
    .map(({ page, pageSize, model, selection }) => ({
      query: `query($page: Int!, $pageSize: Int!, $model: String) { fineTuneJobs(page: $page, pageSize: $pageSize, model: $model) { total hasNextPage items { ${selection} } } }`,
      variables: { page, pageSize, model },
    })),
  // Arbitrary text as a document: syntax errors, unknown fields, limits.
  fc.string({ maxLength: 200 }).map((query) => ({ query, variables: {} })),
);

describe('property: whatever is asked, every error is a documented, masked one and the gateway never answers 5xx', () => {
  it('holds for 200 random operations over ids, arguments and selections', async () => {
    await fc.assert(
      fc.asyncProperty(operation, async ({ query, variables }) => {
        const { status, body } = await stack.gql(query, variables);
        expect(status).toBeLessThan(500);
        for (const error of body.errors ?? []) {
          expect(DOCUMENTED_CODES.has(error.extensions?.code as string), JSON.stringify(error)).toBe(true);
          expect(error.extensions?.code).not.toBe('INTERNAL_SERVER_ERROR');
          expect(Object.keys(error.extensions ?? {})).not.toContain('originalError');
          expect(Object.keys(error.extensions ?? {})).not.toContain('stacktrace');
        }
        // Nothing outside the fine-tunes API is ever requested upstream.
        for (const request of stack.emulator.stats().requests) expect(request.route).not.toBe('unknown');
      }),
      { numRuns: 200 },
    );
  });
});
