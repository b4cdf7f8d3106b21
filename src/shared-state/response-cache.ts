import { randomUUID } from 'node:crypto';
import type { CacheEntityRecord } from '@envelop/response-cache';
import type { ExecutionResult } from 'graphql';
import { z } from 'zod';
import type { ResponseCacheStore } from '../plugins/response-cache-store.js';
import { GENERATION_TTL_MS, generationKey } from './job-cache.js';
import { parseStored } from './records.js';
import { execAll, type SharedRedis } from './redis.js';

export type { ResponseCacheStore };

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
 *   expires `maxTtlMs` after its last addition (every answer it names is gone by then);
 * - a write on one replica is not undone by an answer another replica computed from a read begun before it: `set`
 *   with the generations its jobs were read under (job-cache.ts) stores only if each is still current, and
 *   invalidating a job replaces its generation, in the same script as the deletion, so that an answer is either
 *   stored before (and deleted) or refused.
 */

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
/** The typename whose entities are jobs (response-cache-policy.ts's JOB_TYPE). */
const JOB_ENTITY = 'FineTuneJob';
const answerKey = (id: string) => `${ANSWER}${id}`;
const entityKey = ({ typename, id }: CacheEntityRecord) =>
  id === undefined || id === null ? `response-cache:entity:${typename}` : `response-cache:entity:${typename}:${id}`;

/**
 * KEYS: the answer, the generations, the entity sets; ARGV: how many generations, each one's expected token, the answer's
 * name in the entity sets (without the key prefix), its body, its TTL and the sets' TTL.
 */
const SET_IF_CURRENT = `
local n = tonumber(ARGV[1])
for i = 1, n do
  if (redis.call('GET', KEYS[1 + i]) or '') ~= ARGV[1 + i] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[n + 3], 'PX', ARGV[n + 4])
for i = n + 2, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[n + 2])
  redis.call('PEXPIRE', KEYS[i], ARGV[n + 5])
end
return 1`;

/**
 * KEYS: the entity sets, then the jobs' generations; ARGV: how many sets, a new token, the generations' TTL, how an
 * answer's name starts (only such members are deleted: the sets are data in Redis) and the key prefix.
 */
const INVALIDATE = `
local sets = tonumber(ARGV[1])
for i = sets + 1, #KEYS do redis.call('SET', KEYS[i], ARGV[2], 'PX', ARGV[3]) end
for i = 1, sets do
  for _, answer in ipairs(redis.call('SMEMBERS', KEYS[i])) do
    if string.sub(answer, 1, #ARGV[4]) == ARGV[4] then redis.call('DEL', ARGV[5] .. answer) end
  end
  redis.call('DEL', KEYS[i])
end
return 1`;

export function createResponseCacheStore(redis: SharedRedis, options: ResponseCacheStoreOptions = {}): ResponseCacheStore {
  const maxBytes = options.maxBytes ?? 256 * 1024;
  const maxTtlMs = options.maxTtlMs ?? 10 * 60_000;
  return {
    async set(id, data, entities, ttl, generations) {
      const body = JSON.stringify(data);
      const ttlMs = Math.min(ttl, maxTtlMs);
      if (body.length > maxBytes || !(ttlMs > 0)) return;
      const key = answerKey(id);
      const sets = [...new Set([...entities].map(entityKey))];
      await redis
        .run('response cache write', (client) => {
          if (generations) {
            const jobs = [...generations];
            const keys = [key, ...jobs.map(([job]) => generationKey(job)), ...sets];
            const args = [jobs.length, ...jobs.map(([, token]) => token), key, body, Math.ceil(ttlMs), maxTtlMs];
            return client.eval(SET_IF_CURRENT, keys.length, ...keys, ...args);
          }
          const pipeline = client.multi().set(key, body, 'PX', Math.ceil(ttlMs));
          for (const entity of sets) pipeline.sadd(entity, key).pexpire(entity, maxTtlMs);
          return execAll(pipeline);
        })
        .catch(() => {});
    },
    async get(id) {
      const raw = await redis.run('response cache read', (client) => client.get(answerKey(id))).catch(() => null);
      return parseStored(ExecutionResultModel, raw) as ExecutionResult | undefined;
    },
    async invalidate(entities) {
      const list = [...entities];
      const sets = [...new Set(list.map(entityKey))];
      if (sets.length === 0) return;
      // A job's answers go, and so does its generation: an answer computed from a read begun before is refused.
      const jobs = [...new Set(list.filter((e) => e.typename === JOB_ENTITY && typeof e.id === 'string').map((e) => String(e.id)))];
      const keys = [...sets, ...jobs.map(generationKey)];
      const args = [sets.length, randomUUID(), GENERATION_TTL_MS, ANSWER, redis.config.keyPrefix];
      await redis.run('response cache invalidation', (client) => client.eval(INVALIDATE, keys.length, ...keys, ...args)).catch(() => {});
    },
  };
}
