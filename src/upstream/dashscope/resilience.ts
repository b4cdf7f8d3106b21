import { setTimeout as pause } from 'node:timers/promises';
import { deadlinePassed } from '../../errors/deadline.js';
import { isRetryable } from '../../errors/upstream.js';
import { UpstreamError, type UpstreamFailure } from './errors.js';

export interface ResilienceOptions {
  /** Retries after the first attempt; idempotent requests (GET) only. */
  retries: number;
  /** Back-off before retry n is a random delay in [0, base × 2^n) ("full jitter"). */
  retryBaseMs: number;
  /** Longest wait before a retry. A longer `Retry-After` is not waited for: the call fails at once, carrying it. */
  retryMaxAfterMs: number;
  /** Retries earned per request (token bucket): 0.1 lets retries add at most 10 % to the upstream's load. */
  retryBudgetRatio: number;
  /** Retries the bucket holds when full (and at start): the burst allowed before the ratio applies. */
  retryBudgetMin: number;
  /** Consecutive upstream faults (5xx, connection errors, timeouts) that open the circuit breaker. */
  breakerFailures: number;
  /** How long an open breaker fails calls at once before letting one probe through. */
  breakerOpenMs: number;
  /** Upstream requests in flight at once (bulkhead); more wait in a queue of at most `maxQueued`, then fail. */
  maxConcurrent: number;
  maxQueued: number;
  now?: () => number;
  random?: () => number;
  /** Hears what an operator should know: each upstream fault (and whether it is retried) and the breaker's changes. */
  onEvent?: (event: ResilienceEvent) => void;
}

export type ResilienceEvent =
  | { type: 'fault'; failure: UpstreamFailure; retrying: boolean; endpoint?: string | undefined }
  | { type: 'breaker'; state: 'open' | 'closed' };

export const DEFAULT_RESILIENCE: ResilienceOptions = {
  retries: 2,
  retryBaseMs: 100,
  retryMaxAfterMs: 2_000,
  retryBudgetRatio: 0.1,
  retryBudgetMin: 10,
  breakerFailures: 10,
  breakerOpenMs: 5_000,
  maxConcurrent: 64,
  maxQueued: 1_000,
};

export interface GuardedCall extends Pick<UpstreamFailure, 'subject' | 'action'> {
  /** Only idempotent calls are retried: a mutation that may have reached the upstream is never sent twice. */
  idempotent: boolean;
  /** The operation's signal: the caller going away or the operation deadline passing. */
  signal?: AbortSignal | undefined;
  /** The route template (`GET /fine-tunes/{id}`), passed on in fault events for logs and metrics. */
  endpoint?: string | undefined;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * The protections around every upstream request of one origin: retries within a budget, a circuit breaker and a
 * bulkhead. They sit in front of the upstream, so that a DashScope brown-out costs it no extra load and costs our
 * callers no long waits.
 */
export class Resilience {
  private readonly options: Required<ResilienceOptions>;
  private readonly budget: RetryBudget;
  private readonly breaker: CircuitBreaker;
  private readonly bulkhead: Bulkhead;

  constructor(options: Partial<ResilienceOptions> = {}) {
    this.options = { now: Date.now, random: Math.random, onEvent: () => {}, ...DEFAULT_RESILIENCE, ...options };
    this.budget = new RetryBudget(this.options.retryBudgetRatio, this.options.retryBudgetMin);
    this.breaker = new CircuitBreaker(this.options.breakerFailures, this.options.breakerOpenMs, this.options.now);
    this.bulkhead = new Bulkhead(this.options.maxConcurrent);
  }

  /** For logs and tests. */
  state(): { breaker: BreakerState; active: number; queued: number } {
    return { breaker: this.breaker.state(), active: this.bulkhead.active, queued: this.bulkhead.queued };
  }

  async run<T>(call: GuardedCall, send: () => Promise<T>): Promise<T> {
    this.budget.earn();
    for (let retry = 0; ; retry++) {
      try {
        return await this.attempt(call, send);
      } catch (error) {
        const delay = call.idempotent && retry < this.options.retries ? this.retryDelay(error, retry) : undefined;
        const retrying = delay !== undefined && this.budget.spend();
        if (isUpstreamFault(error) || isBadResponse(error))
          this.options.onEvent({ type: 'fault', failure: (error as UpstreamError).failure, retrying, endpoint: call.endpoint });
        if (!retrying) throw error;
        await pause(delay, undefined, { signal: call.signal }).catch(() => {
          throw aborted(call);
        });
      }
    }
  }

  private async attempt<T>(call: GuardedCall, send: () => Promise<T>): Promise<T> {
    if (call.signal?.aborted) throw aborted(call);
    // An open breaker fails before queueing; admission is decided again once a slot is free.
    if (this.breaker.openForMs() > 0) throw this.shed(call, 'the circuit breaker is open', this.breaker.openForMs());
    if (!this.bulkhead.tryEnter()) {
      if (this.bulkhead.queued >= this.options.maxQueued) throw this.shed(call, 'too many upstream requests are waiting');
      await this.bulkhead.wait(call.signal).catch(() => {
        throw aborted(call);
      });
    }
    try {
      const admission = this.breaker.admit();
      if (admission === 'refused') throw this.shed(call, 'the circuit breaker is open', this.breaker.openForMs());
      const probe = admission === 'probe';
      try {
        const result = await send();
        this.succeeded();
        return result;
      } catch (error) {
        // The caller left or the deadline passed: that says nothing about the upstream's health.
        if (call.signal?.aborted) {
          this.breaker.abandoned(probe);
          throw aborted(call);
        }
        if (!isUpstreamFault(error)) this.succeeded();
        else if (this.breaker.failed(probe)) this.options.onEvent({ type: 'breaker', state: 'open' });
        throw error;
      }
    } finally {
      this.bulkhead.leave();
    }
  }

  private succeeded(): void {
    if (this.breaker.succeeded()) this.options.onEvent({ type: 'breaker', state: 'closed' });
  }

  /** Milliseconds to wait before retrying, or undefined when this failure is not worth retrying. */
  private retryDelay(error: unknown, retry: number): number | undefined {
    if (!(error instanceof UpstreamError) || !isWorthRetrying(error.failure)) return undefined;
    const { retryBaseMs, retryMaxAfterMs, random } = this.options;
    const backoff = random() * Math.min(retryMaxAfterMs, retryBaseMs * 2 ** retry);
    const retryAfterSeconds = error.failure.retryAfterSeconds;
    if (retryAfterSeconds === undefined) return backoff;
    const retryAfterMs = retryAfterSeconds * 1000;
    return retryAfterMs > retryMaxAfterMs ? undefined : Math.max(retryAfterMs, backoff);
  }

  private shed(call: GuardedCall, detail: string, retryAfterMs?: number): UpstreamError {
    return new UpstreamError({
      kind: 'unavailable',
      subject: call.subject,
      action: call.action,
      detail,
      shed: true,
      ...(retryAfterMs !== undefined && retryAfterMs > 0 && { retryAfterSeconds: Math.ceil(retryAfterMs / 1000) }),
    });
  }
}

/**
 * Whether this client retries a failure itself: a retryable one (the one definition, src/errors/upstream.ts), less
 * what a retry here would only waste: a call the gateway shed itself (breaker open, queue full), and a timeout after
 * the request was sent (that time is spent; a connect timeout is not).
 */
export function isWorthRetrying(f: UpstreamFailure): boolean {
  if (f.shed || (f.kind === 'timeout' && f.detail !== 'UND_ERR_CONNECT_TIMEOUT')) return false;
  return isRetryable(f);
}

/** What counts against the upstream's health: it failed to answer, or answered 5xx. A 4xx or 429 is an answer. */
function isUpstreamFault(error: unknown): boolean {
  if (!(error instanceof UpstreamError) || error.failure.shed) return false;
  const f = error.failure;
  return f.kind === 'unavailable' || f.kind === 'timeout' || (f.kind === 'http' && (f.httpStatus ?? 0) >= 500);
}

/** An answer the client could not read: not counted against the upstream's health, but an operator must hear of it. */
function isBadResponse(error: unknown): boolean {
  return error instanceof UpstreamError && error.failure.kind === 'bad-response';
}

/** The deadline passing is UPSTREAM_TIMEOUT; the caller going away is an abort nobody will see. */
function aborted(call: GuardedCall): Error {
  if (deadlinePassed(call.signal)) {
    return new UpstreamError({ kind: 'timeout', subject: call.subject, action: call.action, detail: 'the operation deadline passed' });
  }
  const reason: unknown = call.signal?.reason;
  return reason instanceof Error ? reason : new DOMException('The operation was aborted', 'AbortError');
}

/** Each request earns `ratio` of a retry; each retry spends one. So retries stay a fraction of requests. */
class RetryBudget {
  private balance: number;
  private readonly capacity: number;

  constructor(
    private readonly ratio: number,
    min: number,
  ) {
    this.capacity = Math.max(min, 1);
    this.balance = min;
  }

  earn(): void {
    this.balance = Math.min(this.capacity, this.balance + this.ratio);
  }

  spend(): boolean {
    if (this.balance < 1) return false;
    this.balance -= 1;
    return true;
  }
}

class CircuitBreaker {
  private consecutiveFailures = 0;
  private openedAt: number | undefined;
  private probing = false;

  constructor(
    private readonly threshold: number,
    private readonly openMs: number,
    private readonly now: () => number,
  ) {}

  state(): BreakerState {
    if (this.openedAt === undefined) return 'closed';
    return this.openForMs() > 0 || this.probing ? 'open' : 'half-open';
  }

  /** Remaining time before a probe may go, 0 when closed or due. */
  openForMs(): number {
    return this.openedAt === undefined ? 0 : Math.max(0, this.openedAt + this.openMs - this.now());
  }

  admit(): 'closed' | 'probe' | 'refused' {
    if (this.openedAt === undefined) return 'closed';
    if (this.openForMs() > 0 || this.probing) return 'refused';
    this.probing = true;
    return 'probe';
  }

  /** Any answer proves the upstream answers. True when this closed an open breaker. */
  succeeded(): boolean {
    const wasOpen = this.openedAt !== undefined;
    this.consecutiveFailures = 0;
    this.openedAt = undefined;
    this.probing = false;
    return wasOpen;
  }

  /** True when this opened a closed breaker. */
  failed(probe: boolean): boolean {
    if (probe) {
      this.probing = false;
      this.openedAt = this.now();
      return false;
    }
    if (this.openedAt !== undefined) return false; // a call sent before the breaker opened
    if (++this.consecutiveFailures < this.threshold) return false;
    this.openedAt = this.now();
    return true;
  }

  abandoned(probe: boolean): void {
    if (probe) this.probing = false;
  }
}

class Bulkhead {
  active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly max: number) {}

  get queued(): number {
    return this.waiting.length;
  }

  tryEnter(): boolean {
    if (this.active >= this.max) return false;
    this.active++;
    return true;
  }

  /** Resolves once a slot is handed over (already counted as active); rejects if the signal aborts first. */
  wait(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const index = this.waiting.indexOf(handOver);
        if (index !== -1) this.waiting.splice(index, 1);
        reject(signal?.reason as Error);
      };
      const handOver = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      this.waiting.push(handOver);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  leave(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}
