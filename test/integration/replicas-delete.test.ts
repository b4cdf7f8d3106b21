import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEMO_ACCOUNT } from '../../src/emulator/index.js';
import { openSse } from '../support/sse.js';
import { startStack, type Stack } from '../support/stack.js';
import { redisAvailable, startRedis, startReplicas, type GraphQLBody, type RedisServer, type Replicas } from '../support/redis.js';

/*
 * A deleted job is NOT_FOUND everywhere once its delete answered: on every replica, for every spelling of the
 * credential (with or without the workspace header), whatever read was in flight when it was deleted. Real processes:
 * a redis-server, one emulator and two gateways sharing the caches of finished jobs and of answers through Redis.
 */

/** A shape the response cache keeps: answered from the shared response cache once kept. */
const KEPT = `query Kept($id: ID!) { fineTuneJob(id: $id) { id status } }`;
/** A shape it does not keep (`logs` can change): executed every time, reading the job through the shared job cache. */
const EXECUTED = `query Executed($id: ID!) { fineTuneJob(id: $id) { id status logs(limit: 1) { total } } }`;
const DELETE = `mutation($id: ID!) { deleteFineTuneJob(id: $id) { id deleted } }`;
const NAMED_WORKSPACE = { 'x-dashscope-workspace': DEMO_ACCOUNT.workspaceId };
const WATCH = `subscription($id: ID!) { fineTuneJobUpdated(id: $id) { status } }`;
/** A second tenant (an account of its own in the emulator). */
const OTHER_TENANT = 'sk-replicas-delete-other';

type JobAnswer = GraphQLBody<{ fineTuneJob: { id: string; status: string } | null }>;
const newJobId = () => `ft-202611280000-${Math.random().toString(16).slice(2, 6)}`;

/** Every way of reading `id` this test knows: both shapes, with and without the workspace header. */
const READS = [
  { query: KEPT, headers: {} },
  { query: KEPT, headers: NAMED_WORKSPACE },
  { query: EXECUTED, headers: {} },
  { query: EXECUTED, headers: NAMED_WORKSPACE },
];

function expectGone(answer: JobAnswer, where: string): void {
  expect({ where, job: answer.data?.fineTuneJob ?? null, code: answer.errors?.[0]?.extensions?.code }).toEqual({
    where,
    job: null,
    code: 'NOT_FOUND',
  });
}

describe.skipIf(!redisAvailable('replica delete'))('a delete on one replica, with reads on the other', () => {
  let redis: RedisServer;
  let stack: Replicas;
  beforeAll(async () => {
    redis = await startRedis();
    stack = await startReplicas({
      count: 2,
      emulatorArgs: ['--account', OTHER_TENANT],
      env: { REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: '2000', POLL_INTERVAL_MS: '50' },
    });
    for (const replica of stack.replicas) await replica.child.logged(/Redis at .* ready/);
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    await redis?.stop();
  });
  beforeEach(() => stack.resetUpstreamCalls());

  const a = () => stack.replicas[0]!;
  const b = () => stack.replicas[1]!;
  const finishedJob = async (apiKey = stack.apiKey) => {
    const id = newJobId();
    const response = await fetch(`${stack.emulatorUrl}/__emulator/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiKey, job: { job_id: id, status: 'SUCCEEDED', model: 'qwen3-8b' } }),
    });
    expect(response.status).toBe(200);
    await response.body?.cancel();
    return id;
  };
  const everywhereGone = async (id: string) => {
    // B first: what it stored went to Redis on its connection before it answered.
    for (const replica of [b(), a()])
      for (const { query, headers } of READS)
        expectGone(
          await replica.gql(query, { id }, headers),
          `${replica === a() ? 'A' : 'B'} ${query.slice(6, 14)} ${JSON.stringify(headers)}`,
        );
  };

  it('a read B began before A deleted the job, answered after, leaves nothing behind in the shared caches', async () => {
    const id = await finishedJob();
    // DashScope reads the job at once but sends B its answer slowly: B's read spans the whole delete.
    await stack.injectFault({ match: { route: 'get', jobId: id }, times: 1, fault: { kind: 'slow-body', ms: 1_500 } });
    const slow = b().gql<{ fineTuneJob: { id: string; status: string } | null }>(KEPT, { id });
    await vi.waitFor(async () => expect(await stack.upstreamCalls('get')).toBe(1), { timeout: 5_000, interval: 20 });
    const deleted = await a().gql(DELETE, { id });
    expect(deleted.errors).toBeUndefined();
    // B answers what DashScope sent it: the job as it was when B asked.
    expect((await slow).data?.fineTuneJob).toEqual({ id, status: 'SUCCEEDED' });
    await everywhereGone(id);
  });

  it('a page of jobs B began listing before A deleted one, answered after, leaves nothing behind either', async () => {
    const id = await finishedJob();
    // The page, with the job in it, is read by DashScope at once and sent to B slowly (the list fills the job cache).
    await stack.injectFault({ match: { route: 'list' }, times: 1, fault: { kind: 'slow-body', ms: 1_500 } });
    const page = b().gql<{ fineTuneJobs: { items: Array<{ id: string }> } }>(`{ fineTuneJobs(page: 1, pageSize: 100) { items { id } } }`);
    await vi.waitFor(async () => expect(await stack.upstreamCalls('list')).toBe(1), { timeout: 5_000, interval: 20 });
    expect((await a().gql(DELETE, { id })).errors).toBeUndefined();
    expect((await page).data?.fineTuneJobs.items.map((job) => job.id)).toContain(id);
    await everywhereGone(id);
  });

  it('another tenant watching its own job live does not keep a page from filling the shared job cache', async () => {
    const id = await finishedJob();
    const theirs = await finishedJob(OTHER_TENANT);
    await stack.injectFault({ match: { route: 'list', apiKey: stack.apiKey }, times: 1, fault: { kind: 'slow-body', ms: 1_500 } });
    const page = b().gql<{ fineTuneJobs: { items: Array<{ id: string }> } }>(`{ fineTuneJobs(page: 1, pageSize: 100) { items { id } } }`);
    await vi.waitFor(async () => expect(await stack.upstreamCalls('list')).toBe(1), { timeout: 5_000, interval: 20 });
    // Meanwhile the other tenant subscribes to its finished job (one value, then the end) on A.
    const watch = await openSse(a().url, WATCH, { id: theirs }, { headers: { authorization: `Bearer ${OTHER_TENANT}` } });
    expect((await watch.rest()).map((payload) => payload.errors ?? payload.data?.fineTuneJobUpdated.status)).toEqual(['SUCCEEDED']);
    expect((await page).data?.fineTuneJobs.items.map((job) => job.id)).toContain(id);
    await stack.resetUpstreamCalls();
    expect((await b().gql(EXECUTED, { id })).data?.fineTuneJob).toMatchObject({ id, status: 'SUCCEEDED' });
    expect(await stack.upstreamCalls('get')).toBe(0);
  });

  it('a delete with the workspace named clears what reads without the header cached, and the reverse', async () => {
    for (const [readWith, deleteWith] of [
      [{}, NAMED_WORKSPACE],
      [NAMED_WORKSPACE, {}],
    ]) {
      const id = await finishedJob();
      for (const { query } of READS) {
        expect((await b().gql(query, { id }, readWith)).data?.fineTuneJob).toMatchObject({ id, status: 'SUCCEEDED' });
        // Once more: now from the caches.
        expect((await b().gql(query, { id }, readWith)).data?.fineTuneJob).toMatchObject({ id, status: 'SUCCEEDED' });
      }
      expect((await a().gql(DELETE, { id }, deleteWith)).errors).toBeUndefined();
      await everywhereGone(id);
    }
  });
});

describe('a delete in one process clears every credential spelling’s cached copy (no Redis)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { AUTH_MODE: 'forward' } });
  });
  afterAll(() => stack.close());

  it('reads without the workspace header are NOT_FOUND after a delete that named it', async () => {
    const key = { authorization: `Bearer ${DEMO_ACCOUNT.apiKey}` };
    const id = newJobId();
    stack.emulator.putRawJob(DEMO_ACCOUNT.apiKey, { job_id: id, status: 'SUCCEEDED', model: 'qwen3-8b' });
    for (const { query } of READS) {
      expect((await stack.gql(query, { id }, key)).body.data?.fineTuneJob).toMatchObject({ status: 'SUCCEEDED' });
      expect((await stack.gql(query, { id }, key)).body.data?.fineTuneJob).toMatchObject({ status: 'SUCCEEDED' });
    }
    expect((await stack.gql(DELETE, { id }, { ...key, ...NAMED_WORKSPACE })).body.errors).toBeUndefined();
    for (const { query, headers } of READS) expectGone((await stack.gql(query, { id }, { ...key, ...headers })).body as JobAnswer, query);
  });
});

describe('a write another tenant sends to a job’s id empties none of the owner’s caches (no Redis)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { AUTH_MODE: 'forward' } });
  });
  afterAll(() => stack.close());

  const owner = { authorization: `Bearer ${DEMO_ACCOUNT.apiKey}` };
  /** The owner's job, read twice (both caches filled); upstream calls counted from then on. */
  const cachedJob = async () => {
    const id = newJobId();
    stack.emulator.putRawJob(DEMO_ACCOUNT.apiKey, { job_id: id, status: 'SUCCEEDED', model: 'qwen3-8b' });
    for (const { query } of READS) for (let i = 0; i < 2; i++) await stack.ok(query, { id }, owner);
    stack.emulator.resetStats();
    return id;
  };
  const responseHits = async () => {
    const text = await (await fetch(`${stack.url}/metrics`)).text();
    return Number(/^gateway_cache_lookups_total\{cache="response",result="hit"\} (\d+)/m.exec(text)?.[1] ?? 0);
  };
  const ownerReadsFromCache = async (id: string) => {
    const hits = await responseHits();
    for (const { query } of READS)
      expect((await stack.ok<{ fineTuneJob: { status: string } }>(query, { id }, owner)).fineTuneJob.status).toBe('SUCCEEDED');
    // `logs` is never cached: the executed shape reads it (1 call); the job itself comes from the caches.
    expect(stack.upstreamCalls('get')).toBe(0);
    // And the kept answers (with and without the header) are still kept.
    expect(await responseHits()).toBe(hits + 2);
  };

  it('a delete DashScope refuses (a made-up key) leaves them', async () => {
    const id = await cachedJob();
    const refused = await stack.gql(DELETE, { id }, { authorization: 'Bearer sk-made-up-vandal-0001' });
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    stack.emulator.resetStats();
    await ownerReadsFromCache(id);
  });

  it('a delete whose caller leaves before DashScope refuses it leaves them too', async () => {
    const id = await cachedJob();
    // DashScope takes a while to refuse a key it does not know; the caller does not wait for it.
    stack.emulator.injectFault({ match: { unknownKey: true }, fault: { kind: 'delay', ms: 500 } });
    try {
      const leaving = new AbortController();
      const sent = fetch(`${stack.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer sk-made-up-vandal-0002' },
        body: JSON.stringify({ query: DELETE, variables: { id } }),
        signal: leaving.signal,
      }).catch(() => undefined);
      await vi.waitFor(() => expect(stack.upstreamCalls('delete')).toBe(1), { interval: 10 });
      leaving.abort();
      await sent;
      // DashScope's refusal arrives after the caller left.
      await vi.waitFor(() => expect(stack.emulator.stats().inFlight).toBe(0), { interval: 10 });
    } finally {
      stack.emulator.clearFaults();
    }
    stack.emulator.resetStats();
    await ownerReadsFromCache(id);
  });
});
