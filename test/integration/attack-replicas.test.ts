import { setTimeout as pause } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { SEED_JOB_IDS } from '../../src/emulator/index.js';
import { SharedIdempotencyStore } from '../../src/modules/fine-tune-job/idempotency.js';
import { SharedRedis } from '../../src/shared-state/redis.js';
import { credentialScope } from '../../src/upstream/credential-scope.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEYED_CREATE, TEXT_JOB_INPUT } from '../support/creates.js';
import { redisAvailable, startRedis, startReplicas, type GraphQLBody, type RedisServer, type Replicas } from '../support/redis.js';

/*
 * Attacks on the state replicas share through Redis, with real processes: a redis-server, one emulator with two
 * accounts (two tenants in forward mode) and two gateways. Each test names the rule it holds.
 */

const CREATE = KEYED_CREATE;
const PAGE = `query($size: Int!) { fineTuneJobs(page: 1, pageSize: $size) { total } }`;
const input = TEXT_JOB_INPUT;
/** The same input for every tenant: an OSS-mounted dataset needs no file in the account. */
const shared = { ...input, trainingDatasets: [{ ossMount: { region: 'cn-beijing', bucket: 'my-datasets', filePath: 'sft/train.jsonl' } }] };
const newKey = () => `attack-${Math.random().toString(36).slice(2)}`;
const TENANT_B = 'sk-attack-tenant-b';
/** Only the rate-limit test uses it: its bucket is drained on purpose. */
const TENANT_C = 'sk-attack-tenant-c';
const RATE = { perSecond: 5, burst: 5, maxWaitMs: 1_000 };

interface CreatedData {
  createFineTuneJob: { id: string; name: string };
}
type Created = GraphQLBody<CreatedData>;

describe.skipIf(!redisAvailable('attack on replicas'))('attacks on two replicas sharing one Redis', () => {
  let redis: RedisServer;
  let stack: Replicas;
  beforeAll(async () => {
    redis = await startRedis();
    stack = await startReplicas({
      count: 2,
      emulatorArgs: ['--account', TENANT_B, '--account', TENANT_C],
      env: {
        REDIS_URL: redis.url,
        REDIS_COMMAND_TIMEOUT_MS: '2000',
        UPSTREAM_RATE_PER_SECOND: String(RATE.perSecond),
        UPSTREAM_BURST: String(RATE.burst),
        UPSTREAM_RATE_MAX_WAIT_MS: String(RATE.maxWaitMs),
      },
    });
    // A replica answers before its Redis connection is up; a keyed create is refused (retryable) until then.
    for (const replica of stack.replicas) await replica.child.logged(/Redis at .* ready/);
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    await redis?.stop();
  });

  const as = (apiKey: string) => ({ authorization: `Bearer ${apiKey}` });
  const jobsOf = async (apiKey: string) => {
    const answer = await stack.replicas[0]!.gql<{ fineTuneJobs: { items: Array<{ id: string }> } }>(
      `{ fineTuneJobs(page: 1, pageSize: 100) { items { id } } }`,
      {},
      as(apiKey),
    );
    return new Set(answer.data!.fineTuneJobs.items.map((job) => job.id));
  };

  it('creates one job per tenant when two tenants send the same idempotencyKey at once to two replicas', async () => {
    const key = newKey();
    await stack.resetUpstreamCalls();
    const [a, b] = await Promise.all([
      stack.replicas[0]!.gql<CreatedData>(CREATE, { input: shared, key }),
      stack.replicas[1]!.gql<CreatedData>(CREATE, { input: shared, key }, as(TENANT_B)),
    ]);
    expect(a.errors).toBeUndefined();
    expect(b.errors).toBeUndefined();
    const idA = a.data!.createFineTuneJob.id;
    const idB = b.data!.createFineTuneJob.id;
    expect(await stack.upstreamCalls('create')).toBe(2);
    // Each tenant's job is in its own account, never the other's answer.
    expect((await jobsOf(stack.apiKey)).has(idA)).toBe(true);
    expect((await jobsOf(TENANT_B)).has(idB)).toBe(true);
    expect((await jobsOf(TENANT_B)).has(idA)).toBe(false);
    // A retry of each, on the other replica, answers its own job with no create.
    const [ra, rb] = await Promise.all([
      stack.replicas[1]!.gql<CreatedData>(CREATE, { input: shared, key }),
      stack.replicas[0]!.gql<CreatedData>(CREATE, { input: shared, key }, as(TENANT_B)),
    ]);
    expect(ra.data?.createFineTuneJob.id).toBe(idA);
    expect(rb.data?.createFineTuneJob.id).toBe(idB);
    expect(await stack.upstreamCalls('create')).toBe(2);
  });

  it('answers CONFLICT without a create when the other replica gets the same key with a different input', async () => {
    const key = newKey();
    const first = await stack.replicas[0]!.gql<CreatedData>(CREATE, { input, key });
    expect(first.errors).toBeUndefined();
    await stack.resetUpstreamCalls();
    const other = await stack.replicas[1]!.gql<CreatedData>(CREATE, {
      input: { ...input, hyperParameters: { ...input.hyperParameters, nEpochs: 2 } },
      key,
    });
    expect(other.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', retryable: false });
    expect(await stack.upstreamCalls()).toBe(0);
  });

  it('answers a retry on B with the job A is still creating (slow upstream), one create in all', async () => {
    const key = newKey();
    await stack.injectFault({ match: { route: 'create' }, times: 1, fault: { kind: 'delay', ms: 1_500 } });
    await stack.resetUpstreamCalls();
    const first = stack.replicas[0]!.gql<CreatedData>(CREATE, { input, key });
    // B asks while A's create is held by the emulator.
    await expect.poll(() => stack.upstreamCalls('create'), { timeout: 5_000, interval: 20 }).toBe(1);
    const retry = await stack.replicas[1]!.gql<CreatedData>(CREATE, { input, key });
    const made = await first;
    expect(made.errors).toBeUndefined();
    expect(retry.data?.createFineTuneJob.id).toBe(made.data!.createFineTuneJob.id);
    expect(await stack.upstreamCalls('create')).toBe(1);
  });

  it('never creates twice when Redis is frozen (SIGSTOP) mid-create and a retry lands on B, then thawed', async () => {
    const key = newKey();
    await stack.injectFault({ match: { route: 'create' }, times: 1, fault: { kind: 'delay', ms: 1_000 } });
    await stack.resetUpstreamCalls();
    const first = stack.replicas[0]!.gql<CreatedData>(CREATE, { input, key });
    await expect.poll(() => stack.upstreamCalls('create'), { timeout: 5_000, interval: 20 }).toBe(1);
    redis.freeze();
    let during: Created;
    try {
      during = await stack.replicas[1]!.gql<CreatedData>(CREATE, { input, key });
    } finally {
      redis.thaw();
    }
    // Refused, never created: Redis could not say whether A holds the key.
    expect(during.errors?.[0]?.extensions?.code).toBe('IDEMPOTENCY_UNAVAILABLE');
    const made = await first;
    expect(made.errors).toBeUndefined();
    // After the thaw, a retry on either replica answers A's job.
    await expect
      .poll(async () => (await stack.replicas[1]!.gql<CreatedData>(CREATE, { input, key })).data?.createFineTuneJob.id, {
        timeout: 10_000,
        interval: 200,
      })
      .toBe(made.data!.createFineTuneJob.id);
    expect(await stack.upstreamCalls('create')).toBe(1);
  }, 30_000);

  it('does not let one API key multiply its upstream rate bucket with made-up workspaces', async () => {
    await stack.resetUpstreamCalls();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        stack.replicas[i % 2]!.gql(PAGE, { size: 1 }, { ...as(TENANT_C), 'x-dashscope-workspace': `llm-made-up-${i}` }),
      ),
    );
    const refused = answers.filter((answer) => answer.errors?.[0]?.extensions?.code === 'RATE_LIMITED');
    // One bucket for the key: the burst and about a second of refill, never twenty.
    expect(refused.length).toBeGreaterThanOrEqual(5);
    expect(await stack.upstreamCalls()).toBeLessThanOrEqual(RATE.burst + RATE.perSecond * 2);
  });
  it('does not let a bucket written into Redis by someone else refuse a key for ever', async () => {
    // What Redis holds is untrusted: a debt no request could have run up, and no expiry.
    const direct = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      await direct.hset(`ftgw:ratelimit:${credentialScope({ apiKey: TENANT_B })}`, 'tokens', '-1e12', 'at', String(Date.now()));
    } finally {
      direct.disconnect();
    }
    const answer = await stack.replicas[0]!.gql(PAGE, { size: 1 }, as(TENANT_B));
    expect(answer.errors).toBeUndefined();
  });

  it('never answers a key made under one workspace to the same API key under another workspace', async () => {
    const key = newKey();
    const made = await stack.replicas[0]!.gql<CreatedData>(CREATE, { input, key });
    expect(made.errors).toBeUndefined();
    const other = await stack.replicas[1]!.gql<CreatedData>(CREATE, { input, key }, { 'x-dashscope-workspace': 'llm-someone-else' });
    // The made-up workspace is DashScope's to refuse: never the job of the key's default workspace.
    expect(other.data?.createFineTuneJob).toBeFalsy();
    expect(other.errors?.[0]?.extensions?.code).toBeTruthy();
    expect(JSON.stringify(other)).not.toContain(made.data!.createFineTuneJob.id);
  });

  it("answers _entities and fineTuneJob for another tenant's cached job id with NOT_FOUND, never its data", async () => {
    const id = SEED_JOB_IDS.canceled;
    const ENTITY = `query($r: [_Any!]!) { _entities(representations: $r) { ... on FineTuneJob { id status name } } }`;
    const JOB = `query($id: ID!) { fineTuneJob(id: $id) { id status name } }`;
    // Tenant A reads it on both replicas: it is now in the shared job cache and the response cache.
    for (const replica of stack.replicas) {
      expect((await replica.gql(JOB, { id })).data).toMatchObject({ fineTuneJob: { id } });
      expect((await replica.gql(ENTITY, { r: [{ __typename: 'FineTuneJob', id }] })).data).toMatchObject({ _entities: [{ id }] });
    }
    for (const replica of stack.replicas) {
      const entity = await replica.gql(ENTITY, { r: [{ __typename: 'FineTuneJob', id }] }, as(TENANT_B));
      expect(entity.data).toEqual({ _entities: [null] });
      expect(entity.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
      const job = await replica.gql(JOB, { id }, as(TENANT_B));
      expect(job.data?.fineTuneJob ?? null).toBeNull();
      expect(job.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    }
  });
});

describe.skipIf(!redisAvailable('idempotency claim'))('an idempotency claim in Redis while its attempt is slow', () => {
  let server: RedisServer;
  let replicas: SharedRedis[];
  beforeAll(async () => {
    server = await startRedis();
    const config = { url: server.url, keyPrefix: 'ftgw:', commandTimeoutMs: 1_000, connectTimeoutMs: 1_000 };
    replicas = [new SharedRedis(config), new SharedRedis(config)];
    await Promise.all(
      replicas.map(
        (redis) =>
          new Promise<void>((resolve) => {
            if (redis.state === 'ready') resolve();
            redis.onStateChange((state) => state === 'ready' && resolve());
          }),
      ),
    );
  });
  afterAll(async () => {
    await Promise.all((replicas ?? []).map((redis) => redis.close()));
    await server?.stop();
  });

  it('is kept while its attempt runs longer than the claim lifetime: another replica never creates a second job', async () => {
    const pendingTtlMs = 300;
    const [a, b] = replicas.map(
      (redis) => new SharedIdempotencyStore({ redis, kind: 'job', model: z.strictObject({ id: z.string() }), pendingTtlMs, waitMs: 5_000 }),
    );
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    // A's attempt outlives its claim's lifetime (a slow search, rate-limit waits, a slow create): still alive.
    const first = a!.run('tenant', 'key-1', { n: 1 }, async () => {
      await gate;
      return { id: 'ft-a' };
    });
    // Time is what is under test: the claim would have expired three times over.
    await pause(pendingTtlMs * 3);
    let createdOnB = 0;
    const retry = b!.run('tenant', 'key-1', { n: 1 }, () => {
      createdOnB++;
      return Promise.resolve({ id: 'ft-b' });
    });
    await pause(pendingTtlMs);
    open();
    expect(await first).toEqual({ id: 'ft-a' });
    expect(await retry).toEqual({ id: 'ft-a' });
    expect(createdOnB).toBe(0);
  });
});
