import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { SEED_JOB_IDS } from '../../src/emulator/index.js';
import { credentialScope } from '../../src/upstream/credential-scope.js';
import { KEYED_CREATE, TEXT_JOB_INPUT } from '../support/creates.js';
import {
  redisAvailable,
  startRedis,
  startReplicas,
  type GraphQLBody,
  type RedisServer,
  type Replica,
  type Replicas,
} from '../support/redis.js';

/*
 * Several replicas behind one load balancer share state through Redis (REDIS_URL). Real processes only: a
 * redis-server, one standalone emulator, and two gateways (src/main.ts, forward mode) calling it. Each assertion is
 * one that per-process state fails: two replicas without Redis create twice, read twice and let twice the rate through.
 */

const JOB = `query($id: ID!) { fineTuneJob(id: $id) { id status } }`;
/** A shape the response cache does not keep (`logs` can change): every read executes, through the shared job cache. */
const EXECUTED_JOB = `query($id: ID!) { fineTuneJob(id: $id) { id status logs(limit: 1) { total } } }`;
const CREATE = KEYED_CREATE;
const PAGE = `query($size: Int!) { fineTuneJobs(page: 1, pageSize: $size) { total } }`;
const input = TEXT_JOB_INPUT;
const newKey = () => `replicas-${Math.random().toString(36).slice(2)}`;
/** The emulator's account's workspace: a second credential (same key, named workspace); the rate bucket is the key's. */
const WORKSPACE_HEADER = 'x-dashscope-workspace';

/** The settling window after a create that got no answer, short so the test can wait it out. */
const SETTLE_MS = 1_000;
/** Up to the upstream rate limit in the stack below: 5 a second, 5 saved up, 2 s of waiting at most. */
const RATE = { perSecond: 5, burst: 5, maxWaitMs: 2_000 };

describe.skipIf(!redisAvailable('multi-replica'))('two replicas sharing one Redis', () => {
  let redis: RedisServer;
  let stack: Replicas;
  /** A direct connection to the same Redis, as an operator (or an attacker) with access to it. */
  let direct: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    stack = await startReplicas({
      count: 2,
      env: {
        REDIS_URL: redis.url,
        // Generous: a command timing out on a busy test machine would fall back to per-process state.
        REDIS_COMMAND_TIMEOUT_MS: '2000',
        CREATE_SETTLE_MS: String(SETTLE_MS),
        UPSTREAM_RATE_PER_SECOND: String(RATE.perSecond),
        UPSTREAM_BURST: String(RATE.burst),
        UPSTREAM_RATE_MAX_WAIT_MS: String(RATE.maxWaitMs),
      },
    });
    direct = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    // It loses its connection when the test kills Redis, and reconnects by itself.
    direct.on('error', () => {});
    for (const replica of stack.replicas) await replica.child.logged(/Redis at redis:\/\/127\.0\.0\.1:\d+ ready/);
  }, 60_000);
  afterAll(async () => {
    direct?.disconnect();
    await stack?.close();
    await redis?.stop();
  });
  beforeEach(async () => {
    await stack.resetUpstreamCalls();
  });

  const a = () => stack.replicas[0]!;
  const b = () => stack.replicas[1]!;

  it('a double create with one idempotency key, split across both replicas at once, makes one upstream job', async () => {
    const key = newKey();
    const answers = await Promise.all([a().gql(CREATE, { input, key }), b().gql(CREATE, { input, key })]);
    const ids = answers.map((answer) => (answer.data as { createFineTuneJob: { id: string } } | null)?.createFineTuneJob.id);
    expect(answers.map((answer) => answer.errors)).toEqual([undefined, undefined]);
    expect(ids[0]).toBeDefined();
    expect(ids[1]).toBe(ids[0]);
    expect(await stack.upstreamCalls('create')).toBe(1);

    // A later retry on either replica answers the same job, and nothing is created.
    const retry = await b().gql(CREATE, { input, key });
    expect(retry.data).toMatchObject({ createFineTuneJob: { id: ids[0] } });
    expect(await stack.upstreamCalls('create')).toBe(1);
  });

  it('a create that got no answer on A settles on B too: B refuses to search early, then answers the job A made', async () => {
    const key = newKey();
    // DashScope creates the job, then the connection drops: A cannot know whether it exists.
    await stack.injectFault({ match: { route: 'create' }, times: 1, fault: { kind: 'reset', processed: true } });
    const lost = await a().gql(CREATE, { input, key });
    expect(lost.errors?.[0]?.extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', retryable: true, jobMayExist: true });
    expect(await stack.upstreamCalls('create')).toBe(1);

    // Per-process records would let B search at once (and, for a job DashScope makes late, create a second one).
    const early = await b().gql(CREATE, { input, key });
    expect(early.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', retryable: true, retryAfterSeconds: 1, jobMayExist: true });

    // After the window, the retry on B finds the job A's attempt made, and creates none.
    const found = await vi.waitFor(
      async () => {
        const retry = await b().gql(CREATE, { input, key });
        expect(retry.errors).toBeUndefined();
        return retry.data as { createFineTuneJob: { id: string; name: string } };
      },
      { timeout: 10_000, interval: 250 },
    );
    expect(found.createFineTuneJob.name).toMatch(/^gw-idem-/);
    expect(await stack.upstreamCalls('create')).toBe(1);
  });

  it('a finished job read through A is served by B from the shared job cache without an upstream call', async () => {
    const id = SEED_JOB_IDS.cosyVoice;
    const statusOf = (answer: GraphQLBody<{ fineTuneJob: { status: string } }>) => answer.data?.fineTuneJob.status;
    expect(statusOf(await a().gql(EXECUTED_JOB, { id }))).toBe('SUCCEEDED');
    expect(await stack.upstreamCalls('get')).toBe(1);
    expect(statusOf(await b().gql(EXECUTED_JOB, { id }))).toBe('SUCCEEDED');
    expect(await stack.upstreamCalls('get')).toBe(1);
  });

  it('a finished job answered through A is answered by B from the shared response cache without executing', async () => {
    const id = SEED_JOB_IDS.bigUsage;
    const query = `query SharedAnswer($id: ID!) { fineTuneJob(id: $id) { id status usageTokens } }`;
    const first = await getGql(stack.apiKey, a(), query, { id });
    expect(first.status).toBe(200);
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^W\/"/);
    expect(first.headers.get('cache-control')).toBe('private, no-cache');
    const body = await first.text();
    const calls = await stack.upstreamCalls();
    const hits = await responseCacheHits(b());

    // B: the same answer and ETag, not executed (a hit, no upstream call)...
    const second = await getGql(stack.apiKey, b(), query, { id });
    expect(second.status).toBe(200);
    expect(second.headers.get('etag')).toBe(etag);
    expect(await second.text()).toBe(body);
    // ...and a 304 to A's ETag.
    const revalidated = await getGql(stack.apiKey, b(), query, { id }, { 'if-none-match': etag! });
    expect(revalidated.status).toBe(304);
    expect(revalidated.headers.get('etag')).toBe(etag);
    expect(await responseCacheHits(b())).toBe(hits + 2);
    expect(await stack.upstreamCalls()).toBe(calls);
  });

  it('a tampered response-cache entry in Redis is a miss, never served', async () => {
    const id = SEED_JOB_IDS.wanVideo;
    const query = `query TamperedAnswer($id: ID!) { fineTuneJob(id: $id) { id status fineTunedModel } }`;
    const before = new Set(await direct.keys('ftgw:response-cache:answer:*'));
    const truth = await a().gql(query, { id });
    expect(truth.data).toMatchObject({ fineTuneJob: { id, status: 'SUCCEEDED' } });
    const stored = await vi.waitFor(async () => {
      const added = (await direct.keys('ftgw:response-cache:answer:*')).filter((key) => !before.has(key));
      expect(added).toHaveLength(1);
      return added[0]!;
    });
    const kept = JSON.parse((await direct.get(stored))!) as Record<string, unknown>;
    const forged = { fineTuneJob: { id, status: 'FAILED', fineTunedModel: 'someone-elses-model' } };
    for (const garbage of [
      'not json at all',
      JSON.stringify({ ...kept, data: forged, injected: 'a field no answer has' }),
      JSON.stringify({ data: forged, errors: [{ path: ['fineTuneJob'] }] }),
      JSON.stringify({ data: 'a string' }),
    ]) {
      await direct.set(stored, garbage, 'PX', 60_000);
      const misses = await responseCacheMisses(b());
      expect(await b().gql(query, { id })).toEqual(truth);
      // Executed (a miss), and the garbage replaced by the answer just made.
      expect(await responseCacheMisses(b())).toBe(misses + 1);
      await vi.waitFor(async () => expect(await direct.get(stored)).not.toBe(garbage));
    }
  });

  it('a delete through A invalidates the answer B keeps in the shared response cache', async () => {
    const id = `ft-202611271000-r${Math.random().toString(16).slice(2, 5)}`;
    await fetchOk(`${stack.emulatorUrl}/__emulator/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiKey: stack.apiKey, job: { job_id: id, status: 'SUCCEEDED', model: 'qwen3-8b' } }),
    });
    const query = `query Invalidated($id: ID!) { fineTuneJob(id: $id) { id status } }`;
    expect(await b().gql(query, { id })).toEqual({ data: { fineTuneJob: { id, status: 'SUCCEEDED' } } });
    const hits = await responseCacheHits(b());
    expect(await b().gql(query, { id })).toEqual({ data: { fineTuneJob: { id, status: 'SUCCEEDED' } } });
    expect(await responseCacheHits(b())).toBe(hits + 1);

    const deleted = await a().gql(`mutation($id: ID!) { deleteFineTuneJob(id: $id) { id } }`, { id });
    expect(deleted.errors).toBeUndefined();
    // Right after A's answer: B executes, and says what DashScope says now.
    const after = await b().gql(query, { id });
    expect(await responseCacheHits(b())).toBe(hits + 1);
    expect(after.data?.fineTuneJob ?? null).toBeNull();
    expect(after.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('a cached job tampered with in Redis is a miss, never served', async () => {
    const id = SEED_JOB_IDS.failed;
    const statusOf = (answer: GraphQLBody<{ fineTuneJob: { status: string } }>) => answer.data?.fineTuneJob.status;
    expect(statusOf(await a().gql(EXECUTED_JOB, { id }))).toBe('FAILED');
    const redisKey = `ftgw:job:${credentialScope({ apiKey: stack.apiKey })}:${id}`;
    expect(await direct.exists(redisKey)).toBe(1);

    const cached = JSON.parse((await direct.get(redisKey))!) as Record<string, unknown>;
    for (const garbage of [
      'not json at all',
      JSON.stringify({ ...cached, status: 'SUCCEEDED', extra: 'a field the gateway never writes' }),
      JSON.stringify({ ...cached, id: SEED_JOB_IDS.contractExample }),
      JSON.stringify({ ...cached, usageTokens: 'lots' }),
    ]) {
      await direct.set(redisKey, garbage, 'PX', 60_000);
      const before = await stack.upstreamCalls('get');
      expect(statusOf(await b().gql(EXECUTED_JOB, { id }))).toBe('FAILED');
      // Read again from DashScope, and the garbage gone (replaced by the job just read).
      expect(await stack.upstreamCalls('get')).toBe(before + 1);
      await vi.waitFor(async () => expect(await direct.get(redisKey)).not.toBe(garbage));
    }
  });

  it('holds the upstream rate limit across both replicas: the excess waits or is refused with RATE_LIMITED', async () => {
    const workspace = await workspaceOf(stack);
    const requests = 40;
    const started = Date.now();
    // Distinct page sizes: no two requests share an upstream call (single-flight) on a replica.
    const answers = await Promise.all(
      Array.from({ length: requests }, (_, i) =>
        stack.replicas[i % 2]!.gql(PAGE, { size: i + 1 }, { [WORKSPACE_HEADER]: workspace }).then(
          (answer) => answer as GraphQLBody<unknown>,
        ),
      ),
    );
    const elapsedSeconds = (Date.now() - started) / 1000;
    const refused = answers.filter((answer) => answer.errors?.[0]?.extensions?.code === 'RATE_LIMITED');
    const served = answers.filter((answer) => !answer.errors);
    expect(served.length + refused.length).toBe(requests);
    for (const answer of refused) {
      expect(answer.errors![0]!.extensions).toMatchObject({ retryable: true, limit: 'upstreamRate' });
      expect(answer.errors![0]!.extensions!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    }
    // One bucket for both: the burst, and what refills meanwhile. Two per-process buckets would let through about
    // twice that (each replica: its burst at once, and what refills in the longest wait).
    const allowance = RATE.burst + Math.ceil(RATE.perSecond * elapsedSeconds);
    expect(await stack.upstreamCalls('list')).toBe(served.length);
    expect(served.length).toBeLessThanOrEqual(allowance);
    expect(refused.length).toBeGreaterThan(0);
  });

  it('Redis killed: queries keep answering, an idempotent create refuses clearly; Redis back: both work again', async () => {
    const marks = stack.replicas.map((replica) => replica.child.output().length);
    await redis.kill();
    for (const [i, replica] of stack.replicas.entries())
      await replica.child.logged(/"level":"warn".*"msg":"Redis at [^"]* unavailable/, { from: marks[i] });

    for (const replica of stack.replicas) {
      expect(await replica.gql(JOB, { id: SEED_JOB_IDS.canceled })).toEqual({
        data: { fineTuneJob: { id: SEED_JOB_IDS.canceled, status: 'CANCELED' } },
      });
      const refused = await replica.gql(CREATE, { input, key: newKey() });
      expect(refused.data ?? null).toBeNull();
      expect(refused.errors).toHaveLength(1);
      expect(refused.errors![0]!.message).toMatch(/idempotency store \(Redis\) is unavailable.*nothing was created/);
      expect(refused.errors![0]!.extensions).toMatchObject({ code: 'IDEMPOTENCY_UNAVAILABLE', retryable: true, retryAfterSeconds: 1 });
    }
    expect(await stack.upstreamCalls('create')).toBe(0);
    // A create without a key does not depend on Redis.
    const unkeyed = await a().gql(CREATE, { input });
    expect(unkeyed.errors).toBeUndefined();
    expect(await stack.upstreamCalls('create')).toBe(1);

    await redis.restart();
    for (const [i, replica] of stack.replicas.entries()) {
      await replica.child.logged(/"level":"info".*"msg":"Redis at [^"]* ready/, { from: marks[i] });
      // One warning for the whole outage, however many commands and reconnection attempts failed meanwhile.
      const redisLines = replica.child
        .output()
        .slice(marks[i])
        .split('\n')
        .filter((line) => line.includes('"msg":"Redis at '))
        .map((line) => JSON.parse(line) as { level: string; msg: string })
        .map(({ level, msg }) => `${level} ${msg}`);
      expect(redisLines).toEqual([
        expect.stringMatching(
          /^warn Redis at redis:\/\/127\.0\.0\.1:\d+ unavailable \(.*\): reads .* creates with an idempotencyKey are refused$/,
        ),
        expect.stringMatching(/^info Redis at redis:\/\/127\.0\.0\.1:\d+ ready/),
      ]);
    }
    const key = newKey();
    const created = await b().gql(CREATE, { input, key });
    expect(created.errors).toBeUndefined();
    expect(await stack.upstreamCalls('create')).toBe(2);
    const retried = await a().gql(CREATE, { input, key });
    expect(retried.data).toEqual(created.data);
    expect(await stack.upstreamCalls('create')).toBe(2);

    // The shared cache is used again (Redis came back empty).
    const id = SEED_JOB_IDS.bigUsage;
    const before = await stack.upstreamCalls('get');
    await a().gql(JOB, { id });
    await b().gql(JOB, { id });
    expect(await stack.upstreamCalls('get')).toBe(before + 1);
  });

  it('Redis frozen (slower than its timeout): reads answer, a keyed create refuses, and its key is free once Redis answers', async () => {
    const key = newKey();
    const marks = stack.replicas.map((replica) => replica.child.output().length);
    redis.freeze();
    try {
      const [read, refused] = await Promise.all([a().gql(JOB, { id: SEED_JOB_IDS.wanVideo }), a().gql(CREATE, { input, key })]);
      expect(read).toEqual({ data: { fineTuneJob: { id: SEED_JOB_IDS.wanVideo, status: 'SUCCEEDED' } } });
      expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'IDEMPOTENCY_UNAVAILABLE', retryable: true });
      expect(await stack.upstreamCalls('create')).toBe(0);
      await a().child.logged(/"level":"warn".*"msg":"Redis at [^"]* unavailable \(.*Command timed out/, { from: marks[0] });
    } finally {
      redis.thaw();
    }
    // The next command finds Redis answering again: here a read's (nothing A did while frozen is left waiting on it).
    await a().gql(JOB, { id: SEED_JOB_IDS.wanVideo });
    // The claim the frozen Redis applied late is removed: the retry creates at once, not "in progress" for minutes.
    await a().child.logged(/"level":"info".*"msg":"Redis at [^"]* ready/, { from: marks[0] });
    const retried = await b().gql(CREATE, { input, key });
    expect(retried.errors).toBeUndefined();
    expect(await stack.upstreamCalls('create')).toBe(1);
  });
});

/** A GET of an operation (what a browser or a dashboard's poll sends), with the demo key. */
function getGql(apiKey: string, replica: Replica, query: string, variables: Record<string, unknown>, headers: Record<string, string> = {}) {
  const url = `${replica.url}/graphql?${new URLSearchParams({ query, variables: JSON.stringify(variables) })}`;
  return fetch(url, { headers: { accept: 'application/graphql-response+json', authorization: `Bearer ${apiKey}`, ...headers } });
}

/** Response cache lookups on a replica, from its /metrics. */
async function responseCacheLookups(replica: Replica, result: 'hit' | 'miss'): Promise<number> {
  const text = await (await fetch(`${replica.url}/metrics`)).text();
  const line = new RegExp(`^gateway_cache_lookups_total\\{cache="response",result="${result}"\\} (\\d+)`, 'm').exec(text);
  return Number(line?.[1] ?? 0);
}
const responseCacheHits = (replica: Replica) => responseCacheLookups(replica, 'hit');
const responseCacheMisses = (replica: Replica) => responseCacheLookups(replica, 'miss');

async function fetchOk(url: string, init: RequestInit): Promise<void> {
  const response = await fetch(url, init);
  expect(response.status).toBe(200);
  await response.body?.cancel();
}

/** The workspace of the emulator's account, as a job lists it. */
async function workspaceOf(stack: Replicas): Promise<string> {
  const answer = await stack.replicas[0]!.gql(`query($id: ID!) { fineTuneJob(id: $id) { workspaceId } }`, {
    id: SEED_JOB_IDS.contractExample,
  });
  const workspace = (answer.data as { fineTuneJob: { workspaceId: string | null } } | null)?.fineTuneJob.workspaceId;
  if (!workspace) throw new Error(`no workspace: ${JSON.stringify(answer)}`);
  return workspace;
}
