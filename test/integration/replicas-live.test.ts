import { createClient } from 'graphql-ws';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialScope } from '../../src/upstream/credential-scope.js';
import { redisAvailable, startRedis, startReplicas, type RedisServer, type Replica, type Replicas } from '../support/redis.js';
import { openSse } from '../support/sse.js';
import { APOLLO_MULTIPART_ACCEPT } from '../support/transports.js';

/*
 * Subscriptions across replicas (REDIS_URL): one poller per job and credential for all of them (a lease in Redis),
 * its updates fanned out through Redis pub/sub. Real processes: a redis-server, a standalone emulator and two gateways.
 * Jobs are raw emulator jobs whose status the test sets (POST /__emulator/jobs again), so every change is awaited.
 */

const WATCH = `subscription($id: ID!) { fineTuneJobUpdated(id: $id) { id status } }`;
const INTERVAL_MS = 100;
const LEASE_MS = 600;
const ENV = { POLL_INTERVAL_MS: String(INTERVAL_MS), POLLER_LEASE_MS: String(LEASE_MS), REDIS_COMMAND_TIMEOUT_MS: '300' };
const TENANT_B = 'sk-replicas-tenant-b';

/** A subscriber's statuses as they arrive, and a way to await one (or the completion). */
interface Follower {
  statuses: string[];
  errors: unknown[];
  completed: Promise<void>;
  saw(status: string): Promise<void>;
  close(): void;
}

async function follow(replica: Replica, id: string, apiKey: string): Promise<Follower> {
  const stream = await openSse(replica.url, WATCH, { id }, { headers: { authorization: `Bearer ${apiKey}` } });
  expect(stream.status).toBe(200);
  const statuses: string[] = [];
  const errors: unknown[] = [];
  const waiters: Array<{ status: string; resolve: () => void }> = [];
  const completed = (async () => {
    for (let payload = await stream.next(); payload; payload = await stream.next()) {
      if (payload.errors) errors.push(...payload.errors);
      const status = payload.data?.fineTuneJobUpdated?.status as string | undefined;
      if (!status) continue;
      statuses.push(status);
      for (const waiter of waiters.filter((w) => w.status === status)) waiter.resolve();
    }
  })();
  return {
    statuses,
    errors,
    completed,
    saw: (status) =>
      statuses.includes(status)
        ? Promise.resolve()
        : Promise.race([
            new Promise<void>((resolve) => waiters.push({ status, resolve })),
            completed.then(() => {
              throw new Error(`the stream completed without ${status}: ${statuses.join(', ')}`);
            }),
            // Fails with what the stream and its replica said, rather than as a bare test timeout.
            new Promise<never>((_resolve, reject) =>
              setTimeout(
                () => reject(new Error(`no ${status} in 10 s (got ${statuses.join(', ')}); the replica said:\n${replica.child.output()}`)),
                10_000,
              ).unref(),
            ),
          ]),
    close: () => stream.close(),
  };
}

/** What the tests need of the stack: set a raw job's status, count GETs of one job. */
function controls(stack: Replicas) {
  return {
    put: async (id: string, status: string, apiKey = stack.apiKey) => {
      const response = await fetch(`${stack.emulatorUrl}/__emulator/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ apiKey, job: { job_id: id, status, model: 'qwen3-8b' } }),
      });
      expect(response.status).toBe(200);
      await response.body?.cancel();
    },
    getsOf: async (id: string) => {
      const stats = (await (await fetch(`${stack.emulatorUrl}/__emulator/stats`)).json()) as {
        requests: Array<{ route: string; jobId?: string }>;
      };
      return stats.requests.filter((r) => r.route === 'get' && r.jobId === id).length;
    },
  };
}

/** Resolves once `condition` holds (checked every 50 ms, for at most 10 s): for state only Redis can be asked about. */
async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  for (const deadline = Date.now() + 10_000; !(await condition());) {
    if (Date.now() > deadline) throw new Error('the condition did not hold within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A metric without labels from a replica's /metrics (0 when absent). */
async function metric(replica: Replica, name: string): Promise<number> {
  const text = await (await fetch(`${replica.url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
}

const everyone = (followers: Follower[], status: string) => Promise.all(followers.map((f) => f.saw(status)));

describe.skipIf(!redisAvailable('multi-replica subscription'))('subscriptions across two replicas sharing one Redis', () => {
  let redis: RedisServer;
  let stack: Replicas;
  let raw: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    stack = await startReplicas({ env: { ...ENV, REDIS_URL: redis.url }, emulatorArgs: ['--account', TENANT_B] });
    for (const replica of stack.replicas) await replica.child.logged(/Redis at .* ready/);
    raw = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    raw.on('error', () => undefined);
  }, 60_000);
  afterAll(async () => {
    raw?.disconnect();
    await stack?.close();
    await redis?.stop();
  });

  it('serves 10 subscribers split across both replicas with one poller: every change and the completion reach all', async () => {
    const { put, getsOf } = controls(stack);
    const id = 'ft-202611271000-a001';
    await put(id, 'PENDING');
    const followers = await Promise.all(Array.from({ length: 10 }, (_, index) => follow(stack.replicas[index % 2]!, id, stack.apiKey)));
    await everyone(followers, 'PENDING');

    const before = await getsOf(id);
    const started = Date.now();
    await put(id, 'QUEUING');
    await everyone(followers, 'QUEUING');
    await put(id, 'RUNNING');
    await everyone(followers, 'RUNNING');
    // A window of polls with nothing to await: the upstream reads in it show how many pollers there are.
    await new Promise((resolve) => setTimeout(resolve, 10 * INTERVAL_MS));
    await put(id, 'SUCCEEDED');
    await Promise.all(followers.map((f) => f.completed));
    const gets = (await getsOf(id)) - before;
    const onePoller = (Date.now() - started) / INTERVAL_MS;

    for (const follower of followers) {
      expect(follower.errors).toEqual([]);
      expect(follower.statuses).toEqual(['PENDING', 'QUEUING', 'RUNNING', 'SUCCEEDED']);
    }
    // One poller reads once per interval (a single process's figure); one per replica would read twice as often.
    expect(gets).toBeGreaterThan(onePoller / 3);
    expect(gets).toBeLessThanOrEqual(onePoller * 1.25 + 2);
  });

  it('ends graphql-ws and multipart subscriptions on the replica that did not poll, at the terminal state', async () => {
    const { put } = controls(stack);
    const id = 'ft-202611271000-f007';
    await put(id, 'RUNNING');
    const [holder, other] = stack.replicas as [Replica, Replica];
    const sse = await follow(holder, id, stack.apiKey);
    await sse.saw('RUNNING');

    const ws = createClient({
      url: `${other.url.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${stack.apiKey}` },
      retryAttempts: 0,
    });
    const events = ws.iterate<{ fineTuneJobUpdated: { status: string } }>({ query: WATCH, variables: { id } });
    const wsStatuses = [(await events.next()).value?.data?.fineTuneJobUpdated.status];

    const multipart = await fetch(`${other.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: APOLLO_MULTIPART_ACCEPT, authorization: `Bearer ${stack.apiKey}` },
      body: JSON.stringify({ query: WATCH, variables: { id } }),
    });
    expect(multipart.headers.get('content-type')).toMatch(/^multipart\/mixed/);
    const reader = multipart.body!.getReader();
    let body = '';
    while (!body.includes('RUNNING')) body += new TextDecoder().decode((await reader.read()).value);

    await put(id, 'SUCCEEDED');
    for await (const event of events) wsStatuses.push(event.data?.fineTuneJobUpdated.status);
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) body += new TextDecoder().decode(chunk.value);
    await sse.completed;
    await ws.dispose();

    expect(sse.statuses).toEqual(['RUNNING', 'SUCCEEDED']);
    expect(wsStatuses).toEqual(['RUNNING', 'SUCCEEDED']);
    // Apollo's multipart protocol: one part per event, then the closing boundary.
    expect([...body.matchAll(/"status":"(\w+)"/g)].map((m) => m[1])).toEqual(['RUNNING', 'SUCCEEDED']);
    expect(body.trimEnd()).toMatch(/--graphql--$/);
  });

  it('keeps tenants apart: each sees only its own job, though both have the same id', async () => {
    const { put } = controls(stack);
    const id = 'ft-202611271000-b002';
    await put(id, 'RUNNING');
    await put(id, 'PENDING', TENANT_B);
    const [a0, a1, b0, b1] = await Promise.all([
      follow(stack.replicas[0]!, id, stack.apiKey),
      follow(stack.replicas[1]!, id, stack.apiKey),
      follow(stack.replicas[0]!, id, TENANT_B),
      follow(stack.replicas[1]!, id, TENANT_B),
    ]);
    await everyone([a0, a1], 'RUNNING');
    await everyone([b0, b1], 'PENDING');

    await put(id, 'SUCCEEDED');
    await Promise.all([a0.completed, a1.completed]);
    await put(id, 'FAILED', TENANT_B);
    await Promise.all([b0.completed, b1.completed]);
    for (const a of [a0, a1]) expect(a.statuses).toEqual(['RUNNING', 'SUCCEEDED']);
    for (const b of [b0, b1]) expect(b.statuses).toEqual(['PENDING', 'FAILED']);
  });

  it('drops forged messages on a job channel (garbage, another job’s record), logging them, and delivers none', async () => {
    const { put } = controls(stack);
    const id = 'ft-202611271000-c003';
    const other = 'ft-202611271000-c004';
    await put(id, 'RUNNING');
    await put(other, 'SUCCEEDED');
    const followers = await Promise.all(stack.replicas.map((replica) => follow(replica, id, stack.apiKey)));
    await everyone(followers, 'RUNNING');
    // A genuine record of another job, as a replica stored it: right shape, wrong id.
    const otherFollower = await follow(stack.replicas[0]!, other, stack.apiKey);
    await otherFollower.completed;
    const scope = credentialScope({ apiKey: stack.apiKey });
    const otherRecord = await raw.get(`ftgw:live:job:${scope}:${other}:last`);
    expect(otherRecord).not.toBeNull();
    const channel = `ftgw:live:job:${scope}:${id}`;
    const forged = JSON.stringify({ ...JSON.parse(otherRecord!), origin: 'forger', at: Date.now() + 60_000 });
    expect(await raw.publish(channel, forged)).toBe(2);
    expect(await raw.publish(channel, 'not json at all')).toBe(2);
    const failed = { ...JSON.parse(otherRecord!).value, id, status: 'FAILED', extra: 'field' };
    expect(await raw.publish(channel, JSON.stringify({ origin: 'forger', at: Date.now(), value: failed }))).toBe(2);
    for (const replica of stack.replicas) {
      await replica.child.logged(new RegExp(`Live job ${id}: dropped a malformed update from Redis pub/sub \\(value\\.id:`));
      await replica.child.logged(new RegExp(`Live job ${id}: dropped a malformed update from Redis pub/sub \\(not JSON\\)`));
      await replica.child.logged(new RegExp(`Live job ${id}: dropped a malformed update from Redis pub/sub .*extra`));
    }

    // The stored last value is read by the replica that does not poll, at each of its polls: checked the same way.
    await raw.set(`${channel}:last`, JSON.stringify({ origin: 'forger', at: Date.now(), value: failed }), 'PX', 60_000);
    await Promise.any(
      stack.replicas.map((r) => r.child.logged(new RegExp(`Live job ${id}: dropped a malformed update from Redis snapshot .*extra`))),
    );

    await put(id, 'SUCCEEDED');
    await Promise.all(followers.map((f) => f.completed));
    for (const follower of followers) expect(follower.statuses).toEqual(['RUNNING', 'SUCCEEDED']);
  });

  it('keeps subscribers updated while Redis is down (each replica polls), and shares again once it returns', async () => {
    const { put } = controls(stack);
    const id = 'ft-202611271000-d005';
    // Watched on replica 0 only until Redis is back: who joins it then on replica 1 needs what replica 0 shares.
    const late = 'ft-202611271000-d006';
    await put(id, 'RUNNING');
    await put(late, 'RUNNING');
    const followers = await Promise.all(Array.from({ length: 4 }, (_, index) => follow(stack.replicas[index % 2]!, id, stack.apiKey)));
    const early = await follow(stack.replicas[0]!, late, stack.apiKey);
    await everyone([...followers, early], 'RUNNING');

    // Lines logged from here on (another test may have made Redis slow before).
    const marks = stack.replicas.map((replica) => replica.child.output().length);
    const since = (index: number) => stack.replicas[index]!.child.output().slice(marks[index]);
    const fallbacks = await Promise.all(stack.replicas.map((replica) => metric(replica, 'gateway_live_polling_fallbacks_total')));
    for (const replica of stack.replicas) expect(await metric(replica, 'gateway_live_polling_fallback')).toBe(0);
    await redis.kill();
    for (const [index] of stack.replicas.entries())
      await until(() => /"level":"warn".*Live subscriptions: Redis unavailable/.test(since(index)));
    // Operators see the fallback (every replica polling for its own subscribers) in /metrics, not only in the log.
    for (const [index, replica] of stack.replicas.entries()) {
      expect(await metric(replica, 'gateway_live_polling_fallback')).toBe(1);
      expect(await metric(replica, 'gateway_live_polling_fallbacks_total')).toBe(fallbacks[index]! + 1);
    }
    await put(id, 'CANCELING');
    await everyone(followers, 'CANCELING');

    await redis.restart();
    for (const [index] of stack.replicas.entries())
      await until(() => /"level":"info".*Live subscriptions: Redis available again/.test(since(index)));
    for (const replica of stack.replicas) expect(await metric(replica, 'gateway_live_polling_fallback')).toBe(0);
    // Replica 0 takes the lease again with nothing new to read: it must still share what it holds.
    await until(async () => (await raw.exists(`ftgw:live:job:${credentialScope({ apiKey: stack.apiKey })}:${late}:lease`)) === 1);
    const joined = await follow(stack.replicas[1]!, late, stack.apiKey);
    await joined.saw('RUNNING');

    await put(id, 'CANCELED');
    await put(late, 'SUCCEEDED');
    await Promise.all([...followers, early, joined].map((f) => f.completed));
    for (const follower of followers) expect(follower.statuses).toEqual(['RUNNING', 'CANCELING', 'CANCELED']);
    for (const follower of [early, joined]) expect(follower.statuses).toEqual(['RUNNING', 'SUCCEEDED']);
    // One warning and one recovery line per replica for the whole outage, however many polls failed over.
    for (const [index] of stack.replicas.entries()) {
      expect(since(index).match(/Live subscriptions: Redis unavailable/g)).toHaveLength(1);
      expect(since(index).match(/Live subscriptions: Redis available again/g)).toHaveLength(1);
    }
  }, 30_000);

  it('keeps subscribers updated while Redis is too slow to answer (each replica polls), and shares again after', async () => {
    const { put } = controls(stack);
    const id = 'ft-202611271000-g008';
    await put(id, 'RUNNING');
    const followers = await Promise.all(Array.from({ length: 4 }, (_, index) => follow(stack.replicas[index % 2]!, id, stack.apiKey)));
    await everyone(followers, 'RUNNING');
    const marks = stack.replicas.map((replica) => replica.child.output().length);
    const since = (index: number) => stack.replicas[index]!.child.output().slice(marks[index]);

    // Redis holds every command for 3 s: past REDIS_COMMAND_TIMEOUT_MS (300 ms), as an overloaded Redis would.
    const paused = Date.now();
    await raw.call('CLIENT', 'PAUSE', '3000', 'ALL');
    await put(id, 'CANCELING');
    await everyone(followers, 'CANCELING');
    expect(Date.now() - paused).toBeLessThan(3_000);
    for (const [index] of stack.replicas.entries())
      expect(since(index)).toMatch(/"level":"warn".*Live subscriptions: Redis unavailable \(.*timed out/i);

    for (const [index] of stack.replicas.entries())
      await until(() => /"level":"info".*Live subscriptions: Redis available again/.test(since(index)));
    await put(id, 'CANCELED');
    await Promise.all(followers.map((f) => f.completed));
    for (const follower of followers) expect(follower.statuses).toEqual(['RUNNING', 'CANCELING', 'CANCELED']);
  }, 30_000);
});

describe.skipIf(!redisAvailable('multi-replica subscription'))('the replica holding a lease dies', () => {
  let redis: RedisServer;
  let stack: Replicas;
  let raw: Redis;
  // Longer than elsewhere, so that a takeover (after the lease expired) is told from a replica polling by itself.
  const LEASE = 1_500;
  beforeAll(async () => {
    redis = await startRedis();
    stack = await startReplicas({ env: { ...ENV, POLLER_LEASE_MS: String(LEASE), REDIS_URL: redis.url } });
    for (const replica of stack.replicas) await replica.child.logged(/Live subscriptions shared through Redis as poller/);
    raw = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    raw.on('error', () => undefined);
  }, 60_000);
  afterAll(async () => {
    raw?.disconnect();
    await stack?.close();
    await redis?.stop();
  });

  it('lets the other replica poll for its subscribers after about one lease period', async () => {
    const { put } = controls(stack);
    const id = 'ft-202611271000-e006';
    await put(id, 'RUNNING');
    const first = await follow(stack.replicas[0]!, id, stack.apiKey);
    await first.saw('RUNNING');
    const second = await follow(stack.replicas[1]!, id, stack.apiKey);
    await second.saw('RUNNING');
    // The lease names its holder as the poller id the replica logged at start.
    const poller = await raw.get(`ftgw:live:job:${credentialScope({ apiKey: stack.apiKey })}:${id}:lease`);
    expect(poller).toMatch(/^[0-9a-f-]{36}$/);
    const holder = stack.replicas.find((r) => r.child.output().includes(`as poller ${poller}`))!;
    const survivor = stack.replicas.find((r) => r !== holder)!;
    const watching = holder === stack.replicas[0] ? second : first;

    await holder.child.kill();
    const killed = Date.now();
    await put(id, 'CANCELING');
    await watching.saw('CANCELING');
    const tookOver = Date.now() - killed;
    await put(id, 'CANCELED');
    await watching.completed;
    expect(watching.statuses).toEqual(['RUNNING', 'CANCELING', 'CANCELED']);
    // The lease expires unrenewed (its last renewal was at most a poll or two before the kill), the survivor takes it
    // at its next poll; a replica polling by itself would have seen the change within about one interval.
    expect(tookOver).toBeGreaterThanOrEqual(LEASE / 2);
    expect(tookOver).toBeLessThan(LEASE + 10 * INTERVAL_MS);
    expect(survivor.child.output()).not.toMatch(/Live subscriptions: Redis unavailable/);
  });
});
