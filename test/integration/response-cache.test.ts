import type { Cache } from '@envelop/response-cache';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEMO_ACCOUNT, SEED_JOB_IDS } from '../../src/emulator/index.js';
import { MemoryResponseCache } from '../../src/plugins/response-cache-store.js';
import type { ResponseCacheEvent } from '../../src/plugins/use-response-cache.js';
import { startStack, type Stack } from '../support/stack.js';
import { graphqlWs } from '../support/transports.js';

/*
 * The response cache over HTTP (and graphql-ws) against the emulator. The cache of finished jobs in the read path is
 * off here (CACHE_ENABLED=false): every execution then reads DashScope, so "no upstream call" proves "no execution".
 */

const { contractExample, failed, canceled, running } = SEED_JOB_IDS;
const JOB = 'query Job($id: ID!) { fineTuneJob(id: $id) { id name status endedAt durationSeconds costEstimate { amount currency } } }';
const GRAPHQL_RESPONSE = 'application/graphql-response+json';

/** A GET of the operation, as a browser's or dashboard's poll sends it. */
async function get(stack: Stack, query: string, variables: Record<string, unknown>, headers: Record<string, string> = {}) {
  const url = new URL('/graphql', stack.url);
  url.searchParams.set('query', query);
  url.searchParams.set('variables', JSON.stringify(variables));
  const response = await fetch(url, { headers: { accept: GRAPHQL_RESPONSE, ...headers } });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** Upstream calls one run of `operation` cost. */
async function callsOf(stack: Stack, operation: () => Promise<unknown>): Promise<number> {
  const before = stack.upstreamCalls();
  await operation();
  return stack.upstreamCalls() - before;
}

describe('the response cache (server mode)', () => {
  let stack: Stack;
  beforeEach(async () => {
    stack = await startStack({ env: { CACHE_ENABLED: 'false' } });
  });
  afterEach(() => stack.close());

  it('answers a finished job a second time without executing: no upstream call, same answer, private ETag', async () => {
    const first = await stack.gql(JOB, { id: failed });
    expect(first.body.errors).toBeUndefined();
    expect(stack.upstreamCalls('get')).toBe(1);
    const second = await stack.gql(JOB, { id: failed });
    expect(second.body).toEqual(first.body);
    expect(stack.upstreamCalls('get')).toBe(1);
    for (const answer of [first, second]) {
      expect(answer.headers.get('cache-control')).toBe('private, no-cache');
      expect(answer.headers.get('etag')).toMatch(/^W\/"[\w-]{43}"$/);
    }
    expect(second.headers.get('etag')).toBe(first.headers.get('etag'));
    expect(stack.gateway.responseCache?.size).toBe(1);
    // Nothing of the cache's bookkeeping reaches the body.
    expect(JSON.stringify(second.body)).not.toMatch(/http|ETag|responseCache/);
  });

  it('answers a GET with a matching If-None-Match 304 with an empty body; POST and other tags get the answer', async () => {
    const first = await get(stack, JOB, { id: canceled });
    expect(first.status).toBe(200);
    const etag = first.headers.get('etag');
    expect(etag).toBeTruthy();

    const revalidated = await get(stack, JOB, { id: canceled }, { 'if-none-match': etag! });
    expect(revalidated.status).toBe(304);
    expect(revalidated.text).toBe('');
    expect(revalidated.headers.get('etag')).toBe(etag);
    expect(revalidated.headers.get('cache-control')).toBe('private, no-cache');
    // A list of tags, as browsers send when they hold several.
    expect((await get(stack, JOB, { id: canceled }, { 'if-none-match': `W/"other", ${etag!}` })).status).toBe(304);

    const stale = await get(stack, JOB, { id: canceled }, { 'if-none-match': 'W/"not-this-answer"' });
    expect(stale.status).toBe(200);
    expect(JSON.parse(stale.text)).toEqual(JSON.parse(first.text));

    // Another job's tag does not stand for this one.
    const other = await get(stack, JOB, { id: failed }, { 'if-none-match': etag! });
    expect(other.status).toBe(200);
    expect((JSON.parse(other.text) as { data: { fineTuneJob: { id: string } } }).data.fineTuneJob.id).toBe(failed);

    // A stream (SSE) answers in its own framing.
    const streamed = await get(stack, JOB, { id: canceled }, { accept: 'text/event-stream', 'if-none-match': etag! });
    expect(streamed.status).toBe(200);
    expect(streamed.text).toContain('event: next');

    const posted = await stack.gql(JOB, { id: canceled }, { 'if-none-match': etag! });
    expect(posted.status).toBe(200);
    expect(posted.body.data?.fineTuneJob).toMatchObject({ id: canceled, status: 'CANCELED' });
    expect(stack.upstreamCalls('get')).toBe(2);
  });

  it('never keeps a job that is still going, and shows its new status at once when it ends', async () => {
    for (let poll = 1; poll <= 2; poll++) {
      const answer = await get(stack, JOB, { id: running });
      expect(JSON.parse(answer.text)).toMatchObject({ data: { fineTuneJob: { status: 'RUNNING' } } });
      expect(answer.headers.get('etag')).toBeNull();
      expect(answer.headers.get('cache-control')).toBe('no-store');
      expect(stack.upstreamCalls('get')).toBe(poll);
    }
    stack.emulator.setJobStatus(DEMO_ACCOUNT.apiKey, running, 'SUCCEEDED');
    const ended = await stack.ok(JOB, { id: running });
    expect(ended.fineTuneJob.status).toBe('SUCCEEDED');
    expect(stack.upstreamCalls('get')).toBe(3);
    // Finished now: kept from here on.
    expect(await stack.ok(JOB, { id: running })).toEqual(ended);
    expect(stack.upstreamCalls('get')).toBe(3);
  });

  it('does not keep an answer that mixes a finished job with one still going', async () => {
    const query = 'query($ids: [ID!]!) { fineTuneJobsByIds(ids: $ids) { id status } }';
    expect(await callsOf(stack, () => stack.ok(query, { ids: [failed, running] }))).toBe(2);
    expect(await callsOf(stack, () => stack.ok(query, { ids: [failed, running] }))).toBe(2);
    // Both finished: kept.
    expect(await callsOf(stack, () => stack.ok(query, { ids: [failed, canceled] }))).toBe(2);
    expect(await callsOf(stack, () => stack.ok(query, { ids: [failed, canceled] }))).toBe(0);
  });

  it.each([
    ['a field that can change', `{ fineTuneJob(id: "${failed}") { id status checkpoints { id status } } }`],
    ['a list', `{ fineTuneJobs(pageSize: 5) { items { id status } } }`],
    [
      'a fragment spreading a field that can change',
      `{ fineTuneJob(id: "${failed}") { ...Job } } fragment Job on FineTuneJob { status c: deployments { id } }`,
    ],
    [
      'an inline fragment with a field that can change',
      `{ fineTuneJob(id: "${failed}") { id ... on FineTuneJob { logs(limit: 1) { total } } } }`,
    ],
    [
      'an alias renaming a field that can change',
      `{ fineTuneJob(id: "${failed}") { status: upstreamStatus files: trainingFiles { id } } }`,
    ],
    ['a second root field that can change', `{ fineTuneJob(id: "${failed}") { id } d: deployments { total } }`],
    ['introspection', `{ fineTuneJob(id: "${failed}") { id } __schema { queryType { name } } }`],
  ])('executes every time a query with %s, and marks it no-store', async (_what, query) => {
    for (let run = 0; run < 2; run++) {
      const before = stack.upstreamCalls();
      const answer = await stack.gql(query);
      expect(answer.status).toBe(200);
      expect(answer.headers.get('etag')).toBeNull();
      expect(answer.headers.get('cache-control')).toBe('no-store');
      expect(stack.upstreamCalls()).toBeGreaterThan(before);
    }
  });

  it('never keeps an answer with an error', async () => {
    stack.emulator.injectFault({
      match: { route: 'get', jobId: failed },
      times: 1,
      fault: { kind: 'status', status: 404, code: 'NotFound' },
    });
    const failedRead = await stack.gql(JOB, { id: failed });
    expect(failedRead.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(failedRead.headers.get('cache-control')).toBe('no-store');
    const read = await stack.ok(JOB, { id: failed });
    expect(read.fineTuneJob.id).toBe(failed);
    expect(stack.upstreamCalls('get')).toBe(2);
  });

  it('forgets a job deleted through the gateway: the next read says it is gone', async () => {
    await stack.ok(JOB, { id: failed });
    await stack.ok(JOB, { id: failed });
    expect(stack.upstreamCalls('get')).toBe(1);
    await stack.ok('mutation($id: ID!) { deleteFineTuneJob(id: $id) { deleted } }', { id: failed });
    const after = await stack.gql(JOB, { id: failed });
    expect(after.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(after.body.data?.fineTuneJob).toBeNull();
  });

  it('does not keep an answer read before a delete that finished while it was on its way', async () => {
    // The read waits at the emulator until the delete has gone through, then answers with the job as it was.
    stack.emulator.injectFault({ match: { route: 'get', jobId: canceled }, times: 1, fault: { kind: 'delay', ms: 400, processed: true } });
    const inFlight = stack.ok(JOB, { id: canceled });
    await vi.waitFor(() => expect(stack.emulator.stats().inFlight).toBe(1), { timeout: 5_000 });
    await stack.ok('mutation($id: ID!) { deleteFineTuneJob(id: $id) { deleted } }', { id: canceled });
    expect((await inFlight).fineTuneJob.id).toBe(canceled);
    const after = await stack.gql(JOB, { id: canceled });
    expect(after.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('keeps the answer about a job a refused cancel did not change: a refused write empties no cache', async () => {
    await stack.ok(JOB, { id: contractExample });
    const cancel = await stack.gql('mutation($id: ID!) { cancelFineTuneJob(id: $id) { id } }', { id: contractExample });
    expect(cancel.body.errors?.[0]?.extensions?.code).toBe('UNSUPPORTED_OPERATION');
    expect(await callsOf(stack, () => stack.ok(JOB, { id: contractExample }))).toBe(0);
  });

  it('serves graphql-ws from the same cache, with the same answer and no HTTP extensions', async () => {
    const ws = graphqlWs(stack.url);
    try {
      const overHttp = await stack.gql(JOB, { id: failed });
      expect(stack.upstreamCalls('get')).toBe(1);
      const overWs = await ws.run({ query: JOB, variables: { id: failed } });
      expect(overWs.failure).toBeUndefined();
      expect(overWs.payloads).toEqual([overHttp.body]);
      expect(stack.upstreamCalls('get')).toBe(1);

      // And the other way round: an answer kept from a socket serves HTTP.
      const wsFirst = await ws.run({ query: JOB, variables: { id: canceled } });
      expect(stack.upstreamCalls('get')).toBe(2);
      expect(wsFirst.payloads).toHaveLength(1);
      expect(wsFirst.payloads[0]).not.toHaveProperty('extensions');
      expect((await stack.gql(JOB, { id: canceled })).body).toEqual(wsFirst.payloads[0]);
      expect(stack.upstreamCalls('get')).toBe(2);
    } finally {
      await ws.close();
    }
  });
});

describe('the response cache across tenants (forward mode)', () => {
  const TENANT_B = { apiKey: 'sk-tenant-b-0000', workspaceId: 'llm-tenantb01', userId: '6543210987654321', seed: true };
  const asA = { authorization: `Bearer ${DEMO_ACCOUNT.apiKey}` };
  const asB = { authorization: `Bearer ${TENANT_B.apiKey}` };
  const QUERY = 'query($id: ID!) { fineTuneJob(id: $id) { id status workspaceId } }';
  let stack: Stack;
  beforeEach(async () => {
    stack = await startStack({ env: { AUTH_MODE: 'forward', CACHE_ENABLED: 'false' }, emulator: { accounts: [DEMO_ACCOUNT, TENANT_B] } });
  });
  afterEach(() => stack.close());

  it("never serves one key's answer to another key, another workspace or a caller without a key", async () => {
    const a = await stack.ok(QUERY, { id: failed }, asA);
    expect(a.fineTuneJob.workspaceId).toBe(DEMO_ACCOUNT.workspaceId);
    expect(await callsOf(stack, () => stack.ok(QUERY, { id: failed }, asA))).toBe(0);

    // The same job id in B's account (both are seeded alike): B's own copy, read from DashScope with B's key.
    const b = await stack.ok(QUERY, { id: failed }, asB);
    expect(b.fineTuneJob.workspaceId).toBe(TENANT_B.workspaceId);
    expect(stack.emulator.stats().requests.at(-1)?.apiKeyHash).not.toBe(stack.emulator.stats().requests[0]?.apiKeyHash);
    expect(await callsOf(stack, () => stack.ok(QUERY, { id: failed }, asB))).toBe(0);

    // A's key naming a workspace explicitly is another tenant upstream: not served A's default-workspace answer.
    const explicit = await callsOf(stack, () =>
      stack.gql(QUERY, { id: failed }, { ...asA, 'x-dashscope-workspace': DEMO_ACCOUNT.workspaceId }),
    );
    expect(explicit).toBe(1);

    const anonymous = await stack.gql(QUERY, { id: failed });
    expect(anonymous.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(anonymous.body.data?.fineTuneJob ?? null).toBeNull();
    expect(anonymous.headers.get('etag')).toBeNull();
  });

  it("answers B's GET with B's answer, whatever tag of A's it sends", async () => {
    const a = await get(stack, QUERY, { id: failed }, asA);
    const etagA = a.headers.get('etag')!;
    expect(etagA).toBeTruthy();
    const b = await get(stack, QUERY, { id: failed }, { ...asB, 'if-none-match': etagA });
    expect(b.status).toBe(200);
    expect(JSON.parse(b.text)).toMatchObject({ data: { fineTuneJob: { workspaceId: TENANT_B.workspaceId } } });
    const anonymous = await get(stack, QUERY, { id: failed }, { 'if-none-match': etagA });
    expect(anonymous.status).not.toBe(304);
    expect(anonymous.text).toContain('UNAUTHENTICATED');
  });
});

describe('the response cache, as the gateway is composed', () => {
  it('uses the store it is given, and reports each hit and miss of a cacheable operation', async () => {
    const store = new MemoryResponseCache({ maxEntries: 10, maxBytes: 1_000_000 });
    const events: Array<[string, ResponseCacheEvent]> = [];
    const stack = await startStack({
      responseCache: { store, onHit: (event) => events.push(['hit', event]), onMiss: (event) => events.push(['miss', event]) },
    });
    try {
      await stack.ok(JOB, { id: failed });
      await stack.ok(JOB, { id: failed });
      await stack.ok(JOB, { id: running });
      await stack.ok('{ fineTuneJobs(pageSize: 1) { total } }');
      expect(events).toEqual([
        ['miss', { operationName: 'Job' }],
        ['hit', { operationName: 'Job' }],
        ['miss', { operationName: 'Job' }],
      ]);
      expect(store.size).toBe(1);
    } finally {
      await stack.close();
    }
  });

  it('answers a mutation only once the store has invalidated what it touched (a shared store does it asynchronously)', async () => {
    const memory = new MemoryResponseCache({ maxEntries: 10, maxBytes: 1_000_000 });
    let invalidating!: () => void;
    const invalidationStarted = new Promise<void>((resolve) => (invalidating = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    // Like the Redis store: the invalidation takes a round trip, here one the test ends when it wants.
    const store: Cache = {
      set: (key, answer, entities, ttl) => memory.set(key, answer, entities, ttl),
      get: (key) => memory.get(key),
      invalidate: async (entities) => {
        invalidating();
        await released;
        memory.invalidate(entities);
      },
    };
    const stack = await startStack({ env: { CACHE_ENABLED: 'false' }, responseCache: { store } });
    try {
      await stack.ok(JOB, { id: canceled });
      await stack.ok(JOB, { id: canceled });
      expect(stack.upstreamCalls('get')).toBe(1);
      const deleted = stack.ok('mutation($id: ID!) { deleteFineTuneJob(id: $id) { deleted } }', { id: canceled }).then(() => 'answered');
      await invalidationStarted;
      // The delete is done upstream, the invalidation is not: no answer yet (a read sent after it would be served the
      // job from the cache). A bounded wait for an answer that must not come.
      const early = await Promise.race([deleted, new Promise((resolve) => setTimeout(() => resolve('waiting'), 300))]);
      expect(early).toBe('waiting');
      release();
      expect(await deleted).toBe('answered');
      const after = await stack.gql(JOB, { id: canceled });
      expect(after.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    } finally {
      release();
      await stack.close();
    }
  });

  it('serves a batch element by element from the cache, but the batch as a whole is never marked as kept', async () => {
    const stack = await startStack({ env: { CACHE_ENABLED: 'false', BATCH_LIMIT: '2' } });
    try {
      const batch = () =>
        fetch(`${stack.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify([
            { query: JOB, variables: { id: failed } },
            { query: JOB, variables: { id: canceled } },
          ]),
        });
      const first = await batch();
      expect(((await first.json()) as unknown[]).length).toBe(2);
      const second = await batch();
      expect(((await second.json()) as Array<{ data: unknown }>).map((answer) => answer.data)).toHaveLength(2);
      expect(stack.upstreamCalls('get')).toBe(2);
      for (const response of [first, second]) {
        expect(response.headers.get('cache-control')).toBe('no-store');
        expect(response.headers.get('etag')).toBeNull();
      }
    } finally {
      await stack.close();
    }
  });

  it('RESPONSE_CACHE_ENABLED=false: every operation executes, and nothing says it may be kept', async () => {
    const stack = await startStack({ env: { CACHE_ENABLED: 'false', RESPONSE_CACHE_ENABLED: 'false' } });
    try {
      await stack.ok(JOB, { id: failed });
      const again = await stack.gql(JOB, { id: failed });
      expect(stack.upstreamCalls('get')).toBe(2);
      expect(again.headers.get('etag')).toBeNull();
      expect(stack.gateway.responseCache).toBeUndefined();
    } finally {
      await stack.close();
    }
  });
});
