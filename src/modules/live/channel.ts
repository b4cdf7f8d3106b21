/**
 * An async iterator fed by a producer: `push` queues a value, `end` finishes once the queue is drained. When the
 * consumer stops early (`return()`, e.g. the client went away), `onClose` runs at once even while a `next()` waits,
 * which an async generator blocked in an `await` cannot do. A consumer that falls `limit` values behind gets
 * `overflow` and the end.
 */
export class Channel<T> implements AsyncIterableIterator<T> {
  private queue: T[] = [];
  private waiting: ((result: IteratorResult<T>) => void) | undefined;
  private ended = false;
  private closed = false;

  constructor(
    private readonly onClose: () => void,
    private readonly limit: number,
    private readonly overflow: () => T,
  ) {}

  push(value: T): void {
    if (this.ended) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ done: false, value });
    } else if (this.queue.length < this.limit) {
      this.queue.push(value);
    } else {
      this.queue = [this.overflow()];
      this.end();
    }
  }

  /** No more values: the consumer gets what is queued, then done. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.queue.length === 0) this.finish();
  }

  next(): Promise<IteratorResult<T>> {
    const value = this.queue.shift();
    if (value !== undefined) {
      if (this.ended && this.queue.length === 0) this.finish();
      return Promise.resolve({ done: false, value });
    }
    if (this.ended) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  return(): Promise<IteratorResult<T>> {
    this.ended = true;
    this.queue = [];
    this.finish();
    return Promise.resolve({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private finish(): void {
    const resolve = this.waiting;
    this.waiting = undefined;
    resolve?.({ done: true, value: undefined });
    if (!this.closed) {
      this.closed = true;
      this.onClose();
    }
  }
}
