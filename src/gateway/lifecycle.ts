import type { Server } from 'node:http';
import { setTimeout as pause } from 'node:timers/promises';
import { shutdownReason } from '../errors/deadline.js';

/*
 * Graceful shutdown, in this order: `/ready` turns 503 and long-lived streams end (the `closing` signal); after an
 * optional delay for load balancers to notice, the listener closes (new connections are refused); in-flight
 * operations get a grace period to finish; then the remaining connections are closed.
 */

const IDLE_SWEEP_MS = 50;

/**
 * Closes the listener, waits up to `graceMs` for open connections (in-flight operations) to finish, then closes the
 * rest. Resolves to whether it had to force them.
 */
export async function drainServer(server: Server, graceMs: number): Promise<{ forced: boolean }> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // A keep-alive connection whose last response (a stream, a slow query) ends during the drain goes idle, and nothing
  // else would close it before the grace is over: close connections as they become idle.
  server.closeIdleConnections();
  const sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
  const grace = new AbortController();
  const forced = await Promise.race([closed.then(() => false), pause(graceMs, true, { signal: grace.signal }).catch(() => false)]);
  grace.abort();
  clearInterval(sweep);
  if (forced) {
    server.closeAllConnections();
    await closed;
  }
  return { forced };
}

/** What a gateway closes, in order. */
export interface Closeable {
  /** Aborted first: `/ready` turns 503, subscriptions end. */
  closing: AbortController;
  live: { close(): void };
  server: Server;
  websocket: { close(): Promise<void>; drain(graceMs: number): Promise<{ forced: boolean }> };
  /** The queries and mutations executing, on every transport. */
  operations: { abort(reason: unknown): void };
  upstream: { close(graceMs: number): Promise<void> };
  /** The shared-state connection (REDIS_URL), closed last: in-flight operations may still use it. */
  redis?: { close(): Promise<void> } | undefined;
  /** Last: the spans of everything above, still buffered, are exported. */
  tracing?: { shutdown(): Promise<void> } | undefined;
}

/** How long the answers of operations cut off at the end of the grace get to reach their clients. */
export const FLUSH_MS = 200;

export interface ShutdownOptions {
  graceMs: number;
  readyDelayMs: number;
  log?: (message: string) => void;
}

/**
 * Graceful: `/ready` 503 and `closing` aborted at once, the listener closed after `readyDelayMs`, in-flight
 * operations given `graceMs`, then the rest closed. `log` hears each step.
 */
export async function shutdownGracefully(
  parts: Closeable,
  { graceMs, readyDelayMs, log = () => {} }: ShutdownOptions,
): Promise<{ forced: boolean }> {
  parts.closing.abort();
  parts.live.close();
  log(`not ready; closing the listener in ${readyDelayMs} ms`);
  if (readyDelayMs > 0) await pause(readyDelayMs);
  const graceEnds = Date.now() + graceMs;
  // When the grace ends, every operation still executing is cut off like at its deadline (shutdownReason): it answers
  // (a create that it may still have made its job, a retry with its key being safe) instead of losing its connection
  // with no answer. Those answers get FLUSH_MS; then the connections left are destroyed.
  const cutOff = setTimeout(() => {
    log('grace period over: cutting off the operations still in flight');
    parts.operations.abort(shutdownReason());
  }, graceMs);
  // HTTP and WebSocket operations in flight get the same grace; sockets close as their operations finish.
  const drained = Promise.all([drainServer(parts.server, graceMs + FLUSH_MS), parts.websocket.drain(graceMs + FLUSH_MS)]);
  log(`listener closed; waiting up to ${graceMs} ms for in-flight operations`);
  const forced = (await drained).some((result) => result.forced);
  clearTimeout(cutOff);
  log(forced ? 'grace period over: closed the remaining connections' : 'in-flight operations finished');
  // Upstream requests that outlive their operation (a create finishing for its idempotency key) get what is left
  // of the grace; then they are destroyed, so that shutdown ends within the grace and not at their timeouts.
  await parts.upstream.close(Math.max(0, graceEnds - Date.now()));
  await parts.redis?.close();
  await parts.tracing?.shutdown();
  return { forced };
}

/** At once, dropping whatever is in flight (tests). */
export async function closeNow(parts: Omit<Closeable, 'closing'>): Promise<void> {
  parts.live.close();
  await parts.websocket.close();
  await new Promise<void>((resolve) => {
    parts.server.close(() => resolve());
    parts.server.closeAllConnections();
  });
  await parts.upstream.close(0);
  await parts.redis?.close();
  await parts.tracing?.shutdown();
}
