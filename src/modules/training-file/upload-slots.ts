import { capReached } from '../../plugins/limits.js';

/**
 * Uploads in flight at once, gateway-wide: at most `max` in total (each may hold a socket of the uploads' own upstream
 * pool, src/upstream/dashscope/client.ts) and `perCredential` for one credential, so that one tenant's uploads (slow,
 * stalled, or many) leave room to the others' and never touch the reads' sockets and bulkhead. A slot is taken before
 * the file is read and given back when the upload ends, however it ends; over a share, the upload is refused at once,
 * before any upstream call.
 */
export class UploadSlots {
  private held = 0;
  private readonly byCredential = new Map<string, number>();

  constructor(
    readonly max: number,
    readonly perCredential: number,
  ) {}

  /** Uploads in flight now. */
  get active(): number {
    return this.held;
  }

  /** A slot for `credential` (a scope, never a key): its release function, or RATE_LIMITED naming the share that is full. */
  take(credential: string): () => void {
    if (this.held >= this.max)
      throw capReached('maxUploads', `The gateway takes at most ${this.max} uploads at once; try again when one has finished.`);
    const mine = this.byCredential.get(credential) ?? 0;
    if (mine >= this.perCredential)
      throw capReached(
        'maxUploadsPerCredential',
        `One credential may upload at most ${this.perCredential} files at once; try again when one of yours has finished.`,
      );
    this.held++;
    this.byCredential.set(credential, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held--;
      const left = (this.byCredential.get(credential) ?? 1) - 1;
      if (left > 0) this.byCredential.set(credential, left);
      else this.byCredential.delete(credential);
    };
  }
}
