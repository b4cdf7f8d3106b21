import type { Plugin } from 'graphql-yoga';
import { GatewayError } from './errors.js';

/**
 * The signal every upstream call of an operation gets: it aborts when the client goes away (closing the request
 * aborts its in-flight upstream calls) or when the operation deadline passes (reason: a `TimeoutError`).
 * The timer is cleared as soon as the response is ready (the plugin's onResponse): a timer left to run out would keep
 * each finished request's objects alive for the whole deadline.
 */
export function operationDeadlines(deadlineMs: number): { signal(request: Request): AbortSignal; plugin: Plugin } {
  const pending = new WeakMap<Request, Array<() => void>>();
  return {
    signal(request) {
      const controller = new AbortController();
      const onAbort = () => controller.abort(request.signal.reason);
      request.signal.addEventListener('abort', onAbort, { once: true });
      const timer = setTimeout(() => controller.abort(new DOMException('The operation deadline passed.', 'TimeoutError')), deadlineMs);
      timer.unref();
      const dispose = () => {
        clearTimeout(timer);
        request.signal.removeEventListener('abort', onAbort);
      };
      // A batched request runs several operations under one request.
      pending.set(request, [...(pending.get(request) ?? []), dispose]);
      return controller.signal;
    },
    plugin: {
      onResponse({ request }) {
        for (const dispose of pending.get(request) ?? []) dispose();
        pending.delete(request);
      },
    },
  };
}

export function deadlinePassed(signal: AbortSignal | undefined): boolean {
  const reason: unknown = signal?.aborted ? signal.reason : undefined;
  return reason instanceof Error && reason.name === 'TimeoutError';
}

/**
 * For a call that ended because the operation's signal aborted (waiting for a slot, say, or sharing another call):
 * the deadline is UPSTREAM_TIMEOUT. A client that went away reads nothing; its error is typed only so that it is not
 * logged as a gateway fault.
 */
export function abortedOperationError(signal: AbortSignal): GatewayError {
  return deadlinePassed(signal)
    ? new GatewayError('The operation ran out of time before DashScope answered.', { code: 'UPSTREAM_TIMEOUT', retryable: true })
    : new GatewayError('The request was closed before DashScope answered.', { code: 'UPSTREAM_UNAVAILABLE', retryable: true });
}
