import { LRUCache } from 'lru-cache';
import type { FineTuneJobRecord } from './dashscope/index.js';

/*
 * Jobs cached in this process (the JobReader's own cache without Redis, and the shared cache's fallback while Redis
 * cannot answer), keyed `<credential hash> \0 <job id>`: a copy per credential that read the job, never served to
 * another. A job id names one job in DashScope whoever reads it, so a write to the job forgets every credential's copy
 * (`forgetJob`): which is why the copies are indexed by job id too.
 */

export interface LocalJobCacheOptions {
  maxEntries: number;
  /** Bound on the estimated size (UTF-16 length of each record's JSON, times two). */
  maxBytes: number;
  /** How long a finished job is kept. */
  ttlMs: number;
  /** How long a job still going is kept; 0: never. */
  nonTerminalTtlMs: number;
}

/** The job id of a cache key `<scope> \0 <job id>`. */
const jobIdOf = (key: string): string => key.slice(key.indexOf('\u0000') + 1);

export class LocalJobCache {
  private readonly jobs: LRUCache<string, FineTuneJobRecord>;
  /** The keys holding each job, whichever credential read it. */
  private readonly byJob = new Map<string, Set<string>>();

  constructor(private readonly options: LocalJobCacheOptions) {
    this.jobs = new LRUCache({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      sizeCalculation: (job) => JSON.stringify(job).length * 2,
      ttl: options.ttlMs,
      // An expired entry is never served; it is dropped when read or pushed out by newer ones.
      ttlAutopurge: false,
      // Evicted, expired, replaced or deleted: out of the index too.
      dispose: (_job, key, reason) => {
        if (reason !== 'set') this.unindex(key);
      },
    });
  }

  get(key: string): FineTuneJobRecord | undefined {
    return this.jobs.get(key);
  }

  /**
   * What a read returned: a finished job is kept (one already there is the same: it never changes, and re-sizing it
   * costs a JSON.stringify), a running one only with a non-terminal TTL; otherwise the key goes (the job was finished
   * when cached and is not any more, e.g. restarted upstream).
   */
  remember(key: string, job: FineTuneJobRecord): void {
    if (job.isTerminal) {
      if (!this.jobs.has(key)) this.set(key, job);
    } else if (this.options.nonTerminalTtlMs > 0) {
      this.set(key, job, this.options.nonTerminalTtlMs);
    } else {
      this.jobs.delete(key);
    }
  }

  /** Forgets one credential's copy. */
  forget(key: string): void {
    this.jobs.delete(key);
  }

  /** Forgets every credential's copy of the job. */
  forgetJob(jobId: string): void {
    for (const key of [...(this.byJob.get(jobId) ?? [])]) this.jobs.delete(key);
  }

  clear(): void {
    this.jobs.clear();
  }

  get size(): number {
    return this.jobs.size;
  }

  private set(key: string, job: FineTuneJobRecord, ttl?: number): void {
    this.jobs.set(key, job, ttl === undefined ? undefined : { ttl });
    // A record too large for the cache is refused: nothing to index.
    if (!this.jobs.has(key)) return;
    const jobId = jobIdOf(key);
    let keys = this.byJob.get(jobId);
    if (!keys) this.byJob.set(jobId, (keys = new Set()));
    keys.add(key);
  }

  private unindex(key: string): void {
    const jobId = jobIdOf(key);
    const keys = this.byJob.get(jobId);
    keys?.delete(key);
    if (keys?.size === 0) this.byJob.delete(jobId);
  }
}
