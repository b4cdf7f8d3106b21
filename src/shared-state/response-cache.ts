import { createRedisCache } from '@envelop/response-cache-redis';
import type { ExecutionResult } from 'graphql';
import { z } from 'zod';
import { parseStored } from './records.js';
import type { SharedRedis } from './redis.js';

/*
 * The response cache's store in Redis, for replicas that share one (REDIS_URL): the `cache` option of
 * `useResponseCache` (@graphql-yoga/plugin-response-cache), built on @envelop/response-cache-redis, with what the
 * gateway needs around it:
 * - a response read back is parsed with a strict model (Redis content is untrusted input): anything else is a miss;
 * - Redis down or slow costs the cache, never the request: a failed read is a miss, a failed write or invalidation is
 *   dropped (and reported once per transition by SharedRedis, like every Redis failure);
 * - bounded: a response larger than `maxBytes` is not stored, and none lives longer than `maxTtlMs`.
 * Keys get the client's REDIS_KEY_PREFIX. Known limit of the library: entity sets (`Type:id` → responses) have no
 * expiry, so Redis should run with `maxmemory` and an eviction policy (docs/operations.md#redis).
 */

/** The Cache interface of @envelop/response-cache (the same in its versions 8 and 9). */
export interface ResponseCacheStore {
  set(id: string, data: ExecutionResult, entities: Iterable<{ typename: string; id?: number | string }>, ttl: number): Promise<void>;
  get(id: string): Promise<ExecutionResult | undefined>;
  invalidate(entities: Iterable<{ typename: string; id?: number | string }>): Promise<void>;
}

const ExecutionResultModel = z.strictObject({
  data: z.record(z.string(), z.unknown()).nullable().optional(),
  errors: z.array(z.looseObject({ message: z.string() })).optional(),
  extensions: z.record(z.string(), z.unknown()).optional(),
});

export interface ResponseCacheStoreOptions {
  /** Responses whose JSON is larger are not stored (default 256 KiB). */
  maxBytes?: number;
  /** The longest a response is kept, whatever TTL the plugin asks for (default 10 minutes; `Infinity` included). */
  maxTtlMs?: number;
}

export function createResponseCacheStore(redis: SharedRedis, options: ResponseCacheStoreOptions = {}): ResponseCacheStore {
  const maxBytes = options.maxBytes ?? 256 * 1024;
  const maxTtlMs = options.maxTtlMs ?? 10 * 60_000;
  const store = createRedisCache({
    redis: redis.client,
    buildRedisEntityId: (typename, id) => `response-cache:${typename}:${id}`,
    buildRedisOperationResultCacheKey: (responseId) => `response-cache:operations:${responseId}`,
  });
  return {
    async set(id, data, entities, ttl) {
      if (JSON.stringify(data).length > maxBytes) return;
      await redis
        .run('response cache write', () => Promise.resolve(store.set(id, data, entities, Math.min(ttl, maxTtlMs))))
        .catch(() => {});
    },
    async get(id) {
      // Read here rather than by the library's get, which would serve whatever JSON it finds.
      const raw = await redis.run('response cache read', (client) => client.get(id)).catch(() => null);
      return parseStored(ExecutionResultModel, raw) as ExecutionResult | undefined;
    },
    async invalidate(entities) {
      await redis.run('response cache invalidation', () => Promise.resolve(store.invalidate(entities))).catch(() => {});
    },
  };
}
