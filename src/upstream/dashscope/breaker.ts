import { LRUCache } from 'lru-cache';

export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * A circuit breaker: `threshold` consecutive upstream faults open it for `openMs`; then one probe goes through, whose
 * answer closes it and whose fault opens it again. Any answer resets the count.
 *
 * Shared by tenants, the count is fair: one credential's faults count for at most `share` of the threshold, so a
 * tenant whose own calls fail (a key or workspace DashScope fails for, a tenant hammering a path that times out) cannot
 * open it for the others alone; it takes faults of at least two credentials, as a real outage gives. With one tenant
 * (server mode) the share is the whole threshold.
 */
export class CircuitBreaker {
  private counted = 0;
  /** Faults counted in the current streak, per credential (at most `threshold` credentials: each adds at least one). */
  private readonly streak = new Map<string, number>();
  private openedAt: number | undefined;
  private probing = false;

  constructor(
    private readonly threshold: number,
    private readonly openMs: number,
    private readonly now: () => number,
    private readonly share = threshold,
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
    this.counted = 0;
    this.streak.clear();
    this.openedAt = undefined;
    this.probing = false;
    return wasOpen;
  }

  /** A fault of a call for `credential`. True when this opened a closed breaker. */
  failed(probe: boolean, credential = ''): boolean {
    if (probe) {
      this.probing = false;
      this.openedAt = this.now();
      return false;
    }
    if (this.openedAt !== undefined) return false; // a call sent before the breaker opened
    const held = this.streak.get(credential) ?? 0;
    if (held < this.share) {
      this.streak.set(credential, held + 1);
      this.counted++;
    }
    if (this.counted < this.threshold) return false;
    this.openedAt = this.now();
    this.streak.clear();
    return true;
  }

  /** The call ended without telling anything about the upstream (the caller left, or its own request failed it). */
  abandoned(probe: boolean): void {
    if (probe) this.probing = false;
  }
}

/** Credentials with a streak of faults tracked at once; the least recent is forgotten past it (its breaker: closed). */
const MAX_TRACKED_CREDENTIALS = 10_000;

/**
 * One breaker per credential (forward mode), besides the shared one: a tenant whose own calls keep failing gets its
 * calls refused at once, without a share of anyone else's. Only credentials in a streak of faults are held (a made-up
 * key answered 401 holds nothing); an answer forgets the credential.
 */
export class CredentialBreakers {
  private readonly breakers = new LRUCache<string, CircuitBreaker>({ max: MAX_TRACKED_CREDENTIALS });

  constructor(
    private readonly threshold: number,
    private readonly openMs: number,
    private readonly now: () => number,
  ) {}

  /** The credential's breaker while it is in a streak of faults; undefined: closed. */
  of(credential: string): CircuitBreaker | undefined {
    return this.breakers.get(credential);
  }

  /** Records a fault; true when this opened the credential's breaker. */
  failed(credential: string, probe: boolean): boolean {
    let breaker = this.breakers.get(credential);
    if (!breaker) this.breakers.set(credential, (breaker = new CircuitBreaker(this.threshold, this.openMs, this.now)));
    return breaker.failed(probe);
  }

  succeeded(credential: string): void {
    this.breakers.delete(credential);
  }

  /** Credentials whose own breaker is open now (for metrics). */
  open(): number {
    let open = 0;
    for (const breaker of this.breakers.values()) if (breaker.state() !== 'closed') open++;
    return open;
  }
}
