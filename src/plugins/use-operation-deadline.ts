import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import { deadlineReason } from '../errors/deadline.js';

interface Pending {
  arm: () => void;
  dispose: () => void;
}

/**
 * The operation deadline. `signal(request)` makes the signal every upstream call of one operation gets (the context's):
 * it aborts when the client goes away (closing the request aborts its in-flight upstream calls), and for a query or a
 * mutation, when the deadline passes (reason: a `TimeoutError`, src/errors/deadline.ts). The plugin arms the timer
 * when yoga executes the operation (a subscription, which lasts as long as its stream, never gets one: it would fail
 * its events' nested reads), and disposes of it when the operation ends, on every transport (HTTP, SSE, WebSocket):
 * a timer left to run out would keep each finished operation's objects alive for the whole deadline.
 */
export function useOperationDeadline(deadlineMs: number): {
  signal(request: Request): AbortSignal;
  plugin: Plugin;
  /** Aborts every query and mutation still executing with `reason` (shutdown, at the end of its grace). */
  abortInFlight(reason: unknown): void;
} {
  const pending = new WeakMap<AbortSignal, Pending>();
  // The operations executing now (armed, not yet ended), each by the function that cuts it off.
  const inFlight = new Set<(reason: unknown) => void>();
  // The operation ends with its result, or with the last value of a stream.
  const endWith = (operation: Pending) => ({
    onExecuteDone: ({ result }: { result: unknown }) => (isAsyncIterable(result) ? { onEnd: operation.dispose } : operation.dispose()),
  });
  return {
    signal(request) {
      const controller = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      const dispose = () => {
        clearTimeout(timer);
        request.signal.removeEventListener('abort', onAbort);
        inFlight.delete(cutOff);
      };
      const cutOff = (reason: unknown) => {
        dispose();
        controller.abort(reason);
      };
      const onAbort = () => {
        dispose();
        controller.abort(request.signal.reason);
      };
      request.signal.addEventListener('abort', onAbort, { once: true });
      const arm = () => {
        if (timer !== undefined || controller.signal.aborted) return;
        timer = setTimeout(() => cutOff(deadlineReason()), deadlineMs);
        timer.unref();
        inFlight.add(cutOff);
      };
      pending.set(controller.signal, { arm, dispose });
      return controller.signal;
    },
    abortInFlight(reason) {
      for (const cutOff of [...inFlight]) cutOff(reason);
    },
    plugin: {
      onExecute({ args }) {
        const operation = pending.get((args.contextValue as { signal?: AbortSignal }).signal as AbortSignal);
        if (!operation) return;
        operation.arm();
        return endWith(operation);
      },
      onSubscribe({ args }) {
        const operation = pending.get((args.contextValue as { signal?: AbortSignal }).signal as AbortSignal);
        if (!operation) return;
        return {
          onSubscribeResult: ({ result }) => (isAsyncIterable(result) ? { onEnd: operation.dispose } : operation.dispose()),
          onSubscribeError: operation.dispose,
        };
      },
    },
  };
}
