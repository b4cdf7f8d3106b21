import type { Cache, CacheEntityRecord } from '@envelop/response-cache';
import type { ExecutionResult } from 'graphql';
import { z } from 'zod';
import { parseStored } from './records.js';
import { execAll, type SharedRedis } from './redis.js';

/*
 * The response cache's store in Redis, for replicas that share one (REDIS_URL): the `cache` option of
 * @envelop/response-cache, the same contract as the in-memory one (src/plugins/response-cache-store.ts): answers, and
 * per entity (`FineTuneJob:<id>`, or a bare typename) the set of answers holding it, so that invalidating an entity
 * on any replica drops every answer holding it for all of them.
 *
 * Not @envelop/response-cache-redis (used before), for three reasons seen at merge: its `set` resolves even when every
 * command of its pipeline failed (so a write during an outage counted as a success and marked Redis ready again, and
 * the next command marked it unavailable a second time), its entity sets never expire (Redis grows for ever), and
 * its invalidation of a bare typename runs KEYS (blocks Redis, and ignores the key prefix).
 *
 * - what Redis gives back is untrusted: an answer is parsed with a strict model (anything else is a miss), and an
 *   invalidation deletes only keys of answers;
 * - Redis down or slow costs the cache, never the request: a failed read is a miss, a failed write or invalidation is
 *   dropped (SharedRedis reports the outage once per transition, like every Redis failure);
 * - bounded: an answer larger than `maxBytes` is not stored, none lives longer than `maxTtlMs`, and an entity's set
 *   expires `maxTtlMs` after its last addition (every answer it names is gone by then).
 */

export type ResponseCacheStore = Cache;

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

/** Keys, after the client's REDIS_KEY_PREFIX. */
const ANSWER = 'response-cache:answer:';
const answerKey = (id: string) => `${ANSWER}${id}`;
const entityKey = ({ typename, id }: CacheEntityRecord) =>
  id === undefined || id === null ? `response-cache:entity:${typename}` : `response-cache:entity:${typename}:${id}`;

export function createResponseCacheStore(redis: SharedRedis, options: ResponseCacheStoreOptions = {}): ResponseCacheStore {
  const maxBytes = options.maxBytes ?? 256 * 1024;
  const maxTtlMs = options.maxTtlMs ?? 10 * 60_000;
  return {
    async set(id, data, entities, ttl) {
      const body = JSON.stringify(data);
      const ttlMs = Math.min(ttl, maxTtlMs);
      if (body.length > maxBytes || !(ttlMs > 0)) return;
      const key = answerKey(id);
      await redis
        .run('response cache write', (client) => {
          const pipeline = client.multi().set(key, body, 'PX', Math.ceil(ttlMs));
          for (const entity of new Set([...entities].map(entityKey))) pipeline.sadd(entity, key).pexpire(entity, maxTtlMs);
          return execAll(pipeline);
        })
        .catch(() => {});
    },
    async get(id) {
      const raw = await redis.run('response cache read', (client) => client.get(answerKey(id))).catch(() => null);
      return parseStored(ExecutionResultModel, raw) as ExecutionResult | undefined;
    },
    async invalidate(entities) {
      const keys = [...new Set([...entities].map(entityKey))];
      if (keys.length === 0) return;
      await redis
        .run('response cache invalidation', async (client) => {
          const members = (await execAll(keys.reduce((pipeline, key) => pipeline.smembers(key), client.pipeline()))) as string[][];
          const answers = members.flat().filter((member) => typeof member === 'string' && member.startsWith(ANSWER));
          await client.del(...keys, ...answers);
        })
        .catch(() => {});
    },
  };
}
