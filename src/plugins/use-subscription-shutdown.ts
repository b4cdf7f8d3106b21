import { setMaxListeners } from 'node:events';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';

/**
 * Every subscription's event stream ends cleanly when `closing` aborts: over SSE the client gets its `complete`
 * event, over graphql-ws a `complete` message, whatever the resolver does. Resolvers with their own resources can
 * also listen to the same signal (the context's `closing`, where the context exposes it).
 */
export function useSubscriptionShutdown(closing: AbortSignal): Plugin {
  // One listener per open subscription: there may be many, and that is no leak.
  setMaxListeners(0, closing);
  return {
    onSubscribe: () => ({
      onSubscribeResult: ({ result, setResult }) => {
        if (isAsyncIterable(result)) setResult(endOnAbort(result, closing));
      },
    }),
  };
}

const DONE = { done: true, value: undefined } as const;

/** `source`, ended (and its `return()` called, releasing what it holds) as soon as `signal` aborts. */
export function endOnAbort<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncIterableIterator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let finished = false;
  const finish = (): Promise<IteratorResult<T>> => {
    if (!finished) {
      finished = true;
      // Not awaited: a source busy in an await would only see the return request once it yields again.
      Promise.resolve()
        .then(() => iterator.return?.())
        .catch(() => {});
    }
    return Promise.resolve(DONE);
  };
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      if (finished || signal.aborted) return finish();
      // A fresh abort promise per wait (removed after), so that a long subscription does not pile up listeners.
      let onAbort = () => {};
      const aborted = new Promise<'aborted'>((resolve) => {
        onAbort = () => resolve('aborted');
        signal.addEventListener('abort', onAbort, { once: true });
      });
      try {
        const result = await Promise.race([iterator.next(), aborted]);
        if (result === 'aborted') return finish();
        if (result.done) finished = true;
        return result;
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
    },
    return: finish,
    async throw(error: unknown) {
      await finish();
      throw error;
    },
  };
}
