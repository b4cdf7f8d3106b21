import { randomUUID } from 'node:crypto';
import type { FineTuneJobRecord } from '../upstream/dashscope/index.js';
import { LocalJobCache } from '../upstream/local-job-cache.js';
import { FineTuneJobRecordModel, parseStored } from './records.js';
import { defineScript, type SharedRedis } from './redis.js';

/*
 * The cache of finished jobs shared by replicas (REDIS_URL): what one replica read, the others serve without an
 * upstream call. Same keys as the in-process cache (a hash of the credential, then the job id: never a key in a Redis
 * key name), same rules (finished jobs for CACHE_TTL_MS, running ones only with CACHE_NONTERMINAL_TTL_MS), and each
 * value parsed with a strict model when read back: a value that does not fit, or is another job than its key's, is a
 * miss, removed, never served.
 *
 * A write to a job must not be undone by a read another replica began before it (docs/operations.md, Redis):
 * - each job has a generation `job-gen:<id>`, a token a write replaces (`invalidate`); a read notes the token before
 *   it asks DashScope, and stores what it got only if the token is still the same, checked and stored in one script;
 *   a page of jobs is guarded the same way by `job-epoch`, which every write replaces;
 * - `job-copies:<id>` names every credential's copy of the job, and a write deletes them all in the same script: the
 *   job id names one job whoever reads it, so a copy read without the workspace header goes with one deleted with it;
 * - the response cache (response-cache.ts) checks the same generations before it keeps an answer.
 * With the cache off (CACHE_ENABLED=false) only the generations are kept, for the response cache.
 *
 * While Redis cannot answer, the replica caches in its own memory (bounded like the in-process cache), so reads keep
 * working; that copy is dropped when Redis answers again, and the writes made meanwhile are replayed then.
 */

/** A job larger than this (its JSON) is not stored in Redis: the entries stay small whatever DashScope sends. */
export const MAX_SHARED_JOB_BYTES = 64 * 1024;
/** How long a generation outlives its write: longer than any read that began before it can last. */
export const GENERATION_TTL_MS = 10 * 60_000;
/** Writes whose replay waits for Redis to return; past it, the oldest are dropped. */
const MAX_PENDING_WRITES = 10_000;

export interface SharedJobCacheOptions {
  /** Whether jobs are cached at all (CACHE_ENABLED); without, only the generations are kept. */
  enabled: boolean;
  ttlMs: number;
  nonTerminalTtlMs: number;
  maxEntries: number;
  maxBytes: number;
  warn?: (message: string) => void;
}

/** A lookup's outcome: the cached job, if any, and the job's generation (undefined when Redis could not say). */
export interface JobLookup {
  job?: FineTuneJobRecord | undefined;
  generation?: string | undefined;
}

/** What a store is guarded by: the job's generation (one job read by id), or the epoch (a page of jobs). */
export type StoreGuard = { generation: string; jobId: string } | { epoch: string };

/** The gateway's own job key `scope \0 jobId` as a Redis key: `job:<scope hash>:<id>`. */
const redisKey = (key: string) => `job:${key.split('\u0000').map(encodeURIComponent).join(':')}`;
export const generationKey = (jobId: string): string => `job-gen:${encodeURIComponent(jobId)}`;
const copiesKey = (jobId: string) => `job-copies:${encodeURIComponent(jobId)}`;
const EPOCH = 'job-epoch';

/**
 * KEYS[1] the guard (a generation or the epoch), then per job its entry and its copies; ARGV[1] the guard's expected
 * token ('' for none yet), ARGV[2] how long the copies set lives, then per job its value, TTL and mode. Deletions are
 * made whatever the guard says (forgetting is always safe); stores only while the guard holds.
 */
const STORE = `
local n = (#KEYS - 1) / 2
for i = 0, n - 1 do
  if ARGV[5 + 3 * i] == 'del' then redis.call('DEL', KEYS[2 + 2 * i]) end
end
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
for i = 0, n - 1 do
  local entry, copies = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
  local value, ttl, mode = ARGV[3 + 3 * i], ARGV[4 + 3 * i], ARGV[5 + 3 * i]
  if mode ~= 'del' then
    if mode == 'nx' then redis.call('SET', entry, value, 'PX', ttl, 'NX') else redis.call('SET', entry, value, 'PX', ttl) end
    redis.call('SADD', copies, entry)
    redis.call('PEXPIRE', copies, ARGV[2])
  end
end
return 1`;

/**
 * A write to a job: a new generation and epoch, and every copy named in its copies set deleted (only keys of cached
 * jobs: the set is data in Redis, not trusted to name anything else). KEYS: generation, epoch, copies; ARGV: the new
 * token, the generation's TTL, the prefix every cached job's key starts with.
 */
const INVALIDATE = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[1])
for _, copy in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  if string.sub(copy, 1, #ARGV[3]) == ARGV[3] then redis.call('DEL', copy) end
end
redis.call('DEL', KEYS[3])
return 1`;

export class SharedJobCache {
  private readonly fallback: LocalJobCache;
  private readonly invalidateScript: (keys: string[], args: Array<string | number>) => Promise<number>;
  /** Jobs whose write could not reach Redis: replayed when it answers again. */
  private readonly pending = new Set<string>();

  constructor(
    private readonly redis: SharedRedis,
    private readonly options: SharedJobCacheOptions,
  ) {
    this.fallback = new LocalJobCache(options);
    this.invalidateScript = defineScript(redis.client, 'ftgwInvalidateJob', INVALIDATE, 3);
    redis.onStateChange((state) => {
      if (state !== 'ready') return;
      this.fallback.clear();
      const writes = [...this.pending];
      this.pending.clear();
      for (const jobId of writes) void this.invalidateEverywhere(jobId);
    });
  }

  /** The cached job (not one that does not fit), and the job's generation; the local copy while Redis cannot answer. */
  async lookup(key: string, jobId: string): Promise<JobLookup> {
    const keys = this.options.enabled ? [redisKey(key), generationKey(jobId)] : [generationKey(jobId)];
    let values: Array<string | null>;
    try {
      values = await this.redis.run('job cache read', (client) => client.mget(...keys));
    } catch {
      return { job: this.options.enabled ? this.fallback.get(key) : undefined };
    }
    const generation = values[keys.length - 1] ?? '';
    const raw = this.options.enabled ? (values[0] ?? null) : null;
    if (raw === null) return { generation };
    const job = parseStored(FineTuneJobRecordModel, raw);
    if (job && job.id === jobId && (job.isTerminal || this.options.nonTerminalTtlMs > 0)) return { job, generation };
    this.options.warn?.(`job cache: a value in Redis that is not a cached job was ignored and removed (job ${JSON.stringify(jobId)})`);
    this.redis.run('job cache removal', (client) => client.del(redisKey(key))).catch(() => {});
    return { generation };
  }

  /** The epoch before a page is read (undefined when Redis cannot say: the page's jobs are then kept here only). */
  async epoch(): Promise<string | undefined> {
    if (!this.options.enabled) return undefined;
    return this.redis
      .run('job cache epoch', (client) => client.get(EPOCH))
      .then(
        (epoch) => epoch ?? '',
        () => undefined,
      );
  }

  /**
   * Stores what a read returned, as the in-process cache would: a finished job (kept if already there: it never
   * changes), a running one only with a non-terminal TTL, otherwise removes the key (the job is running again). In
   * Redis only while `guard` holds (no write since the read began); without a guard (Redis could not say), here only.
   * Not awaited by reads: one script, whose failure only costs the cache.
   */
  remember(entries: Array<[key: string, job: FineTuneJobRecord]>, guard: StoreGuard | undefined): void {
    if (entries.length === 0 || !this.options.enabled) return;
    const local = () => {
      for (const [key, job] of entries) this.fallback.remember(key, job);
    };
    if (!guard) return local();
    const keys = ['generation' in guard ? generationKey(guard.jobId) : EPOCH];
    const args: Array<string | number> = ['generation' in guard ? guard.generation : guard.epoch, this.copiesTtlMs];
    for (const [key, job] of entries) {
      const value = JSON.stringify(job);
      const stored = value.length <= MAX_SHARED_JOB_BYTES;
      keys.push(redisKey(key), copiesKey(job.id));
      if (job.isTerminal && stored) args.push(value, this.options.ttlMs, 'nx');
      else if (!job.isTerminal && this.options.nonTerminalTtlMs > 0 && stored) args.push(value, this.options.nonTerminalTtlMs, 'set');
      else args.push('', 0, 'del');
    }
    this.redis.run('job cache write', (client) => client.eval(STORE, keys.length, ...keys, ...args)).catch(local);
  }

  /**
   * After a write to the job. `everyone`: DashScope took the write (or may have): every credential's copy goes, on
   * every replica, and reads in flight store nothing. Otherwise (DashScope refused it) only `key`'s copy goes.
   * Resolves once Redis applied it, or could not (the write is then replayed when Redis returns).
   */
  async invalidate(jobId: string, key: string, everyone: boolean): Promise<void> {
    if (!everyone) {
      this.fallback.forget(key);
      await this.redis.run('job cache removal', (client) => client.del(redisKey(key))).catch(() => {});
      return;
    }
    this.fallback.forgetJob(jobId);
    await this.invalidateEverywhere(jobId);
  }

  /** Jobs in this replica's fallback copy. */
  get localSize(): number {
    return this.fallback.size;
  }

  private async invalidateEverywhere(jobId: string): Promise<void> {
    const prefix = `${this.redis.config.keyPrefix}job:`;
    try {
      await this.redis.run('job cache invalidation', () =>
        this.invalidateScript([generationKey(jobId), EPOCH, copiesKey(jobId)], [randomUUID(), GENERATION_TTL_MS, prefix]),
      );
    } catch {
      if (this.pending.size >= MAX_PENDING_WRITES) this.pending.delete(this.pending.values().next().value!);
      this.pending.add(jobId);
    }
  }

  private get copiesTtlMs(): number {
    return Math.max(this.options.ttlMs, this.options.nonTerminalTtlMs);
  }
}
