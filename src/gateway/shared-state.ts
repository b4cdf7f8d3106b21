import type { Config } from '../config.js';
import type { GatewayLogger } from '../logging/index.js';
import { IdempotencyStore, SharedIdempotencyStore, type Idempotency } from '../modules/fine-tune-job/idempotency.js';
import { SharedJobCache } from '../shared-state/job-cache.js';
import { DeploymentRecordModel, FineTuneJobRecordModel } from '../shared-state/records.js';
import { SharedRedis, redisLocation } from '../shared-state/redis.js';
import type { DeploymentRecord, FineTuneJobRecord } from '../upstream/dashscope/index.js';
import { LocalBuckets, RedisBuckets, UpstreamRateLimit } from '../upstream/rate-limit.js';

/**
 * The state a gateway keeps beyond one request that replicas must share: idempotency records, the cache of finished
 * jobs, the upstream rate limit. In this process without REDIS_URL; in Redis with it (each with a per-process fallback
 * for reads and the rate limit; idempotent creates refuse instead while Redis cannot answer).
 */
export interface SharedState {
  /** The Redis connection; undefined without REDIS_URL. Closed last at shutdown. */
  redis: SharedRedis | undefined;
  idempotency: Idempotency<FineTuneJobRecord>;
  deploymentIdempotency: Idempotency<DeploymentRecord>;
  /**
   * The replicas' cache of finished jobs and the jobs' generations, for the JobReader; undefined: the reader keeps its
   * own.
   */
  jobCache: SharedJobCache | undefined;
  /** The token bucket on upstream requests (UPSTREAM_RATE_PER_SECOND); undefined when unset. */
  rateLimiter: UpstreamRateLimit | undefined;
}

export function createSharedState(config: Config, logger: GatewayLogger): SharedState {
  const rateOptions = config.upstream.rateLimit;
  if (!config.redis) {
    return {
      redis: undefined,
      idempotency: new IdempotencyStore<FineTuneJobRecord>({ settleMs: config.createSettleMs }),
      deploymentIdempotency: new IdempotencyStore<DeploymentRecord>(),
      jobCache: undefined,
      rateLimiter: rateOptions && new UpstreamRateLimit(rateOptions, new LocalBuckets()),
    };
  }
  const redis = new SharedRedis(config.redis);
  const where = redisLocation(config.redis.url);
  // Once per transition, not per request: a Redis outage is one warning, its end one line.
  redis.onStateChange((state, detail) => {
    if (state === 'unavailable')
      logger.warn(
        `Redis at ${where} unavailable (${detail}): reads and the upstream rate limit use this process's state, creates with an idempotencyKey are refused`,
      );
    else if (state === 'ready') logger.info(`Redis at ${where} ready: state shared with the other replicas`);
  });
  const warn = (message: string) => logger.warn(message);
  const { connectTimeoutMs, headersTimeoutMs, bodyTimeoutMs } = config.upstream;
  // Longer than an attempt usually lasts (a search of a few pages and a create, each bounded by the upstream timeouts,
  // with retries), plus the settling window; a live attempt renews its claim anyway, so this is how long a dead
  // replica's keys stay claimed.
  const pendingTtlMs = Math.max(60_000, 4 * (connectTimeoutMs + headersTimeoutMs + bodyTimeoutMs) + config.createSettleMs);
  const stores = { redis, pendingTtlMs, waitMs: config.operationDeadlineMs, warn };
  return {
    redis,
    idempotency: new SharedIdempotencyStore({ ...stores, kind: 'job', model: FineTuneJobRecordModel, settleMs: config.createSettleMs }),
    deploymentIdempotency: new SharedIdempotencyStore({ ...stores, kind: 'deployment', model: DeploymentRecordModel }),
    // With the job cache off, still the jobs' generations: the response cache checks them before it keeps an answer.
    jobCache:
      config.cache.enabled || config.responseCache.enabled
        ? new SharedJobCache(redis, {
            enabled: config.cache.enabled,
            ttlMs: config.cache.ttlMs,
            nonTerminalTtlMs: config.cache.nonTerminalTtlMs,
            maxEntries: config.cache.maxEntries,
            maxBytes: config.cache.maxBytes,
            warn,
          })
        : undefined,
    rateLimiter: rateOptions && new UpstreamRateLimit(rateOptions, new RedisBuckets(redis)),
  };
}
