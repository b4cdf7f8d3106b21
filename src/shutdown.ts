import { setMaxListeners } from 'node:events';
import type { Server } from 'node:http';
import { setTimeout as pause } from 'node:timers/promises';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';

/*
 * Graceful shutdown, in this order: `/ready` turns 503 and long-lived streams end (the `closing` signal); after an
 * optional delay for load balancers to notice, the listener closes (new connections are refused); in-flight
 * operations get a grace period to finish; then the remaining connections are closed.
 */

/** `GET /ready`: 200 while serving, 503 from the moment shutdown begins. Then every response asks to close its connection. */
export function useReadiness(isReady: () => boolean): Plugin {
  return {
    onRequest(request) {
      if (request.url.pathname !== '/ready') return;
      const ready = isReady();
      request.endResponse(
        new request.fetchAPI.Response(JSON.stringify({ ready }), {
          status: ready ? 200 : 503,
          headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
        }),
      );
    },
    onResponse({ response }) {
      // A kept-alive connection would otherwise hold the drain open and bring the client back to a closing server.
      if (!isReady()) response.headers.set('connection', 'close');
    },
  };
}

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

/**
 * Closes the listener, waits up to `graceMs` for open connections (in-flight operations) to finish, then closes the
 * rest. Resolves to whether it had to force them.
 */
export async function drainServer(server: Server, graceMs: number): Promise<{ forced: boolean }> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const grace = new AbortController();
  const forced = await Promise.race([closed.then(() => false), pause(graceMs, true, { signal: grace.signal }).catch(() => false)]);
  grace.abort();
  if (forced) {
    server.closeAllConnections();
    await closed;
  }
  return { forced };
}
