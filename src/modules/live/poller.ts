import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import type { GraphQLError } from 'graphql';
import { GatewayError, toGatewayError } from '../../errors/index.js';
import { isRetryable } from '../../errors/upstream.js';
import { requestScope } from '../../logging/index.js';
import { UpstreamError, type Credential } from '../../upstream/dashscope/index.js';
import { Channel } from './channel.js';
import type { LogEvent, Watched, WatchClient, WatchEvent } from './job-watch.js';
import type { PollCoordination, PollTurn } from './poll-coordination.js';

/* One poller of one resource for one credential: its reads, back-off and subscribers. JobWatch (job-watch.ts) keeps the
   registry of them and the caps. */

export interface PollerOptions {
  client: WatchClient;
  /** Time between two polls. */
  intervalMs: number;
  /** Longest wait between attempts after upstream failures. */
  maxBackoffMs: number;
}

/**
 * Attempts a poller makes before its first successful read: past them its streams end with the last error. A poller
 * only DashScope (or the gateway's own rate limit) ever refused, with a made-up key or id, would otherwise hold its
 * slot for ever, retrying; one that got an answer once retries a failure that may clear for as long as it is watched.
 */
export const ATTEMPTS_BEFORE_FIRST_ANSWER = 5;
/**
 * Poll intervals a poller may go without any value, however its attempts go: one whose read hangs, or that waits on
 * another replica's poller that never gets an answer either (Redis leases), ends with UPSTREAM_TIMEOUT after this.
 */
export const INTERVALS_BEFORE_FIRST_ANSWER = 100;

/** Log lines read per upstream call (DashScope's maximum, docs/upstream.md §6.7). */
const LOG_PAGE = 1000;
/** Values a subscriber may fall behind by before it is dropped. */
const MAX_QUEUED = 10_000;

const overflowError = (): GatewayError =>
  new GatewayError('This subscription fell too far behind and was ended; subscribe again (for logs, from the last line received).', {
    code: 'INTERNAL_SERVER_ERROR',
    retryable: true,
  });

function asGraphQLError(error: unknown): GraphQLError {
  const converted = toGatewayError(error);
  if (converted instanceof GatewayError) return converted;
  return new GatewayError('Watching the job failed unexpectedly.', { code: 'INTERNAL_SERVER_ERROR', retryable: false });
}

interface LogSubscriber {
  channel: Channel<LogEvent>;
  /** The number of the next line this subscriber needs. */
  next: number;
  /** Whether it has every line below the poller's cursor (joining late, it first reads the ones it missed). */
  caughtUp: boolean;
}

/**
 * One poller per (credential, kind, id): it reads the resource (for a job, also the new log lines while someone wants
 * them) once per interval for every subscriber of it on this process. It starts with the first subscriber and stops with the
 * last, at a terminal state (once every log line was read), on an error that will not clear, or when the gateway
 * closes. A failure that may clear (5xx, 429, timeout, connection) is retried with exponential back-off.
 */
export class Poller<T> {
  private readonly jobSubscribers = new Set<Channel<WatchEvent<T>>>();
  private readonly logSubscribers = new Set<LogSubscriber>();
  private readonly controller = new AbortController();
  private last: T | undefined;
  /** The log lines read so far by the shared polls; undefined while nobody watches the logs. */
  private logCursor: number | undefined;
  private finished = false;
  /** Whether a read (here or by another replica) ever succeeded: until then, attempts and time are bounded. */
  private answered = false;
  private readonly firstAnswer: NodeJS.Timeout;
  private readonly turn: PollTurn<T>;

  constructor(
    private readonly options: PollerOptions,
    private readonly kind: Watched<T>,
    private readonly credential: Credential,
    readonly jobId: string,
    private readonly onStop: () => void,
    coordination: PollCoordination,
  ) {
    this.turn = coordination.join(kind, credential, jobId, (value) => this.receive(value));
    const waitMs = options.intervalMs * INTERVALS_BEFORE_FIRST_ANSWER;
    this.firstAnswer = setTimeout(() => this.noAnswer(waitMs), waitMs).unref();
    // Shared by every subscriber of the job: its log lines are nobody's request (not the first subscriber's).
    void requestScope.exit(() => this.run());
  }

  get active(): boolean {
    return !this.finished && !this.controller.signal.aborted;
  }

  watchJob(): Channel<WatchEvent<T>> {
    const channel = new Channel<WatchEvent<T>>(
      () => this.release(() => this.jobSubscribers.delete(channel)),
      MAX_QUEUED,
      () => ({
        error: overflowError(),
      }),
    );
    this.jobSubscribers.add(channel);
    // A late subscriber gets the state the poller already holds, without another upstream call.
    if (this.last !== undefined) channel.push({ value: this.last });
    return channel;
  }

  watchLogs(fromLine: number): Channel<LogEvent> {
    const subscriber: LogSubscriber = {
      channel: new Channel<LogEvent>(
        () => this.release(() => this.logSubscribers.delete(subscriber)),
        MAX_QUEUED,
        () => ({
          error: overflowError(),
        }),
      ),
      next: fromLine,
      caughtUp: true,
    };
    this.logSubscribers.add(subscriber);
    if (this.logCursor === undefined) this.logCursor = fromLine;
    else if (fromLine < this.logCursor) {
      subscriber.caughtUp = false;
      void this.catchUp(subscriber);
    }
    return subscriber.channel;
  }

  /** Ends every stream and stops polling (gateway closing). */
  stop(): void {
    for (const channel of this.jobSubscribers) channel.end();
    for (const { channel } of this.logSubscribers) channel.end();
    this.halt();
  }

  private release(remove: () => void): void {
    remove();
    if (this.logSubscribers.size === 0) this.logCursor = undefined;
    if (this.jobSubscribers.size === 0 && this.logSubscribers.size === 0) this.halt();
  }

  private halt(): void {
    clearTimeout(this.firstAnswer);
    if (!this.controller.signal.aborted) this.controller.abort();
    this.turn.leave();
    this.onStop();
  }

  private async run(): Promise<void> {
    try {
      while (this.active && !(await this.retrying(() => this.tick()))) await this.pause(this.options.intervalMs);
    } catch (error) {
      if (this.controller.signal.aborted) return;
      const failure = asGraphQLError(error);
      if (this.kind.goneIsEnd?.(this.last) && failure.extensions.code === 'NOT_FOUND') {
        this.finished = true;
        this.stop();
        return;
      }
      this.fail(failure);
    }
  }

  /** Every stream ends with `failure`, and polling stops. */
  private fail(failure: GraphQLError): void {
    this.onStop();
    for (const channel of this.jobSubscribers) endWith(channel, { error: failure });
    for (const { channel } of this.logSubscribers) endWith(channel, { error: failure });
    this.halt();
  }

  private gotAnswer(): void {
    this.answered = true;
    clearTimeout(this.firstAnswer);
  }

  /** No value yet after `waitMs`: the reads in flight are abandoned, and the streams end. */
  private noAnswer(waitMs: number): void {
    if (this.answered || !this.active) return;
    const seconds = Math.round(waitMs / 100) / 10;
    this.fail(
      new GatewayError(
        `DashScope has not answered about ${this.kind.name} "${this.jobId}" in the ${seconds} s since it was first watched; subscribe again later.`,
        { code: 'UPSTREAM_TIMEOUT', retryable: true },
      ),
    );
  }

  /**
   * One turn: a poll when this poller's turn says so (in-process: always; with Redis: it holds the lease, or Redis is
   * unavailable). Otherwise another replica polls and its values arrive through `receive`. Log lines are not shared:
   * while someone here follows them, this poller reads them (and the job) itself. True once done.
   */
  private async tick(): Promise<boolean> {
    const mine = await this.turn.shouldPoll();
    if (!this.active) return true;
    if (!mine && this.logSubscribers.size === 0) return false;
    return this.poll(mine);
  }

  /** A value another replica's poller read (validated by the coordination): delivered as if read here. */
  private receive(value: T): void {
    this.gotAnswer();
    if (!this.active || isDeepStrictEqual(value, this.last)) return;
    this.last = value;
    for (const channel of this.jobSubscribers) channel.push({ value });
    if (!this.kind.isFinal(value) || this.logSubscribers.size > 0) return;
    this.finished = true;
    for (const channel of this.jobSubscribers) channel.end();
    this.halt();
  }

  /** One poll; true once the resource is final (a job: and every log line was delivered). */
  private async poll(share: boolean): Promise<boolean> {
    const value = await this.kind.read(this.options.client, this.credential, this.jobId, this.controller.signal);
    this.gotAnswer();
    if (!isDeepStrictEqual(value, this.last)) {
      this.last = value;
      for (const channel of this.jobSubscribers) channel.push({ value });
    }
    // Every read, changed or not: a replica that just took over must share the value it found.
    if (share) this.turn.share(value);
    // Logs are read after the job: once it reads terminal, the log that follows is complete.
    const logsComplete = await this.readNewLogLines();
    if (!this.kind.isFinal(value) || !logsComplete) return false;
    // No new subscriber may join a poller that is done: the next one starts afresh.
    this.finished = true;
    this.onStop();
    // Not halted: a log subscriber may still be catching up. The lease is released at once, though.
    this.turn.leave();
    for (const channel of this.jobSubscribers) channel.end();
    for (const subscriber of this.logSubscribers) if (subscriber.caughtUp) subscriber.channel.end();
    return true;
  }

  /** Reads the lines after the cursor for every log subscriber; true when it reached the end of the log. */
  private async readNewLogLines(): Promise<boolean> {
    for (;;) {
      const offset = this.logCursor;
      if (offset === undefined) return true;
      const page = await this.options.client.getLogs(this.credential, this.jobId, { offset, limit: LOG_PAGE }, this.controller.signal);
      // The subscribers changed meanwhile (all left, someone joined afresh): the next poll reads again.
      if (this.logCursor !== offset) return false;
      this.logCursor = offset + page.lines.length;
      for (const subscriber of this.logSubscribers) this.deliver(subscriber, offset, page.lines);
      if (page.lines.length < LOG_PAGE || this.logCursor >= page.total) return true;
    }
  }

  /** A subscriber that joined with an earlier `fromLine` reads the lines before the cursor itself, then shares the polls. */
  private async catchUp(subscriber: LogSubscriber): Promise<void> {
    try {
      while (this.logCursor !== undefined && subscriber.next < this.logCursor) {
        const offset = subscriber.next;
        const limit = Math.min(LOG_PAGE, this.logCursor - offset);
        const page = await this.retrying(() =>
          this.options.client.getLogs(this.credential, this.jobId, { offset, limit }, this.controller.signal),
        );
        if (page.lines.length === 0) break;
        this.deliver(subscriber, offset, page.lines);
      }
      subscriber.caughtUp = true;
      if (this.finished) subscriber.channel.end();
    } catch (error) {
      if (!this.controller.signal.aborted) endWith(subscriber.channel, { error: asGraphQLError(error) });
    }
  }

  /** Lines arrive from the shared polls and from a catch-up; each subscriber takes only the next one it needs. */
  private deliver(subscriber: LogSubscriber, offset: number, lines: string[]): void {
    lines.forEach((text, index) => {
      if (offset + index !== subscriber.next) return;
      subscriber.channel.push({ line: { jobId: this.jobId, lineNumber: subscriber.next, text } });
      subscriber.next++;
    });
  }

  /** `task`, again after a failure that may clear, waiting longer each time; any other failure is thrown. */
  private async retrying<T>(task: () => Promise<T>): Promise<T> {
    for (let failures = 0; ; failures++) {
      try {
        return await task();
      } catch (error) {
        const retryable = error instanceof UpstreamError && isRetryable(error.failure);
        if (!retryable || this.controller.signal.aborted) throw error;
        if (!this.answered && failures + 1 >= ATTEMPTS_BEFORE_FIRST_ANSWER) throw error;
        const backoff = Math.max(this.options.intervalMs * 2 ** (failures + 1), (error.failure.retryAfterSeconds ?? 0) * 1000);
        await this.pause(Math.min(backoff, this.options.maxBackoffMs));
      }
    }
  }

  private pause(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: this.controller.signal }).catch(() => undefined);
  }
}

function endWith<T>(channel: Channel<T>, value: T): void {
  channel.push(value);
  channel.end();
}
