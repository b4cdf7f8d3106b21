import { LRUCache } from 'lru-cache';
import type { FineTuneJobRecord } from '../upstream/dashscope/index.js';
import { FineTuneJobRecordModel, parseStored } from './records.js';
import type { SharedRedis } from './redis.js';

/*
 * The cache of finished jobs shared by replicas (REDIS_URL): what one replica read, the others serve without an
 * upstream call. Same keys as the in-process cache (a hash of the credential, then the job id: never a key in a Redis
 * key name), same rules (finished jobs for CACHE_TTL_MS, running ones only with CACHE_NONTERMINAL_TTL_MS), and each
 * value parsed with a strict model when read back: a value that does not fit, or is another job than its key's, is a
 * miss, removed, never served.
 *
 * While Redis cannot answer, the replica caches in its own memory (bounded like the in-process cache), so reads keep
 * working; that copy is dropped when Redis answers again, since invalidations made meanwhile were local only.
 */

/** A job larger than this (its JSON) is not stored in Redis: the entries stay small whatever DashScope sends. */
export const MAX_SHARED_JOB_BYTES = 64 * 1024;

export interface SharedJobCacheOptions {
  ttlMs: number;
  nonTerminalTtlMs: number;
  maxEntries: number;
  maxBytes: number;
  warn?: (message: string) => void;
}

/** The gateway's own job key `scope \0 jobId` as a Redis key: `job:<scope hash>:<id>`. */
const redisKey = (key: string) => `job:${key.split('\u0000').map(encodeURIComponent).join(':')}`;

export class SharedJobCache {
  private readonly fallback: LRUCache<string, FineTuneJobRecord>;

  constructor(
    private readonly redis: SharedRedis,
    private readonly options: SharedJobCacheOptions,
  ) {
    this.fallback = new LRUCache({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      sizeCalculation: (job) => JSON.stringify(job).length * 2,
      ttl: options.ttlMs,
    });
    redis.onStateChange((state) => {
      if (state === 'ready') this.fallback.clear();
    });
  }

  /** The cached job, or undefined (a miss, a value that does not fit, Redis down and no local copy). */
  async get(key: string, jobId: string): Promise<FineTuneJobRecord | undefined> {
    let raw: string | null;
    try {
      raw = await this.redis.run('job cache read', (client) => client.get(redisKey(key)));
    } catch {
      return this.fallback.get(key);
    }
    if (raw === null) return undefined;
    const job = parseStored(FineTuneJobRecordModel, raw);
    if (job && job.id === jobId && (job.isTerminal || this.options.nonTerminalTtlMs > 0)) return job;
    this.options.warn?.(`job cache: a value in Redis that is not a cached job was ignored and removed (job ${JSON.stringify(jobId)})`);
    this.redis.run('job cache removal', (client) => client.del(redisKey(key))).catch(() => {});
    return undefined;
  }

  /**
   * Stores what a read returned, as the in-process cache would: a finished job (kept if already there: it never
   * changes), a running one only with a non-terminal TTL, otherwise removes the key (the job is running again).
   * Not awaited by reads: one pipeline, whose failure only costs the cache.
   */
  remember(entries: Array<[key: string, job: FineTuneJobRecord]>): void {
    if (entries.length === 0) return;
    this.redis
      .run('job cache write', (client) => {
        const pipeline = client.pipeline();
        for (const [key, job] of entries) {
          const value = JSON.stringify(job);
          const stored = value.length <= MAX_SHARED_JOB_BYTES;
          if (job.isTerminal && stored) pipeline.set(redisKey(key), value, 'PX', this.options.ttlMs, 'NX');
          else if (!job.isTerminal && this.options.nonTerminalTtlMs > 0 && stored)
            pipeline.set(redisKey(key), value, 'PX', this.options.nonTerminalTtlMs);
          else pipeline.del(redisKey(key));
        }
        return pipeline.exec().then((results) => {
          const failed = results?.find(([error]) => error);
          if (failed) throw failed[0]!;
        });
      })
      .catch(() => {
        for (const [key, job] of entries) {
          if (job.isTerminal) this.fallback.set(key, job);
          else if (this.options.nonTerminalTtlMs > 0) this.fallback.set(key, job, { ttl: this.options.nonTerminalTtlMs });
          else this.fallback.delete(key);
        }
      });
  }

  /** Forgets the job on every replica (and here). */
  delete(key: string): void {
    this.fallback.delete(key);
    this.redis.run('job cache removal', (client) => client.del(redisKey(key))).catch(() => {});
  }

  /** Jobs in this replica's fallback copy. */
  get localSize(): number {
    return this.fallback.size;
  }
}
