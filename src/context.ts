import DataLoader from 'dataloader';
import { toGatewayError, unauthenticated, type GatewayError } from './errors/index.js';
import { upstreamCallBudget } from './plugins/use-fan-out-budget.js';
import type { JobReader, UpstreamReader } from './upstream/job-reader.js';
import type { PriceList } from './modules/fine-tune-job/derived.js';
import type { Idempotency } from './modules/fine-tune-job/idempotency.js';
import type { JobWatch } from './modules/live/job-watch.js';
import { DEFAULT_UPLOAD_RULES, type UploadRules } from './modules/training-file/upload.js';
import { UploadSlots } from './modules/training-file/upload-slots.js';
import type {
  Credential,
  DashScopeClient,
  DeploymentRecord,
  FineTuneJobRecord,
  ListJobsParams,
  JobPageRecord,
} from './upstream/dashscope/index.js';

/** One kind of upstream read by key, as a module declares it for `GatewayContext.loader`. */
export interface UpstreamRead<K, V> {
  /** Names the loader within the operation: one per kind of read. */
  name: string;
  /** The shared reader (cache of finished jobs, single-flight) for the reads it knows; the client for any other. */
  read: (
    upstream: { reader: UpstreamReader; client: DashScopeClient },
    credential: Credential,
    key: K,
    signal: AbortSignal | undefined,
  ) => Promise<V>;
  /** For keys that are not strings: a string that is equal for equal keys. */
  cacheKey?: (key: K) => string;
}

/** What every resolver sees. Built per request: nothing request-scoped outlives it. */
export interface GatewayContext {
  loaders: {
    job: DataLoader<string, FineTuneJobRecord>;
  };
  /**
   * The operation's loader for one kind of upstream read (a module's, e.g. a job's checkpoints), made on first use:
   * through the shared reader, batched, de-duplicated and counted against the fan-out budget like `loaders.job`.
   * A module's new upstream read needs no change here.
   */
  loader<K, V>(read: UpstreamRead<K, V>): DataLoader<K, V, unknown>;
  listJobs(params: ListJobsParams): Promise<JobPageRecord>;
  /**
   * After a write to the job or a live update of it: forgets every copy of the job this operation holds, so that the
   * next read goes upstream, and the gateway's copies: every credential's (`everyone`, the default: DashScope took the
   * write), or only the caller's (it refused it; a live update). Resolves once the shared caches applied it.
   */
  invalidateJob(id: string, everyone?: boolean): Promise<void>;
  prices: PriceList;
  now(): number;
  /** A line for operators (the gateway's logger, redacted). */
  warn(message: string): void;
  /** The caller's credential, for writes and live updates; UNAUTHENTICATED in forward mode without a bearer token. */
  credential(): Credential;
  /** The upstream client, for writes (never retried, never cached); reads go through the loaders. */
  client: DashScopeClient;
  /** Gateway-wide: what each idempotency key created in the last 10 minutes. */
  idempotency: Idempotency<FineTuneJobRecord>;
  /** Gateway-wide: what each idempotency key of createDeployment created in the last 10 minutes. */
  deploymentIdempotency: Idempotency<DeploymentRecord>;
  /** Gateway-wide: the job pollers shared by every subscriber. */
  live: JobWatch;
  /** Aborts when the client goes away or the operation deadline passes: a write that must answer by then races it. */
  signal: AbortSignal | undefined;
  /** What an uploaded training file may be (config.uploads). */
  uploads: UploadRules;
  /** Gateway-wide: the uploads in flight, in total and per credential. */
  uploadSlots: UploadSlots;
}

export interface ContextDeps {
  client: DashScopeClient;
  /** Gateway-wide, made once by createGateway: what idempotency keys created, and the pollers shared by subscribers. */
  idempotency: Idempotency<FineTuneJobRecord>;
  deploymentIdempotency: Idempotency<DeploymentRecord>;
  live: JobWatch;
  /** Every read goes through the gateway's shared reader (cache of finished jobs, single-flight); writes use `client`. */
  reader: JobReader;
  /** Per-operation batching and de-duplication; off only to measure what they save. Default on. */
  dataloaders?: boolean;
  /**
   * Null in forward mode when the request carries no bearer token: every upstream call then fails UNAUTHENTICATED. An
   * error when the request's credential headers are malformed: every upstream call fails with it.
   */
  credential: Credential | GatewayError | null;
  batchConcurrency: number;
  /** The fan-out budget: upstream calls this operation may make; the ones beyond fail BAD_USER_INPUT. */
  maxUpstreamCalls?: number;
  prices: PriceList;
  /** Aborts when the client goes away or the operation deadline passes (src/plugins/use-operation-deadline.ts). */
  signal?: AbortSignal;
  now?: () => number;
  warn?: (message: string) => void;
  uploads?: UploadRules;
  /** Gateway-wide, made once by createGateway (config.uploads); unbounded when not given. */
  uploadSlots?: UploadSlots;
  /**
   * After a write DashScope took (or may have), with a valid credential: whatever else keeps copies of the job forgets
   * them, for every credential.
   */
  onJobChanged?: (jobId: string) => void;
}

export function createContext(deps: ContextDeps): GatewayContext {
  const { reader, signal } = deps;
  const credential = (): Credential => {
    if (!deps.credential) throw unauthenticated('Send your DashScope API key as "Authorization: Bearer <key>".');
    if (deps.credential instanceof Error) throw deps.credential;
    return deps.credential;
  };
  const limit = concurrencyLimit(deps.batchConcurrency);
  const budget = upstreamCallBudget(deps.maxUpstreamCalls ?? Infinity);
  // Every upstream call of the operation: counted against the budget, bounded fan-out, failures in GraphQL form.
  const upstream = <T>(task: () => Promise<T>): Promise<T> => {
    const overBudget = budget.take();
    if (overBudget) return Promise.reject(overBudget);
    return limit(task).catch((error: unknown) => {
      throw toGatewayError(error, signal);
    });
  };
  // One batch function shape for every per-key upstream read: an Error in place of each failure.
  const batch =
    <K, V>(load: (key: K) => Promise<V>) =>
    (keys: readonly K[]) =>
      Promise.all(keys.map((key) => upstream(() => load(key)).catch((error: unknown) => error as Error)));

  const loaderOptions = deps.dataloaders === false ? { batch: false, cache: false } : {};
  const loaders: GatewayContext['loaders'] = {
    job: new DataLoader(
      batch((id: string) => reader.getJob(credential(), id, signal)),
      loaderOptions,
    ),
  };
  const moduleLoaders = new Map<string, DataLoader<unknown, unknown, unknown>>();
  const loader = <K, V>({ name, read, cacheKey }: UpstreamRead<K, V>): DataLoader<K, V, unknown> => {
    let made = moduleLoaders.get(name) as DataLoader<K, V, unknown> | undefined;
    if (!made) {
      made = new DataLoader<K, V, unknown>(
        batch((key: K) => read({ reader, client: deps.client }, credential(), key, signal)),
        cacheKey ? { ...loaderOptions, cacheKeyFn: cacheKey } : loaderOptions,
      );
      moduleLoaders.set(name, made);
    }
    return made;
  };

  return {
    loaders,
    loader,
    invalidateJob: (id, everyone = true) => {
      loaders.job.clear(id);
      // What a module read of the job (checkpoints, logs) is keyed by is the module's: forget every one.
      for (const made of moduleLoaders.values()) made.clearAll();
      if (!deps.credential || deps.credential instanceof Error) return Promise.resolve();
      const done = reader.invalidate(deps.credential, id, everyone);
      if (everyone) deps.onJobChanged?.(id);
      return done;
    },
    listJobs: (params) => upstream(() => reader.listJobs(credential(), params, signal)),
    prices: deps.prices,
    now: deps.now ?? Date.now,
    warn: deps.warn ?? (() => {}),
    credential,
    client: deps.client,
    idempotency: deps.idempotency,
    deploymentIdempotency: deps.deploymentIdempotency,
    live: deps.live,
    signal,
    uploads: deps.uploads ?? DEFAULT_UPLOAD_RULES,
    uploadSlots: deps.uploadSlots ?? new UploadSlots(Infinity, Infinity),
  };
}

/** At most `max` of the operation's upstream calls in flight at once; the rest wait their turn. */
function concurrencyLimit(max: number) {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}
