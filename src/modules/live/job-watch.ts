import type { GraphQLError } from 'graphql';
import type { z } from 'zod';
import { apiKeyScope, credentialScope } from '../../upstream/credential-scope.js';
import type { Credential, DashScopeClient, FineTuneJobRecord } from '../../upstream/dashscope/index.js';
import { capReached } from '../../plugins/limits.js';
import { Channel } from './channel.js';
import { Poller } from './poller.js';
import { jobRecordShape } from './record-shapes.js';
import { inProcessPolling, type PollCoordination } from './poll-coordination.js';

export interface JobLogLine {
  jobId: string;
  lineNumber: number;
  text: string;
}

/** What a subscriber receives: a value, or the error that ends its stream. */
export type WatchEvent<T> = { value: T } | { error: GraphQLError };
export type JobEvent = WatchEvent<FineTuneJobRecord>;
export type LogEvent = { line: JobLogLine } | { error: GraphQLError };

export type WatchClient = Pick<DashScopeClient, 'getJob' | 'getLogs' | 'getDeployment'>;

/**
 * A kind of resource the pollers can follow, keyed by id: a job, a deployment, whatever a module declares. The pollers,
 * their sharing, back-off and caps are the same for every kind; only the read and the end rule differ.
 */
export interface Watched<T> {
  /** Part of the poller's key: one poller per (credential, kind, id). */
  name: string;
  read: (client: WatchClient, credential: Credential, id: string, signal: AbortSignal) => Promise<T>;
  /** No change can follow this value: the streams complete after it. */
  isFinal: (value: T) => boolean;
  /** Whether NOT_FOUND after `last` is the resource's normal end (a deployment gone after DELETING): streams complete. */
  goneIsEnd?: (last: T | undefined) => boolean;
  /**
   * The shape of a value for `id`, to check one received from another replica (Redis pub/sub: untrusted input). A kind
   * without it is never shared: each replica polls it for its own subscribers.
   */
  shape?: (id: string) => z.ZodType<T>;
}

/** Fine-tune jobs: final once terminal (and, while someone follows the logs, once every line was read). */
export const watchedJob: Watched<FineTuneJobRecord> = {
  name: 'job',
  read: (client, credential, id, signal) => client.getJob(credential, id, signal),
  isFinal: (job) => job.isTerminal,
  shape: jobRecordShape,
};

export interface JobWatchOptions {
  client: WatchClient;
  /** Time between two polls of a job. */
  intervalMs: number;
  /** Longest wait between attempts after upstream failures. */
  maxBackoffMs?: number;
  /** Pollers running at once; a subscriber that would start one more is refused (RATE_LIMITED, `maxPollers`). */
  maxPollers?: number;
  /**
   * Of those, the most one API key may hold (whatever its workspaces): past it, RATE_LIMITED with
   * `maxPollersPerCredential`, so that one tenant (or a made-up key) cannot take every poller.
   */
  maxPollersPerCredential?: number;
  /** Who polls when several replicas watch the same resource (Redis leases); without it, every poller polls. */
  coordination?: PollCoordination;
  /**
   * What a credential's share is counted by (default: its API key). The gateway's: the key once DashScope has answered
   * it, else the one share of every key DashScope has not answered (DashScopeClient.shareOf): made-up keys cost nothing.
   */
  shareOf?: (credential: Credential) => string;
}

/**
 * The gateway's registry of job pollers, made once per gateway: subscribers of the same job with the same credential
 * share one poller; different credentials never do (forward mode: a subscriber sees only what its key sees). A new
 * poller counts against the process's cap and against its API key's share of it.
 */
export class JobWatch {
  private readonly pollers = new Map<string, Poller<unknown>>();
  /** Pollers held by each API key (its hash), for the share; a key holding none is not listed. */
  private readonly shares = new Map<string, number>();
  private readonly options: Required<JobWatchOptions>;
  private closed = false;

  constructor(options: JobWatchOptions) {
    this.options = {
      maxBackoffMs: 30_000,
      maxPollers: Infinity,
      maxPollersPerCredential: Infinity,
      shareOf: apiKeyScope,
      ...options,
      coordination: options.coordination ?? inProcessPolling,
    };
  }

  /** The job at once (as the poller last read it, or after a first read), then each change; ends after a terminal state. */
  watchJob(credential: Credential, jobId: string): AsyncIterableIterator<JobEvent> {
    return this.watch(watchedJob, credential, jobId);
  }

  /** Any kind of resource: its value at once, then each change; ends after a final value (or its normal end). */
  watch<T>(kind: Watched<T>, credential: Credential, id: string): AsyncIterableIterator<WatchEvent<T>> {
    return this.closed ? ended() : this.poller(kind, credential, id).watchJob();
  }

  /** Each log line from `fromLine` on; ends once the job is terminal and every line was sent. */
  watchLogs(credential: Credential, jobId: string, fromLine: number): AsyncIterableIterator<LogEvent> {
    return this.closed ? ended() : this.poller(watchedJob, credential, jobId).watchLogs(fromLine);
  }

  /** Pollers running now (for tests and metrics). */
  get size(): number {
    return this.pollers.size;
  }

  /** The most pollers one API key holds now (for metrics: the share closest to its cap, without naming the key). */
  get largestShare(): number {
    return Math.max(0, ...this.shares.values());
  }

  close(): void {
    this.closed = true;
    for (const poller of [...this.pollers.values()]) poller.stop();
    this.options.coordination.close?.();
  }

  private poller<T>(kind: Watched<T>, credential: Credential, jobId: string): Poller<T> {
    const key = `${credentialScope(credential)}\u0000${kind.name}\u0000${jobId}`;
    const existing = this.pollers.get(key) as Poller<T> | undefined;
    if (existing?.active) return existing;
    // Joining a running poller costs no upstream calls; only a new one counts against the caps.
    const { maxPollers, maxPollersPerCredential } = this.options;
    if (this.pollers.size - (existing ? 1 : 0) >= maxPollers) {
      throw capReached('maxPollers', `The gateway watches at most ${maxPollers} resources at once; try again later.`);
    }
    const share = this.options.shareOf(credential);
    const held = this.shares.get(share) ?? 0;
    if (held - (existing ? 1 : 0) >= maxPollersPerCredential) {
      throw capReached(
        'maxPollersPerCredential',
        `One API key may have at most ${maxPollersPerCredential} jobs or deployments watched at once (keys DashScope has not answered yet share one such share): end a subscription or try again later.`,
      );
    }
    const poller: Poller<T> = new Poller<T>(
      this.options,
      kind,
      credential,
      jobId,
      () => {
        if (this.pollers.get(key) !== poller) return;
        this.pollers.delete(key);
        const left = (this.shares.get(share) ?? 1) - 1;
        if (left > 0) this.shares.set(share, left);
        else this.shares.delete(share);
      },
      this.options.coordination,
    );
    // A stopped poller still registered (it is on its way out) hands its place in the share to this one.
    if (!existing) this.shares.set(share, held + 1);
    this.pollers.set(key, poller as Poller<unknown>);
    return poller;
  }
}

function ended<T>(): AsyncIterableIterator<T> {
  const channel = new Channel<T>(
    () => undefined,
    0,
    () => undefined as never,
  );
  channel.end();
  return channel;
}
