import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisAvailable, startRedis, startReplicas, type RedisServer, type Replicas } from '../support/redis.js';

/*
 * Several replicas behind one load balancer share state through Redis (REDIS_URL). Real processes only: a
 * redis-server, one standalone emulator, and two gateways (src/main.ts, forward mode) calling it.
 */

const JOB = `query($id: ID!) { fineTuneJob(id: $id) { id status } }`;
const FINISHED_JOB = 'ft-202410291653-1c7f';

describe.skipIf(!redisAvailable('multi-replica'))('two replicas sharing one Redis', () => {
  let redis: RedisServer;
  let stack: Replicas;
  beforeAll(async () => {
    redis = await startRedis();
    stack = await startReplicas({ count: 2, env: { REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: '300' } });
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    await redis?.stop();
  });

  it('connect to Redis, keep answering while it is down (one warning each), and reconnect when it returns', async () => {
    for (const replica of stack.replicas) await replica.child.logged(/Redis at redis:\/\/127\.0\.0\.1:\d+ ready/);

    await redis.kill();
    for (const replica of stack.replicas) {
      await replica.child.logged(/WARN Redis at .* unavailable/);
      const answer = await replica.gql(JOB, { id: FINISHED_JOB });
      expect(answer).toEqual({ data: { fineTuneJob: { id: FINISHED_JOB, status: 'SUCCEEDED' } } });
    }

    await redis.restart();
    for (const replica of stack.replicas) {
      await replica.child.logged(/INFO Redis at .* ready/);
      // One warning for the whole outage, however many reconnection attempts failed.
      expect(replica.child.output().match(/WARN Redis at .* unavailable/g)).toHaveLength(1);
    }
  });
});
