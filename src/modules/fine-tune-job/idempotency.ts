import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { GatewayError } from '../../errors/index.js';

export const IDEMPOTENCY_TTL_MS = 10 * 60_000;
const MAX_ENTRIES = 10_000;

/** What an attempt is told about the ones before it under the same key. */
export interface Attempt {
  /**
   * When the first attempt whose outcome is unknown began (wall clock, ms): set when an earlier attempt failed in a
   * way that may have created the job, so this one must look for that job before creating another.
   */
  ambiguousSince?: number;
}

interface Entry<T> {
  fingerprint: string;
  /** Shared by concurrent duplicates: a double click waits for the first call instead of creating twice. */
  result: Promise<T>;
  /** The attempt failed (only ambiguous failures stay remembered). */
  failed: boolean;
  ambiguousSince?: number;
}

/**
 * Remembers, per caller scope and idempotency key, the input of a create and what it created, for 10 minutes and a
 * bounded number of keys. Made once per gateway: it must outlive requests but never be shared between gateways.
 *
 * A create that failed before it could have reached the upstream is forgotten, so the same key may simply try again.
 * One that failed ambiguously (`mayHaveCreated`: a timeout, a reset, an unreadable answer) is remembered as such: every
 * later attempt with the key gets `ambiguousSince` and must find the job it may have created before creating again.
 */
export class IdempotencyStore<T extends object> {
  private readonly entries: LRUCache<string, Entry<T>>;

  constructor(options: { ttlMs?: number; maxEntries?: number; now?: () => number } = {}) {
    this.entries = new LRUCache({
      max: options.maxEntries ?? MAX_ENTRIES,
      ttl: options.ttlMs ?? IDEMPOTENCY_TTL_MS,
      // Read the clock on every lookup rather than once a millisecond: an expired key must never be served.
      ttlResolution: 0,
      ...(options.now && { perf: { now: options.now } }),
    });
  }

  /**
   * `create` runs unless the same scope and key ran it before; then its result (or the attempt still running) is
   * returned, or CONFLICT for another input. After an ambiguous failure, `create` runs again with `ambiguousSince`.
   */
  run(
    scope: string,
    key: string,
    input: unknown,
    create: (attempt: Attempt) => Promise<T>,
    mayHaveCreated: (error: unknown) => boolean = () => false,
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
    }
    const ambiguousSince = known?.ambiguousSince;
    const startedAt = Date.now();
    const attempt: Attempt = ambiguousSince === undefined ? {} : { ambiguousSince };
    const entry: Entry<T> = { fingerprint, failed: false, result: Promise.resolve().then(() => create(attempt)) };
    this.entries.set(id, entry);
    entry.result.catch((error: unknown) => {
      if (this.entries.peek(id) !== entry) return;
      // Once ambiguous, always ambiguous: a failed look-up proves nothing about the job the first attempt may have made.
      if (ambiguousSince !== undefined || mayHaveCreated(error)) {
        entry.failed = true;
        entry.ambiguousSince = ambiguousSince ?? startedAt;
      } else this.entries.delete(id);
    });
    return entry.result;
  }
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
