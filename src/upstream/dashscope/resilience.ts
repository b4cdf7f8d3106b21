import { setTimeout as pause } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import { deadlinePassed } from '../../errors/deadline.js';
import { isRetryable } from '../../errors/upstream.js';
import { Bulkhead } from './bulkhead.js';
import { CircuitBreaker, CredentialBreakers, type BreakerState } from './breaker.js';
import { UpstreamError, type UpstreamFailure } from './errors.js';

export type { BreakerState } from './breaker.js';

/** What every key DashScope has not answered yet shares (tenants): one share of the bulkhead, no say in the shared breaker. */
const UNKNOWN_KEYS = 'keys DashScope has not answered';
/** Keys DashScope answered that are remembered; the least recent is forgotten past it (back among the unknown ones). */
const MAX_KNOWN_KEYS = 10_000;

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
  /** Of those, what one credential may hold in flight and waiting (default: all of them). */
  maxConcurrentPerCredential?: number;
  maxQueuedPerCredential?: number;
  /**
   * Several tenants share the upstream (forward mode): each credential gets a breaker of its own, and one credential's
   * faults count for at most half of the shared breaker's threshold (src/upstream/dashscope/breaker.ts). A key
   * DashScope has not yet answered (anything but 401 or 403) is unknown: made-up keys cost nothing to make, so all of
   * them share one bulkhead share, and their faults count toward their own breakers only.
   */
  tenants?: boolean;
  now?: () => number;
  random?: () => number;
  /** Hears what an operator should know: each upstream fault (and whether it is retried) and the breaker's changes. */
  onEvent?: (event: ResilienceEvent) => void;
}

export type ResilienceEvent =
  | { type: 'fault'; failure: UpstreamFailure; retrying: boolean; endpoint?: string | undefined }
  /** `credential`: one credential's own breaker (tenants), not the shared one. */
  | { type: 'breaker'; state: 'open' | 'closed'; credential?: boolean };

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
  /** Whose call it is (a credential's scope, never the key): the bulkhead's and the breaker's shares are counted by it. */
  credential?: string | undefined;
  /** False for a call that holds a slot of a pool of its own (an upload's): it takes no bulkhead slot. */
  bulkhead?: boolean;
}

/**
 * The protections around every upstream request of one origin: retries within a budget, a circuit breaker and a
 * bulkhead. They sit in front of the upstream, so that a DashScope brown-out costs it no extra load and costs our
 * callers no long waits.
 */
export class Resilience {
  private readonly options: Required<ResilienceOptions>;
  private readonly budget: RetryBudget;
  private readonly breaker: CircuitBreaker;
  private readonly credentialBreakers: CredentialBreakers | undefined;
  private readonly bulkhead: Bulkhead;
  private readonly knownKeys: LRUCache<string, true> | undefined;

  constructor(options: Partial<ResilienceOptions> = {}) {
    const o = { now: Date.now, random: Math.random, onEvent: () => {}, tenants: false, ...DEFAULT_RESILIENCE, ...options };
    this.options = {
      ...o,
      maxConcurrentPerCredential: o.maxConcurrentPerCredential ?? o.maxConcurrent,
      maxQueuedPerCredential: o.maxQueuedPerCredential ?? o.maxQueued,
    };
    const { breakerFailures, breakerOpenMs, now, tenants } = this.options;
    this.budget = new RetryBudget(this.options.retryBudgetRatio, this.options.retryBudgetMin);
    this.breaker = new CircuitBreaker(breakerFailures, breakerOpenMs, now, tenants ? Math.ceil(breakerFailures / 2) : breakerFailures);
    this.credentialBreakers = tenants ? new CredentialBreakers(breakerFailures, breakerOpenMs, now) : undefined;
    this.bulkhead = new Bulkhead(this.options.maxConcurrent, this.options.maxConcurrentPerCredential);
    this.knownKeys = tenants ? new LRUCache({ max: MAX_KNOWN_KEYS }) : undefined;
  }

  /** Whether DashScope has answered this credential (a scope) other than 401 or 403; always with one tenant. */
  knows(credential: string): boolean {
    return !this.knownKeys || this.knownKeys.has(credential);
  }

  /** What the credential's shares are counted by: itself once DashScope knows it, else the one share of unknown keys. */
  shareOf(credential: string): string {
    return this.knows(credential) ? credential : UNKNOWN_KEYS;
  }

  /** For logs, metrics and tests. `credentialBreakersOpen`: credentials whose own breaker is open (tenants only). */
  state(): { breaker: BreakerState; credentialBreakersOpen: number; active: number; queued: number } {
    return {
      breaker: this.breaker.state(),
      credentialBreakersOpen: this.credentialBreakers?.open() ?? 0,
      active: this.bulkhead.active,
      queued: this.bulkhead.queued,
    };
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
    const credential = call.credential ?? '';
    if (call.signal?.aborted) throw aborted(call);
    // An open breaker fails before queueing; admission is decided again once a slot is free.
    this.refuseIfOpen(call, credential);
    const bulkhead = call.bulkhead !== false;
    const share = this.shareOf(credential);
    if (bulkhead && !this.bulkhead.tryEnter(share)) {
      const { maxQueued, maxQueuedPerCredential } = this.options;
      if (this.bulkhead.queued >= maxQueued || this.bulkhead.queuedOf(share) >= maxQueuedPerCredential)
        throw this.shed(call, 'too many upstream requests are waiting');
      await this.bulkhead.wait(share, call.signal).catch(() => {
        throw aborted(call);
      });
    }
    try {
      const own = this.credentialBreakers?.of(credential);
      const shared = this.breaker.admit();
      const ownAdmission = shared === 'refused' ? 'refused' : (own?.admit() ?? 'closed');
      if (ownAdmission === 'refused') {
        this.breaker.abandoned(shared === 'probe');
        this.refuseIfOpen(call, credential);
        throw this.shed(call, 'the circuit breaker is open');
      }
      const probes = { shared: shared === 'probe', own: ownAdmission === 'probe' };
      try {
        const result = await send();
        this.answered(credential, true, probes.shared);
        return result;
      } catch (error) {
        // The caller left, the deadline passed, or the caller's own request failed it (an upload's body): that says
        // nothing about the upstream's health, either way.
        if (call.signal?.aborted || isCallersOwn(error)) {
          this.breaker.abandoned(probes.shared);
          own?.abandoned(probes.own);
          if (call.signal?.aborted && !isCallersOwn(error)) throw aborted(call);
          throw error;
        }
        if (!isUpstreamFault(error)) this.answered(credential, knowsKey(error), probes.shared);
        else this.failed(credential, probes);
        throw error;
      }
    } finally {
      if (bulkhead) this.bulkhead.leave(share);
    }
  }

  /** Refuses the call at once while the shared breaker, or the credential's own, is open. */
  private refuseIfOpen(call: GuardedCall, credential: string): void {
    const ownMs = this.credentialBreakers?.of(credential)?.openForMs() ?? 0;
    const sharedMs = this.breaker.openForMs();
    if (sharedMs > 0) throw this.shed(call, 'the circuit breaker is open', sharedMs);
    if (ownMs > 0) throw this.shed(call, "the circuit breaker of this key is open: DashScope kept failing this key's calls", ownMs);
  }

  /**
   * DashScope answered (`took`: and took the key). A key it never took has no say in everyone's breaker, either way:
   * made-up keys would open it with faults of as many keys as needed, or keep it from opening with their 401s.
   */
  private answered(credential: string, took: boolean, sharedProbe: boolean): void {
    if (took) this.knownKeys?.set(credential, true);
    this.credentialBreakers?.succeeded(credential);
    if (!this.knows(credential)) return this.breaker.abandoned(sharedProbe);
    if (this.breaker.succeeded()) this.options.onEvent({ type: 'breaker', state: 'closed' });
  }

  private failed(credential: string, probes: { shared: boolean; own: boolean }): void {
    if (!this.knows(credential)) this.breaker.abandoned(probes.shared);
    else if (this.breaker.failed(probes.shared, credential)) this.options.onEvent({ type: 'breaker', state: 'open' });
    if (this.credentialBreakers?.failed(credential, probes.own)) this.options.onEvent({ type: 'breaker', state: 'open', credential: true });
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

/**
 * What counts against the upstream's health: it failed to answer, or answered 5xx. A 4xx or 429 is an answer; the
 * gateway's own refusals (shed, rate-limited, invalid) and the caller's own failures (`caller`) are no upstream's doing.
 */
function isUpstreamFault(error: unknown): boolean {
  if (!(error instanceof UpstreamError) || error.failure.shed) return false;
  const f = error.failure;
  return f.kind === 'unavailable' || f.kind === 'timeout' || (f.kind === 'http' && (f.httpStatus ?? 0) >= 500);
}

/** An answer that shows DashScope took the key: any but 401 and 403 (a 404 of a job, a 400 of a body, a 429). */
function knowsKey(error: unknown): boolean {
  const status = error instanceof UpstreamError && error.failure.kind === 'http' ? error.failure.httpStatus : undefined;
  return status !== undefined && status !== 401 && status !== 403;
}

/** The caller's own request failed the call (an upload's body cut off, stalled, over a limit). */
function isCallersOwn(error: unknown): boolean {
  return error instanceof UpstreamError && error.failure.kind === 'caller';
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
