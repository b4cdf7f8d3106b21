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
import { LocalJobCache } from './local-job-cache.js';

/** A cache of jobs replicas share (src/shared-state/job-cache.ts): used instead of the in-process one when given. */
export interface SharedJobStore {
  /** The cached job, and the job's generation (a token every write replaces; undefined when the store cannot say). */
  lookup(key: string, jobId: string): Promise<{ job?: FineTuneJobRecord | undefined; generation?: string | undefined }>;
  /** A token every write replaces, read before a page (undefined when the store cannot say). */
  epoch(): Promise<string | undefined>;
  /** Stores what a read returned, only while the token read before it still holds (none: not in the shared store). */
  remember(
    entries: Array<[key: string, job: FineTuneJobRecord]>,
    guard: { generation: string; jobId: string } | { epoch: string } | undefined,
  ): void;
  /** After a write: every credential's copy (`everyone`), or `key`'s only. */
  invalidate(jobId: string, key: string, everyone: boolean): Promise<void>;
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
  private readonly jobs: LocalJobCache | undefined;
  private readonly flights = new Map<string, Flight>();
  private readonly scopes = new WeakMap<Credential, string>();
  /** Bumped by every invalidation: a read that started before one does not fill the cache with what it got. */
  private generation = 0;
  /** The shared store's generation each job record was read under, for the response cache's own check. */
  private readonly generations = new WeakMap<FineTuneJobRecord, string>();

  private readonly shared: SharedJobStore | undefined;

  constructor(
    private readonly upstream: UpstreamReader,
    private readonly options: JobReaderOptions,
    private readonly events?: ReaderEvents,
    /**
     * With REDIS_URL: the replicas' shared cache, which then replaces the in-process one (with the cache off, it keeps
     * only the jobs' generations).
     */
    shared?: SharedJobStore,
  ) {
    this.shared = shared;
    this.jobs = options.enabled && !shared ? new LocalJobCache(options) : undefined;
  }

  getJob(credential: Credential, jobId: string, signal?: AbortSignal): Promise<FineTuneJobRecord> {
    const key = this.jobKey(credential, jobId);
    const cached = this.jobs?.get(key);
    if (this.jobs) this.events?.cacheLookup(cached ? 'hit' : 'miss');
    if (cached) return Promise.resolve(cached);
    const generation = this.generation;
    const sharedCache = this.shared;
    if (!sharedCache)
      return this.flight('job', `${key}\u0000get`, signal, (shared) =>
        this.upstream.getJob(credential, jobId, shared).then((job) => {
          if (generation === this.generation) this.jobs?.remember(key, job);
          return job;
        }),
      );
    // Concurrent reads of one job share the look-up in the replicas' cache too. The job's generation is read before
    // DashScope is asked: what comes back is stored only if no write changed it meanwhile, on any replica.
    return this.flight('job', `${key}\u0000get`, signal, async (shared) => {
      const { job: hit, generation: token } = await sharedCache.lookup(key, jobId);
      if (this.options.enabled) this.events?.cacheLookup(hit ? 'hit' : 'miss');
      const job = hit ?? (await this.upstream.getJob(credential, jobId, shared));
      if (token !== undefined) this.generations.set(job, token);
      if (!hit && generation === this.generation)
        sharedCache.remember([[key, job]], token === undefined ? undefined : { generation: token, jobId });
      return job;
    });
  }

  /**
   * The generation of the shared store the record was read under (a cached copy's, or the one noted before asking
   * DashScope); undefined without a shared store, or when it could not say. The response cache keeps an answer in
   * Redis only while every job in it still has the generation it was read under.
   */
  generationOf(job: FineTuneJobRecord): string | undefined {
    return this.generations.get(job);
  }

  listJobs(credential: Credential, params: ListJobsParams, signal?: AbortSignal): Promise<JobPageRecord> {
    const scope = this.scope(credential);
    const generation = this.generation;
    const key = `${scope}\u0000list\u0000${params.page}\u0000${params.pageSize}\u0000${params.model ?? ''}`;
    return this.flight('list', key, signal, async (shared) => {
      // Noted before DashScope is asked: a write to any job meanwhile, on any replica, and the page is not kept.
      const epoch = this.shared && this.options.enabled ? await this.shared.epoch() : undefined;
      const page = await this.upstream.listJobs(credential, params, shared);
      // A page carries whole jobs: the finished ones need not be asked for again.
      if (generation === this.generation) {
        const entries = page.jobs.map((job): [string, FineTuneJobRecord] => [`${scope}\u0000${job.id}`, job]);
        if (this.shared) this.shared.remember(entries, epoch === undefined ? undefined : { epoch });
        else for (const [entry, job] of entries) this.jobs?.remember(entry, job);
      }
      return page;
    });
  }

  getLogs(credential: Credential, jobId: string, window: { offset: number; limit: number }, signal?: AbortSignal): Promise<JobLogsRecord> {
    const key = `${this.jobKey(credential, jobId)}\u0000logs\u0000${window.offset}\u0000${window.limit}`;
    return this.flight('logs', key, signal, (shared) => this.upstream.getLogs(credential, jobId, window, shared));
  }

  listCheckpoints(credential: Credential, jobId: string, signal?: AbortSignal): Promise<CheckpointRecord[]> {
    const key = `${this.jobKey(credential, jobId)}\u0000checkpoints`;
    return this.flight('checkpoints', key, signal, (shared) => this.upstream.listCheckpoints(credential, jobId, shared));
  }

  /**
   * After a write to the job: forgets it, and makes reads already in flight start afresh and keep nothing. `everyone`
   * when DashScope took the write (or may have): every credential's copy goes, here and on every replica (a job id
   * names one job, whoever reads it; forgetting another's copy only costs it a miss). Otherwise only the caller's copy:
   * a write DashScope refused changed nothing, and must not let one tenant empty another's cache. Resolves once the
   * shared store applied it.
   */
  invalidate(credential: Credential, jobId: string, everyone = true): Promise<void> {
    this.generation++;
    const key = this.jobKey(credential, jobId);
    if (everyone) this.jobs?.forgetJob(jobId);
    else this.jobs?.forget(key);
    for (const flightKey of this.flights.keys()) {
      const [scope, id] = flightKey.split('\u0000');
      if (id === jobId && (everyone || `${scope}\u0000${id}` === key)) this.flights.delete(flightKey);
    }
    return this.shared?.invalidate(jobId, key, everyone) ?? Promise.resolve();
  }

  /** Entries in the cache (for tests and the bench's memory check). */
  get cachedJobs(): number {
    return this.jobs?.size ?? this.shared?.localSize ?? 0;
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
