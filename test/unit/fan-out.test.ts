import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { createContext } from '../../src/context.js';
import { IdempotencyStore } from '../../src/modules/fine-tune-job/idempotency.js';
import { JobWatch } from '../../src/modules/live/job-watch.js';
import { loadPriceList } from '../../src/modules/fine-tune-job/derived.js';
import { fieldCosts } from '../../src/modules/index.js';
import { estimateUpstreamCalls } from '../../src/plugins/use-fan-out-budget.js';
import { buildSchema } from '../../src/schema.js';
import type { DashScopeClient, FineTuneJobRecord } from '../../src/upstream/dashscope/index.js';
import type { JobReader } from '../../src/upstream/job-reader.js';

const schema = buildSchema();
const estimate = (query: string, variables?: Record<string, unknown>, operationName?: string) =>
  estimateUpstreamCalls(fieldCosts, schema, parse(query), operationName, variables);

describe('estimateUpstreamCalls', () => {
  it('costs each field by the calls it makes, times the list sizes above it', () => {
    expect(estimate(`{ __typename }`)).toBe(0);
    expect(estimate(`{ fineTuneJob(id: "a") { id status costEstimate { amount } } }`)).toBe(1);
    expect(estimate(`{ fineTuneJob(id: "a") { checkpoints { name } logs { total } } }`)).toBe(3);
    expect(estimate(`{ fineTuneJobsByIds(ids: ["a", "b", "c"]) { id logs { total } } }`)).toBe(6);
    expect(estimate(`{ fineTuneJobs { items { id } } }`)).toBe(1);
    expect(estimate(`{ fineTuneJobs { items { checkpoints { name } } } }`)).toBe(1 + 10); // default pageSize 10
    expect(estimate(`{ fineTuneJobs(pageSize: 50) { items { checkpoints { name } logs { total } } } }`)).toBe(101);
  });

  it('reads ids and page sizes from variables, and follows aliases and fragments', () => {
    const byIds = `query($ids: [ID!]!) { fineTuneJobsByIds(ids: $ids) { ...J } } fragment J on FineTuneJob { checkpoints { name } }`;
    expect(estimate(byIds, { ids: ['a', 'b', 'c', 'd'] })).toBe(8);
    expect(estimate(`query($n: Int!) { fineTuneJobs(pageSize: $n) { items { logs { total } } } }`, { n: 30 })).toBe(31);
    expect(
      estimate(
        `{ a: fineTuneJob(id: "a") { id } b: fineTuneJob(id: "a") { id } ...Q } fragment Q on Query { c: fineTuneJob(id: "c") { id } }`,
      ),
    ).toBe(3);
    expect(estimate(`query A { fineTuneJob(id: "a") { id } } query B { __typename }`, {}, 'B')).toBe(0);
  });

  it('remembers an estimate per document only when it read no variable', () => {
    const byIds = parse(`query($ids: [ID!]!) { fineTuneJobsByIds(ids: $ids) { checkpoints { name } } }`);
    expect(estimateUpstreamCalls(fieldCosts, schema, byIds, undefined, { ids: ['a'] })).toBe(2);
    expect(estimateUpstreamCalls(fieldCosts, schema, byIds, undefined, { ids: ['a', 'b', 'c'] })).toBe(6);
    const one = parse(`query($id: ID!) { fineTuneJob(id: $id) { logs { total } } }`);
    expect(estimateUpstreamCalls(fieldCosts, schema, one, undefined, { id: 'a' })).toBe(2);
    expect(estimateUpstreamCalls(fieldCosts, schema, one, undefined, { id: 'b' })).toBe(2);
  });

  it('gives up (null) where execution fails before any call anyway', () => {
    expect(estimate(`query($ids: [ID!]!) { fineTuneJobsByIds(ids: $ids) { id } }`, {})).toBeNull();
    expect(estimate(`query A { __typename } query B { __typename }`)).toBeNull();
  });
});

/** A context over a stand-in reader (no upstream at all) with a budget of 3 upstream calls. */
function contextWithBudgetOf3(reader: JobReader) {
  return createContext({
    client: {} as DashScopeClient,
    idempotency: new IdempotencyStore(),
    deploymentIdempotency: new IdempotencyStore(),
    live: new JobWatch({ client: {} as DashScopeClient, intervalMs: 1_000 }),
    reader,
    credential: { apiKey: 'sk-unit-test', workspace: undefined },
    batchConcurrency: 10,
    maxUpstreamCalls: 3,
    prices: loadPriceList('intl', undefined),
  });
}

describe('the run-time fan-out budget', () => {
  it('lets an operation make its budget of upstream calls, and fails each one beyond it naming the limit', async () => {
    const calls: string[] = [];
    const reader = {
      getJob: (_credential: unknown, id: string) => {
        calls.push(id);
        return Promise.resolve({ id } as FineTuneJobRecord);
      },
    } as unknown as JobReader;
    const ctx = contextWithBudgetOf3(reader);
    const results = await Promise.allSettled(['a', 'b', 'c', 'd', 'e'].map((id) => ctx.loaders.job.load(id)));
    expect(calls).toEqual(['a', 'b', 'c']);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected']);
    expect((results[3] as PromiseRejectedResult).reason).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT', limit: 'maxUpstreamCalls' },
    });
  });

  it("counts a module's own loader (ctx.loader) against the same budget, one call per distinct key", async () => {
    const calls: string[] = [];
    const reader = {
      getJob: (_credential: unknown, id: string) => {
        calls.push(`job ${id}`);
        return Promise.resolve({ id } as FineTuneJobRecord);
      },
    } as unknown as JobReader;
    const ctx = contextWithBudgetOf3(reader);
    const metrics = {
      name: 'metrics',
      read: (_upstream: unknown, _credential: unknown, id: string) => {
        calls.push(`metrics ${id}`);
        return Promise.resolve(id.length);
      },
    };
    await ctx.loaders.job.load('a');
    const results = await Promise.allSettled(['bb', 'bb', 'ccc', 'dddd'].map((id) => ctx.loader(metrics).load(id)));
    expect(calls).toEqual(['job a', 'metrics bb', 'metrics ccc']);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
    expect((results[3] as PromiseRejectedResult).reason).toMatchObject({ extensions: { limit: 'maxUpstreamCalls' } });
  });
});
