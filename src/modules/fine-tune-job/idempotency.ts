import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as pause } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { GatewayError } from '../../errors/index.js';
import { parseStored } from '../../shared-state/records.js';
import { defineScript, type SharedRedis } from '../../shared-state/redis.js';

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

/** What the resolvers need of a store: the in-process `IdempotencyStore` or the replicas' `SharedIdempotencyStore`. */
export type Idempotency<T extends object> = Pick<IdempotencyStore<T>, 'run'>;

/** A record in Redis, parsed with a strict model on every read (what Redis holds is untrusted input). */
const fingerprintField = z.string().min(1).max(128);
const PendingModel = z.strictObject({
  state: z.literal('pending'),
  fingerprint: fingerprintField,
  /** Unique to the attempt that holds the key: only it may replace or remove the record. */
  token: z.string().min(1).max(64),
  ambiguousSince: z.number().int().optional(),
  settlesAt: z.number().int().optional(),
});
const AmbiguousModel = z.strictObject({
  state: z.literal('ambiguous'),
  fingerprint: fingerprintField,
  ambiguousSince: z.number().int(),
  settlesAt: z.number().int().optional(),
});
type Pending = z.infer<typeof PendingModel>;
type Ambiguous = z.infer<typeof AmbiguousModel>;

/** Replaces (ARGV[2] not empty, for ARGV[3] ms) or removes the key's record if it is still exactly ARGV[1]. */
const COMPARE_AND_SET = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1`;

/** Extends the claim's lifetime (ARGV[2] ms) if it is still exactly ARGV[1]: only its own attempt keeps it alive. */
const RENEW = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])`;

/** How often a duplicate polls for the attempt another replica is making. */
const POLL_MS = 100;

export interface SharedIdempotencyStoreOptions<T> {
  redis: SharedRedis;
  /** `job`, `deployment`: part of the Redis key, so that the two kinds of create never share a record. */
  kind: string;
  /** The strict model of a result read back from Redis. */
  model: z.ZodType<T>;
  /** As IdempotencyStoreOptions.settleMs. */
  settleMs?: number;
  /**
   * How long a key stays claimed by an attempt that has not finished: the attempt renews it every third of that while
   * it runs, so a live attempt is never taken over however long it lasts; a replica that died mid-attempt frees its
   * keys when it runs out, and the next attempt then searches before it creates.
   */
  pendingTtlMs: number;
  /** How long a duplicate waits for the attempt another replica is making, before it answers CONFLICT (retryable). */
  waitMs: number;
  warn?: (message: string) => void;
}

/**
 * The idempotency store of replicas that share a Redis (REDIS_URL): the same rules as `IdempotencyStore`, with the
 * records in Redis, so that one key makes one upstream create whichever replica each attempt reaches. The first
 * attempt claims the key (SET NX PX, with a token of its own); a duplicate on any replica waits for its outcome and
 * answers the same result; an ambiguous failure is recorded there with its settling time; every change of a claimed
 * record is a compare-and-set, so a late writer can never overwrite a newer attempt.
 *
 * Redis down or slower than its command timeout: the create is refused (IDEMPOTENCY_UNAVAILABLE, retryable) before
 * anything is sent upstream, rather than risking a second paid job. Once the key is claimed, the attempt goes on even
 * if Redis fails afterwards; its result then only lives in DashScope, where the next attempt's search finds it.
 */
export class SharedIdempotencyStore<T extends object> implements Idempotency<T> {
  /** Duplicates within this process share one attempt, and one round of Redis commands. */
  private readonly local = new Map<string, { fingerprint: string; result: Promise<T> }>();
  private readonly compareAndSet: (keys: string[], args: Array<string | number>) => Promise<number>;
  private readonly renew: (keys: string[], args: Array<string | number>) => Promise<number>;
  private readonly ResultModel: z.ZodType<{ state: 'done'; fingerprint: string; value: T }>;

  constructor(private readonly options: SharedIdempotencyStoreOptions<T>) {
    this.compareAndSet = defineScript<number>(options.redis.client, 'ftgwIdempotencyCas', COMPARE_AND_SET, 1);
    this.renew = defineScript<number>(options.redis.client, 'ftgwIdempotencyRenew', RENEW, 1);
    this.ResultModel = z.strictObject({ state: z.literal('done'), fingerprint: fingerprintField, value: options.model });
  }

  run(
    scope: string,
    key: string,
    input: unknown,
    create: (attempt: Attempt) => Promise<T>,
    classes: FailureClass = { mayHaveCreated: () => false },
  ): Promise<T> {
    const id = `idempotency:${this.options.kind}:${createHash('sha256').update(`${scope}\u0000${key}`).digest('base64url')}`;
    const fingerprint = fingerprintOf(input);
    const known = this.local.get(id);
    if (known) {
      if (known.fingerprint !== fingerprint) throw otherInput(key);
      return known.result;
    }
    const result = this.claim(id, key, fingerprint, create, classes);
    const entry = { fingerprint, result };
    this.local.set(id, entry);
    const forget = () => {
      if (this.local.get(id) === entry) this.local.delete(id);
    };
    result.then(forget, forget);
    return result;
  }

  /** Claims the key and makes the attempt, or answers what the attempt that holds it made. */
  private async claim(id: string, key: string, fingerprint: string, create: (attempt: Attempt) => Promise<T>, classes: FailureClass) {
    const waitUntil = Date.now() + this.options.waitMs;
    for (;;) {
      const pending: Pending = { state: 'pending', fingerprint, token: randomUUID() };
      const claim = JSON.stringify(pending);
      const claimed = await this.redis('claim', (client) => client.set(id, claim, 'PX', this.options.pendingTtlMs, 'NX')).catch(
        (error: unknown) => {
          // A claim that timed out may still be applied once a slow Redis gets to it, and would then hold the key for
          // a claim's lifetime with nobody to finish it: remove it (commands on one connection run in order).
          this.compareAndSet([id], [claim, '', 0]).catch(() => {});
          throw error;
        },
      );
      if (claimed === 'OK') return this.attempt(id, claim, pending, create, classes);
      const raw = await this.redis('read', (client) => client.get(id));
      if (raw === null) continue; // it expired or was removed in between: claim again
      const done = parseStored(this.ResultModel, raw);
      const record = done ?? parseStored(PendingModel, raw) ?? parseStored(AmbiguousModel, raw);
      if (!record) {
        // Not a record this gateway wrote: as good as none (every keyed create searches before it creates).
        this.options.warn?.(`idempotency: an unreadable record in Redis for a key was discarded`);
        const fresh: Pending = { state: 'pending', fingerprint, token: randomUUID() };
        const replaced = await this.redis('claim', () => this.compareAndSet([id], [raw, JSON.stringify(fresh), this.options.pendingTtlMs]));
        if (replaced === 1) return this.attempt(id, JSON.stringify(fresh), fresh, create, classes);
        continue;
      }
      if (record.fingerprint !== fingerprint) throw otherInput(key);
      if (record.state === 'done') return record.value;
      if (record.state === 'pending') {
        // Another attempt (on this replica or another) is running: its outcome is this one's.
        if (Date.now() >= waitUntil) throw inProgress(key);
        await pause(POLL_MS);
        continue;
      }
      const wait = (record.settlesAt ?? 0) - Date.now();
      if (wait > 0) throw unsettled(key, wait);
      const retry: Pending = {
        state: 'pending',
        fingerprint,
        token: randomUUID(),
        ambiguousSince: record.ambiguousSince,
        ...(record.settlesAt !== undefined && { settlesAt: record.settlesAt }),
      };
      const taken = await this.redis('claim', () => this.compareAndSet([id], [raw, JSON.stringify(retry), this.options.pendingTtlMs]));
      if (taken === 1) return this.attempt(id, JSON.stringify(retry), retry, create, classes);
    }
  }

  private async attempt(id: string, claim: string, pending: Pending, create: (attempt: Attempt) => Promise<T>, classes: FailureClass) {
    const startedAt = Date.now();
    const { ambiguousSince } = pending;
    let value: T;
    // The claim is renewed while the attempt runs: an attempt can outlast `pendingTtlMs` (rate-limit waits of up to
    // UPSTREAM_RATE_MAX_WAIT_MS per call, a search of several pages with retries, a slow create), and a claim that
    // expired under a live attempt let another replica claim the key, search before the job existed and create a
    // second one. A replica that dies stops renewing, so its keys are still freed after `pendingTtlMs`.
    const { pendingTtlMs } = this.options;
    const renewal = setInterval(
      () => {
        this.redis('renew the claim', () => this.renew([id], [claim, pendingTtlMs])).catch(() => {});
      },
      Math.max(1, Math.floor(pendingTtlMs / 3)),
    );
    renewal.unref();
    try {
      value = await create(ambiguousSince === undefined ? {} : { ambiguousSince });
    } catch (error) {
      clearInterval(renewal);
      // As in IdempotencyStore: once ambiguous, always ambiguous; a failure that cannot have created frees the key.
      if (ambiguousSince !== undefined || classes.mayHaveCreated(error)) {
        const settleMs = this.options.settleMs ?? 0;
        const settlesAt = settleMs > 0 && classes.mayStillBeProcessed?.(error) ? Date.now() + settleMs : pending.settlesAt;
        const record: Ambiguous = {
          state: 'ambiguous',
          fingerprint: pending.fingerprint,
          ambiguousSince: ambiguousSince ?? startedAt,
          ...(settlesAt !== undefined && { settlesAt }),
        };
        this.release(id, claim, JSON.stringify(record), IDEMPOTENCY_TTL_MS);
      } else this.release(id, claim, '', 0);
      throw error;
    }
    clearInterval(renewal);
    this.release(id, claim, JSON.stringify({ state: 'done', fingerprint: pending.fingerprint, value }), IDEMPOTENCY_TTL_MS);
    return value;
  }

  /** Records the outcome if the claim is still ours. Not awaited by the caller: its answer does not depend on it. */
  private release(id: string, claim: string, record: string, ttlMs: number): void {
    this.redis('record the outcome', () => this.compareAndSet([id], [claim, record, ttlMs])).catch((error: unknown) =>
      this.options.warn?.(
        `idempotency: the outcome of a create could not be recorded in Redis (${(error as Error).message}); a retry with its key searches DashScope for the job once the claim expires`,
      ),
    );
  }

  private redis<R>(what: string, command: (client: SharedRedis['client']) => Promise<R>): Promise<R> {
    return this.options.redis.run(`idempotency ${what}`, command).catch((error: unknown) => {
      throw storeUnavailable(error);
    });
  }
}

function otherInput(key: string): GatewayError {
  return new GatewayError(
    `The idempotency key ${JSON.stringify(key)} was used in the last 10 minutes for a different input; use a new key for a new job.`,
    { code: 'CONFLICT', retryable: false },
  );
}

/** A duplicate that waited as long as it may for the attempt another replica is making. */
function inProgress(key: string): GatewayError {
  return new GatewayError(
    `An attempt with the idempotency key ${JSON.stringify(key)} is still in progress on another instance of the gateway. ` +
      'Retry with the same key and input in 1 s: it then answers what that attempt created.',
    { code: 'CONFLICT', retryable: true, retryAfterSeconds: 1, jobMayExist: true },
  );
}

/** Redis, where the replicas keep idempotency keys, could not be asked: creating now could make a second job. */
function storeUnavailable(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  return new GatewayError(
    'The idempotency store (Redis) is unavailable, so the gateway cannot be sure that no other instance is creating the same job: ' +
      'nothing was created. Retry with the same idempotencyKey shortly, or create without a key.',
    { code: 'IDEMPOTENCY_UNAVAILABLE', retryable: true, retryAfterSeconds: 1 },
  );
}
