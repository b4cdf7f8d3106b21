import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SharedRedis } from '../../src/shared-state/redis.js';
import { createResponseCacheStore, type ResponseCacheStore } from '../../src/shared-state/response-cache.js';
import { redisAvailable, startRedis, type RedisServer } from '../support/redis.js';

/*
 * The response cache's Redis store (for useResponseCache's `cache` option when REDIS_URL is set), against a real
 * redis-server: what one replica stored, another reads; an entity's invalidation reaches every replica; what Redis
 * gives back is checked; Redis down costs the cache, never the request.
 */

const result = { data: { fineTuneJob: { __typename: 'FineTuneJob', id: 'ft-1', status: 'SUCCEEDED' } } };
const entities = [{ typename: 'FineTuneJob', id: 'ft-1' }];

describe.skipIf(!redisAvailable('response cache store'))('the response cache store in Redis', () => {
  let server: RedisServer;
  let replicas: SharedRedis[];
  let stores: ResponseCacheStore[];
  let direct: Redis;
  beforeAll(async () => {
    server = await startRedis();
    const config = { url: server.url, keyPrefix: 'ftgw:', commandTimeoutMs: 500, connectTimeoutMs: 1_000 };
    replicas = [new SharedRedis(config), new SharedRedis(config)];
    stores = replicas.map((redis) => createResponseCacheStore(redis, { maxBytes: 10_000 }));
    direct = new Redis(server.url, { maxRetriesPerRequest: 1 });
    direct.on('error', () => {});
    await Promise.all(replicas.map(ready));
  });
  afterAll(async () => {
    direct?.disconnect();
    await Promise.all((replicas ?? []).map((redis) => redis.close()));
    await server?.stop();
  });

  it('serves on one replica what another stored, until an entity in it is invalidated anywhere', async () => {
    await stores[0]!.set('response-1', result, entities, 60_000);
    expect(await stores[1]!.get('response-1')).toEqual(result);
    expect(await direct.pttl('ftgw:response-cache:answer:response-1')).toBeGreaterThan(50_000);
    // The entity's index of answers expires too (after the longest an answer lives): Redis does not grow for ever.
    const index = await direct.pttl('ftgw:response-cache:entity:FineTuneJob:ft-1');
    expect(index).toBeGreaterThan(50_000);
    expect(index).toBeLessThanOrEqual(10 * 60_000);

    await stores[1]!.invalidate([{ typename: 'FineTuneJob', id: 'ft-1' }]);
    expect(await stores[0]!.get('response-1')).toBeUndefined();
  });

  it('bounds what it stores: no response above its size, none for ever', async () => {
    await stores[0]!.set('response-big', { data: { blob: 'x'.repeat(20_000) } }, [], 60_000);
    expect(await direct.exists('ftgw:response-cache:answer:response-big')).toBe(0);
    await stores[0]!.set('response-forever', result, entities, Infinity);
    const ttl = await direct.pttl('ftgw:response-cache:answer:response-forever');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(10 * 60_000);
  });

  it.each([
    ['not JSON', 'garbage'],
    ['JSON that is not a response', '[1,2,3]'],
    ['a response with fields no result has', JSON.stringify({ ...result, injected: true })],
    ['errors without messages', JSON.stringify({ data: null, errors: [{ path: ['x'] }] })],
  ])('treats a value tampered with in Redis (%s) as a miss, and Redis as healthy', async (_name, raw) => {
    await direct.set('ftgw:response-cache:answer:response-tampered', raw);
    expect(await stores[1]!.get('response-tampered')).toBeUndefined();
    expect(replicas[1]!.state).toBe('ready');
  });

  it('misses and drops writes while Redis is down, then works again once it is back', async () => {
    await server.kill();
    const transitions: string[] = [];
    const unsubscribe = replicas[0]!.onStateChange((state) => transitions.push(state));
    await expect(stores[0]!.get('response-1')).resolves.toBeUndefined();
    await expect(stores[0]!.set('response-2', result, entities, 60_000)).resolves.toBeUndefined();
    await expect(stores[0]!.invalidate(entities)).resolves.toBeUndefined();
    expect(replicas[0]!.state).toBe('unavailable');
    // A write whose every command failed is a failure, not a sign that Redis is back.
    expect(transitions).not.toContain('ready');
    unsubscribe();

    await server.restart();
    // Both connections: the second one reads below (a miss while it is still reconnecting).
    await Promise.all(replicas.map(ready));
    await stores[0]!.set('response-3', result, entities, 60_000);
    expect(await stores[1]!.get('response-3')).toEqual(result);
  });
});

/** Resolves once the connection is ready (nothing is queued while it is not: a command would fail). */
function ready(redis: SharedRedis): Promise<void> {
  return new Promise((resolve) => {
    if (redis.state === 'ready') resolve();
    redis.onStateChange((state) => state === 'ready' && resolve());
  });
}
