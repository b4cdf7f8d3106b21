import { setTimeout as pause } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import { defineScript, type SharedRedis } from '../shared-state/redis.js';

/*
 * A token bucket on the requests sent to DashScope, per credential (DashScope limits each key, and in forward mode
 * each caller brings theirs): `ratePerSecond` tokens a second, at most `burst` saved up. A request past the bucket
 * reserves the next token and waits for it, up to `maxWaitMs`; one that would wait longer is refused at once
 * (RATE_LIMITED, `extensions.limit: "upstreamRate"`), nothing sent, instead of being answered 429 by DashScope.
 *
 * One rule, two stores: in this process (no REDIS_URL), or in Redis (a Lua script, atomic) so that every replica draws
 * from the same bucket. A Redis that fails or is slow past its timeout costs the shared bucket, not the request: the
 * process falls back to its own bucket until Redis answers again.
 */

export interface RateLimitOptions {
  ratePerSecond: number;
  burst: number;
  /** The longest a request waits for its token; past it, refused. */
  maxWaitMs: number;
}

/** A reservation: `waitMs` until the token is the request's, or refused with how long until one would fit. */
export type Reservation = { granted: true; waitMs: number } | { granted: false; retryAfterMs: number };

export interface BucketStore {
  reserve(bucket: string, options: RateLimitOptions): Promise<Reservation>;
}

interface Bucket {
  /** Saved tokens; below 0, the tokens already promised to requests that are waiting. */
  tokens: number;
  at: number;
}

/** The bucket arithmetic (the Lua script below does the same). The new state only when granted. */
export function reserveToken(state: Bucket | undefined, now: number, { ratePerSecond, burst, maxWaitMs }: RateLimitOptions) {
  const before = state ?? { tokens: burst, at: now };
  const tokens = Math.min(burst, before.tokens + (Math.max(0, now - before.at) * ratePerSecond) / 1000) - 1;
  const waitMs = tokens < 0 ? Math.ceil((-tokens * 1000) / ratePerSecond) : 0;
  if (waitMs > maxWaitMs) return { reservation: { granted: false, retryAfterMs: waitMs - maxWaitMs } as Reservation, state };
  return { reservation: { granted: true, waitMs } as Reservation, state: { tokens, at: now } };
}

/** The buckets of this process: bounded, a bucket idle long enough to be full again is forgotten first. */
export class LocalBuckets implements BucketStore {
  private readonly buckets = new LRUCache<string, Bucket>({ max: 10_000 });

  constructor(private readonly now: () => number = Date.now) {}

  reserve(bucket: string, options: RateLimitOptions): Promise<Reservation> {
    const { reservation, state } = reserveToken(this.buckets.get(bucket), this.now(), options);
    if (state) this.buckets.set(bucket, state);
    return Promise.resolve(reservation);
  }
}

/** Redis' clock (TIME), not each replica's: replicas whose clocks disagree still share one bucket fairly. */
const RESERVE = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local maxWait = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
-- What Redis holds is untrusted: a state no reservation could have made (more than the burst, a debt deeper than the
-- longest wait, a time to come) is as good as none. Refusals do not renew the expiry: such a state would last for ever.
if tokens == nil or at == nil or tokens > burst or tokens < -(maxWait * rate / 1000) - 1 or at > now + 60000 then tokens = burst; at = now end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000) - 1
local wait = 0
if tokens < 0 then wait = math.ceil(-tokens * 1000 / rate) end
if wait > maxWait then return {0, wait - maxWait} end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + maxWait + 1000)
return {1, wait}`;

/** The bucket every replica shares, in Redis; this process's own while Redis cannot answer. */
export class RedisBuckets implements BucketStore {
  private readonly script: (keys: string[], args: Array<string | number>) => Promise<[number, number]>;

  constructor(
    private readonly redis: SharedRedis,
    private readonly fallback: BucketStore = new LocalBuckets(),
  ) {
    this.script = defineScript(redis.client, 'ftgwReserveToken', RESERVE, 1);
  }

  async reserve(bucket: string, options: RateLimitOptions): Promise<Reservation> {
    let answer: [number, number];
    try {
      answer = await this.redis.run('upstream rate limit', () =>
        this.script([`ratelimit:${bucket}`], [options.ratePerSecond, options.burst, options.maxWaitMs]),
      );
    } catch {
      // Logged once by SharedRedis' state change; the request is not the one to pay for it.
      return this.fallback.reserve(bucket, options);
    }
    const [granted, ms] = answer;
    return granted === 1 ? { granted: true, waitMs: Math.max(0, ms) } : { granted: false, retryAfterMs: Math.max(0, ms) };
  }
}

/** The limit as the upstream client applies it: waits for the request's token, or throws what `refused` makes. */
export class UpstreamRateLimit {
  constructor(
    readonly options: RateLimitOptions,
    private readonly store: BucketStore,
  ) {}

  /** Resolves when the request may be sent; rejects with `refused(retryAfterMs)` past the longest wait, or on `signal`. */
  async acquire(bucket: string, signal: AbortSignal | undefined, refused: (retryAfterMs: number) => Error): Promise<void> {
    const reservation = await this.store.reserve(bucket, this.options);
    if (!reservation.granted) throw refused(reservation.retryAfterMs);
    if (reservation.waitMs > 0) await pause(reservation.waitMs, undefined, signal && { signal });
  }
}
