import DataLoader from 'dataloader';
import { fromUpstreamError, unauthenticated } from './errors.js';
import { UpstreamError } from './upstream/dashscope/index.js';
import type { PriceList } from './modules/fine-tune-job/derived.js';
import type {
  CheckpointRecord,
  Credential,
  DashScopeClient,
  FineTuneJobRecord,
  JobLogsRecord,
  ListJobsParams,
  JobPageRecord,
} from './upstream/dashscope/index.js';

export interface LogsKey {
  jobId: string;
  offset: number;
  limit: number;
}

/** What every resolver sees. Built per request: nothing request-scoped outlives it. */
export interface GatewayContext {
  loaders: {
    job: DataLoader<string, FineTuneJobRecord>;
    checkpoints: DataLoader<string, CheckpointRecord[]>;
    logs: DataLoader<LogsKey, JobLogsRecord, string>;
  };
  listJobs(params: ListJobsParams): Promise<JobPageRecord>;
  /** Forgets every copy of the job this operation holds, so that the next read goes upstream (after a mutation). */
  invalidateJob(id: string): void;
  prices: PriceList;
  now(): number;
}

export interface ContextDeps {
  client: DashScopeClient;
  /** Null in forward mode when the request carries no bearer token: every upstream call then fails UNAUTHENTICATED. */
  credential: Credential | null;
  batchConcurrency: number;
  prices: PriceList;
  signal?: AbortSignal;
  now?: () => number;
}

export function createContext(deps: ContextDeps): GatewayContext {
  const { client, signal } = deps;
  const credential = (): Credential => {
    if (!deps.credential) throw unauthenticated('Send your DashScope API key as "Authorization: Bearer <key>".');
    return deps.credential;
  };
  const limit = concurrencyLimit(deps.batchConcurrency);
  // Every upstream call of the operation: bounded fan-out, failures already in their GraphQL form.
  const upstream = <T>(task: () => Promise<T>): Promise<T> =>
    limit(task).catch((error: unknown) => {
      throw error instanceof UpstreamError ? fromUpstreamError(error) : error;
    });
  // One batch function shape for every per-key upstream read: an Error in place of each failure.
  const batch =
    <K, V>(load: (key: K) => Promise<V>) =>
    (keys: readonly K[]) =>
      Promise.all(keys.map((key) => upstream(() => load(key)).catch((error: unknown) => error as Error)));

  const loaders: GatewayContext['loaders'] = {
    job: new DataLoader(batch((id: string) => client.getJob(credential(), id, signal))),
    checkpoints: new DataLoader(batch((id: string) => client.listCheckpoints(credential(), id, signal))),
    logs: new DataLoader(
      batch((key: LogsKey) => client.getLogs(credential(), key.jobId, key, signal)),
      { cacheKeyFn: (key) => `${key.jobId}\u0000${key.offset}\u0000${key.limit}` },
    ),
  };

  return {
    loaders,
    invalidateJob: (id) => {
      loaders.job.clear(id);
      loaders.checkpoints.clear(id);
      loaders.logs.clearAll();
    },
    listJobs: (params) => upstream(() => client.listJobs(credential(), params, signal)),
    prices: deps.prices,
    now: deps.now ?? Date.now,
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
