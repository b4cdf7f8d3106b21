import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { GatewayError } from '../../errors/index.js';

export const IDEMPOTENCY_TTL_MS = 10 * 60_000;
const MAX_ENTRIES = 10_000;
/** Keys one caller scope may hold at once: its own oldest go first, never another caller's. */
const MAX_ENTRIES_PER_SCOPE = 1_000;

/** What an attempt is told about the ones before it under the same key, in this process. */
export interface Attempt {
  /**
   * When the first attempt whose outcome is unknown began (wall clock, ms): set when an earlier attempt failed in a
   * way that may have created the job, so this one must look for that job before creating another. Unset: this
   * process knows of no earlier attempt (a new key, or one made before a restart or on another replica).
   */
  ambiguousSince?: number;
}

/** How a failed attempt is classed: whether it may have created the job, and whether DashScope may still act on it. */
export interface FailureClass {
  /** The request may have reached DashScope and made the job (a later attempt must look for it first). */
  mayHaveCreated(error: unknown): boolean;
  /**
   * No answer came at all (a timeout, a reset): DashScope may still be processing the request, and a job made late
   * would be missed by a search made now. A retry waits out the settling window first.
   */
  mayStillBeProcessed?(error: unknown): boolean;
}

interface Entry<T> {
  fingerprint: string;
  /** Shared by concurrent duplicates: a double click waits for the first call instead of creating twice. */
  result: Promise<T>;
  /** The attempt failed (only ambiguous failures stay remembered). */
  failed: boolean;
  ambiguousSince?: number;
  /** Until then (store clock, ms) a retry is told to wait: DashScope may still act on the unanswered attempt. */
  settlesAt?: number;
}

export interface IdempotencyStoreOptions {
  ttlMs?: number;
  maxEntries?: number;
  maxEntriesPerScope?: number;
  /** How long after an unanswered attempt a retry is refused (CONFLICT, retryable, `retryAfterSeconds`); 0: never. */
  settleMs?: number;
  now?: () => number;
}

/**
 * Remembers, per caller scope and idempotency key, the input of a create and what it created, for 10 minutes and a
 * bounded number of keys (per scope and in all). Made once per gateway: it must outlive requests but never be shared
 * between gateways. It is an optimisation and a lock, not the record of truth: a key it does not know is looked for
 * upstream (src/modules/fine-tune-job/reconcile.ts) before anything is created.
 *
 * A create that failed before it could have reached the upstream is forgotten, so the same key may simply try again.
 * One that failed ambiguously (`mayHaveCreated`: a timeout, a reset, a 5xx, an unreadable answer) is remembered as
 * such: every later attempt with the key gets `ambiguousSince` and must find the job it may have created before
 * creating again; one that got no answer at all is first given `settleMs` for DashScope to finish acting on it.
 */
export class IdempotencyStore<T extends object> {
  private readonly entries: LRUCache<string, Entry<T>>;
  /** Each scope's ids, oldest first: the per-scope bound. */
  private readonly scopes = new Map<string, Set<string>>();
  private readonly maxPerScope: number;
  private readonly settleMs: number;
  private readonly now: () => number;

  constructor(options: IdempotencyStoreOptions = {}) {
    this.maxPerScope = options.maxEntriesPerScope ?? MAX_ENTRIES_PER_SCOPE;
    this.settleMs = options.settleMs ?? 0;
    this.now = options.now ?? Date.now;
    this.entries = new LRUCache({
      max: options.maxEntries ?? MAX_ENTRIES,
      ttl: options.ttlMs ?? IDEMPOTENCY_TTL_MS,
      // Read the clock on every lookup rather than once a millisecond: an expired key must never be served.
      ttlResolution: 0,
      ...(options.now && { perf: { now: options.now } }),
      // A replaced value keeps its key; any other removal frees the key's place in its scope.
      dispose: (_entry, id, reason) => {
        if (reason !== 'set') this.untrack(id);
      },
    });
  }

  /**
   * `create` runs unless the same scope and key ran it before; then its result (or the attempt still running) is
   * returned, or CONFLICT for another input. After an ambiguous failure, `create` runs again with `ambiguousSince`,
   * once the failure has settled.
   */
  run(
    scope: string,
    key: string,
    input: unknown,
    create: (attempt: Attempt) => Promise<T>,
    classes: FailureClass = { mayHaveCreated: () => false },
  ): Promise<T> {
    const id = `${scope}\u0000${key}`;
    const fingerprint = fingerprintOf(input);
    const known = this.entries.get(id);
    if (known) {
      if (known.fingerprint !== fingerprint) {
        throw new GatewayError(
          `The idempotency key ${JSON.stringify(key)} was used in the last 10 minutes for a different input; use a new key for a new job.`,
          { code: 'CONFLICT', retryable: false },
        );
      }
      if (!known.failed) return known.result;
      const wait = (known.settlesAt ?? 0) - this.now();
      if (wait > 0) throw unsettled(key, wait);
    }
    const ambiguousSince = known?.ambiguousSince;
    const startedAt = Date.now();
    const attempt: Attempt = ambiguousSince === undefined ? {} : { ambiguousSince };
    const entry: Entry<T> = { fingerprint, failed: false, result: Promise.resolve().then(() => create(attempt)) };
    this.track(scope, id);
    this.entries.set(id, entry);
    entry.result.catch((error: unknown) => {
      if (this.entries.peek(id) !== entry) return;
      // Once ambiguous, always ambiguous: a failed look-up proves nothing about the job the first attempt may have made.
      if (ambiguousSince !== undefined || classes.mayHaveCreated(error)) {
        entry.failed = true;
        entry.ambiguousSince = ambiguousSince ?? startedAt;
        if (this.settleMs > 0 && classes.mayStillBeProcessed?.(error)) entry.settlesAt = this.now() + this.settleMs;
        else if (known?.settlesAt !== undefined) entry.settlesAt = known.settlesAt;
      } else this.entries.delete(id);
    });
    return entry.result;
  }

  private track(scope: string, id: string): void {
    let ids = this.scopes.get(scope);
    if (!ids) this.scopes.set(scope, (ids = new Set()));
    ids.delete(id);
    // The scope's oldest key goes (its dispose untracks it) before it may push out another caller's.
    for (const oldest of ids) {
      if (ids.size < this.maxPerScope) break;
      if (!this.entries.delete(oldest)) ids.delete(oldest);
    }
    ids.add(id);
    // The loop may have emptied and dropped the set.
    this.scopes.set(scope, ids);
  }

  private untrack(id: string): void {
    const scope = id.slice(0, id.indexOf('\u0000'));
    const ids = this.scopes.get(scope);
    if (!ids) return;
    ids.delete(id);
    if (ids.size === 0) this.scopes.delete(scope);
  }
}

/** A retry that came while DashScope may still be acting on the attempt before it. */
function unsettled(key: string, waitMs: number): GatewayError {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return new GatewayError(
    `The last attempt with the idempotency key ${JSON.stringify(key)} got no answer from DashScope, which may still be creating its job. ` +
      `Retry with the same key and input in ${seconds} s: the gateway then looks for that job and creates one only if there is none.`,
    { code: 'CONFLICT', retryable: true, retryAfterSeconds: seconds, jobMayExist: true },
  );
}

/** A hash of the input that does not depend on the order of object keys. */
export function fingerprintOf(input: unknown): string {
  return createHash('sha256').update(stableJson(input)).digest('base64url');
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
