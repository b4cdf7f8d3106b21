/**
 * Upstream requests in flight at once (`max`), and waiting for a slot (`maxQueued`), with a share per credential: one
 * credential holds at most `perCredential` of the slots and `perCredentialQueued` of the queue, so a tenant whose calls
 * are slow (or many) cannot take every slot from the others. A freed slot goes to the longest-waiting call whose
 * credential is under its share.
 */
export class Bulkhead {
  active = 0;
  private readonly held = new Map<string, number>();
  private readonly waiting: Array<{ credential: string; handOver: () => void }> = [];
  private readonly waitingOf = new Map<string, number>();

  constructor(
    private readonly max: number,
    private readonly perCredential = max,
  ) {}

  get queued(): number {
    return this.waiting.length;
  }

  /** Calls of `credential` waiting now. */
  queuedOf(credential: string): number {
    return this.waitingOf.get(credential) ?? 0;
  }

  tryEnter(credential = ''): boolean {
    if (this.active >= this.max || (this.held.get(credential) ?? 0) >= this.perCredential) return false;
    this.take(credential);
    return true;
  }

  /** Resolves once a slot is handed over (already counted as held); rejects if the signal aborts first. */
  wait(credential: string, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const entry = {
        credential,
        handOver: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        const index = this.waiting.indexOf(entry);
        if (index !== -1) {
          this.waiting.splice(index, 1);
          this.count(this.waitingOf, credential, -1);
        }
        reject(signal?.reason as Error);
      };
      this.waiting.push(entry);
      this.count(this.waitingOf, credential, 1);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  leave(credential = ''): void {
    this.active--;
    this.count(this.held, credential, -1);
    while (this.active < this.max) {
      const index = this.waiting.findIndex((w) => (this.held.get(w.credential) ?? 0) < this.perCredential);
      if (index === -1) return;
      const [next] = this.waiting.splice(index, 1);
      this.count(this.waitingOf, next!.credential, -1);
      this.take(next!.credential);
      next!.handOver();
    }
  }

  private take(credential: string): void {
    this.active++;
    this.count(this.held, credential, 1);
  }

  private count(map: Map<string, number>, credential: string, delta: number): void {
    const value = (map.get(credential) ?? 0) + delta;
    if (value > 0) map.set(credential, value);
    else map.delete(credential);
  }
}
