import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { GatewayError } from '../../errors.js';

export const IDEMPOTENCY_TTL_MS = 10 * 60_000;
const MAX_ENTRIES = 10_000;

interface Entry<T> {
  fingerprint: string;
  /** Shared by concurrent duplicates: a double click waits for the first call instead of creating twice. */
  result: Promise<T>;
}

/**
 * Remembers, per caller scope and idempotency key, the input of a create and what it created, for 10 minutes and a
 * bounded number of keys. Made once per gateway: it must outlive requests but never be shared between gateways.
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

  /** `create` runs unless the same scope and key ran it before; then its result is returned, or CONFLICT for another input. */
  run(scope: string, key: string, input: unknown, create: () => Promise<T>): Promise<T> {
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
      return known.result;
    }
    const entry: Entry<T> = { fingerprint, result: Promise.resolve().then(create) };
    this.entries.set(id, entry);
    // A failed create is forgotten, so that the same key may try again.
    entry.result.catch(() => {
      if (this.entries.peek(id) === entry) this.entries.delete(id);
    });
    return entry.result;
  }
}

/** A hash of the input that does not depend on the order of object keys. */
function fingerprintOf(input: unknown): string {
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
