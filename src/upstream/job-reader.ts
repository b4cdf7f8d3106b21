import { LRUCache } from 'lru-cache';
import type {
  CheckpointRecord,
  Credential,
  DashScopeClient,
  FineTuneJobRecord,
  JobLogsRecord,
  JobPageRecord,
  ListJobsParams,
} from './dashscope/index.js';
import { credentialScope } from './credential-scope.js';

/** A cache of jobs replicas share (src/shared-state/job-cache.ts): used instead of the in-process one when given. */
export interface SharedJobStore {
  get(key: string, jobId: string): Promise<FineTuneJobRecord | undefined>;
  remember(entries: Array<[key: string, job: FineTuneJobRecord]>): void;
  delete(key: string): void;
  readonly localSize: number;
}

export interface JobReaderOptions {
  /** Cache terminal jobs (SUCCEEDED, FAILED, CANCELED) across requests. */
  enabled: boolean;
  /** How long a terminal job is served from the cache. */
  ttlMs: number;
  maxEntries: number;
  /** Bound on the cache's estimated size (UTF-16 length of each record's JSON, times two). */
  maxBytes: number;
  /** How long a job that is still going may be served from the cache; 0: never cached. */
  nonTerminalTtlMs: number;
  /** Coalesce concurrent identical reads with the same credential into one upstream call. */
  singleFlight: boolean;
}

export type UpstreamReader = Pick<DashScopeClient, 'getJob' | 'listJobs' | 'getLogs' | 'listCheckpoints'>;

/** What the reader tells metrics: finished-job cache lookups, and reads that joined one already in flight. */
export interface ReaderEvents {
  cacheLookup(result: 'hit' | 'miss'): void;
  /** `read`: which kind of read was shared (`job`, `list`, `logs`, `checkpoints`). */
  singleFlightJoin(read: string): void;
}

interface Flight {
  promise: Promise<unknown>;
  controller: AbortController;
  /** Callers still waiting; the shared call is aborted only when every one of them has gone. */
  waiters: number;
}

/**
 * The gateway's one reader of the upstream, shared by every request: the client's read methods plus a cross-request
 * cache of finished jobs and single-flight for identical concurrent reads. Every key starts with a hash of the
 * credential (key and workspace), so nothing read with one key is ever served to another; the key itself is not kept.
 */
export class JobReader implements UpstreamReader {
  private readonly jobs: LRUCache<string, FineTuneJobRecord> | undefined;
  private readonly flights = new Map<string, Flight>();
  private readonly scopes = new WeakMap<Credential, string>();
  /** Bumped by every invalidation: a read that started before one does not fill the cache with what it got. */
  private generation = 0;

  private readonly shared: SharedJobStore | undefined;

  constructor(
    private readonly upstream: UpstreamReader,
    private readonly options: JobReaderOptions,
    private readonly events?: ReaderEvents,
    /** With REDIS_URL: the replicas' shared cache, which then replaces the in-process one. */
    shared?: SharedJobStore,
  ) {
    this.shared = options.enabled ? shared : undefined;
    this.jobs =
      options.enabled && !shared
        ? new LRUCache({
            max: options.maxEntries,
            maxSize: options.maxBytes,
            sizeCalculation: (job) => JSON.stringify(job).length * 2,
            ttl: options.ttlMs,
            // An expired entry is never served; it is dropped when read or pushed out by newer ones.
            ttlAutopurge: false,
          })
        : undefined;
  }

  getJob(credential: Credential, jobId: string, signal?: AbortSignal): Promise<FineTuneJobRecord> {
    const key = this.jobKey(credential, jobId);
    const cached = this.jobs?.get(key);
    if (this.jobs) this.events?.cacheLookup(cached ? 'hit' : 'miss');
    if (cached) return Promise.resolve(cached);
    const generation = this.generation;
    const fromUpstream = (shared: AbortSignal | undefined) =>
      this.upstream.getJob(credential, jobId, shared).then((job) => {
        if (generation === this.generation) this.remember([[key, job]]);
        return job;
      });
    const sharedCache = this.shared;
    if (!sharedCache) return this.flight('job', `${key}\u0000get`, signal, fromUpstream);
    // Concurrent reads of one job share the look-up in the replicas' cache too.
    return this.flight('job', `${key}\u0000get`, signal, (shared) =>
      sharedCache.get(key, jobId).then((hit) => {
        this.events?.cacheLookup(hit ? 'hit' : 'miss');
        return hit ?? fromUpstream(shared);
      }),
    );
  }

  listJobs(credential: Credential, params: ListJobsParams, signal?: AbortSignal): Promise<JobPageRecord> {
    const scope = this.scope(credential);
    const generation = this.generation;
    const key = `${scope}\u0000list\u0000${params.page}\u0000${params.pageSize}\u0000${params.model ?? ''}`;
    return this.flight('list', key, signal, (shared) =>
      this.upstream.listJobs(credential, params, shared).then((page) => {
        // A page carries whole jobs: the finished ones need not be asked for again.
        if (generation === this.generation) this.remember(page.jobs.map((job) => [`${scope}\u0000${job.id}`, job]));
        return page;
      }),
    );
  }

  getLogs(credential: Credential, jobId: string, window: { offset: number; limit: number }, signal?: AbortSignal): Promise<JobLogsRecord> {
    const key = `${this.jobKey(credential, jobId)}\u0000logs\u0000${window.offset}\u0000${window.limit}`;
    return this.flight('logs', key, signal, (shared) => this.upstream.getLogs(credential, jobId, window, shared));
  }

  listCheckpoints(credential: Credential, jobId: string, signal?: AbortSignal): Promise<CheckpointRecord[]> {
    const key = `${this.jobKey(credential, jobId)}\u0000checkpoints`;
    return this.flight('checkpoints', key, signal, (shared) => this.upstream.listCheckpoints(credential, jobId, shared));
  }

  /** Forgets the job for this credential, and makes reads already in flight start afresh (after a mutation). */
  invalidate(credential: Credential, jobId: string): void {
    this.generation++;
    const key = this.jobKey(credential, jobId);
    this.jobs?.delete(key);
    this.shared?.delete(key);
    for (const flightKey of this.flights.keys()) if (flightKey.startsWith(`${key}\u0000`)) this.flights.delete(flightKey);
  }

  /** Entries in the cache (for tests and the bench's memory check). */
  get cachedJobs(): number {
    return this.jobs?.size ?? this.shared?.localSize ?? 0;
  }

  private remember(entries: Array<[key: string, job: FineTuneJobRecord]>): void {
    this.shared?.remember(entries);
    if (this.jobs) for (const [key, job] of entries) this.rememberHere(this.jobs, key, job);
  }

  private rememberHere(jobs: LRUCache<string, FineTuneJobRecord>, key: string, job: FineTuneJobRecord): void {
    if (job.isTerminal) {
      // A finished job never changes: one already cached is the same, and re-sizing it costs a JSON.stringify.
      if (!jobs.has(key)) jobs.set(key, job);
    } else if (this.options.nonTerminalTtlMs > 0) {
      jobs.set(key, job, { ttl: this.options.nonTerminalTtlMs });
    } else {
      // It was finished when cached, and is not any more (e.g. restarted upstream): the old copy must go.
      jobs.delete(key);
    }
  }

  private jobKey(credential: Credential, jobId: string): string {
    return `${this.scope(credential)}\u0000${jobId}`;
  }

  /** The credential's hash, once per credential object (one per request). */
  private scope(credential: Credential): string {
    let scope = this.scopes.get(credential);
    if (scope === undefined) {
      scope = credentialScope(credential);
      this.scopes.set(credential, scope);
    }
    return scope;
  }

  private flight<T>(
    kind: 'job' | 'list' | 'logs' | 'checkpoints',
    key: string,
    signal: AbortSignal | undefined,
    start: (signal: AbortSignal | undefined) => Promise<T>,
  ): Promise<T> {
    if (!this.options.singleFlight) return start(signal);
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    let flight = this.flights.get(key);
    if (flight) this.events?.singleFlightJoin(kind);
    if (!flight) {
      const controller = new AbortController();
      const created: Flight = { promise: Promise.resolve(), controller, waiters: 0 };
      created.promise = start(controller.signal).finally(() => {
        if (this.flights.get(key) === created) this.flights.delete(key);
      });
      this.flights.set(key, created);
      flight = created;
    }
    flight.waiters++;
    const shared = flight.promise as Promise<T>;
    if (!signal) return shared;
    const joined = flight;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        reject(signal.reason as Error);
        if (--joined.waiters > 0) return;
        if (this.flights.get(key) === joined) this.flights.delete(key);
        joined.controller.abort(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      shared.finally(() => signal.removeEventListener('abort', onAbort)).then(resolve, reject);
    });
  }
}
