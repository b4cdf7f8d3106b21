/*
 * The operation deadline's one rule, GraphQL-free (the upstream client reads it too): the deadline aborts the
 * operation's signal with a `TimeoutError`, the end of the shutdown grace with a `ShutdownError`; any other abort is
 * the caller going away. The first two cut an operation off: the gateway still answers it (a write saying that it
 * may still take effect).
 */

/** The reason an operation's signal aborts with when its deadline passes (src/plugins/use-operation-deadline.ts). */
export const deadlineReason = (): DOMException => new DOMException('The operation deadline passed.', 'TimeoutError');

/** Whether `signal` aborted because the operation deadline passed. */
export function deadlinePassed(signal: AbortSignal | undefined): boolean {
  const reason: unknown = signal?.aborted ? signal.reason : undefined;
  return reason instanceof Error && reason.name === 'TimeoutError';
}

/** The reason operations still executing when the shutdown grace ends abort with (src/gateway/lifecycle.ts). */
export const shutdownReason = (): DOMException => new DOMException('The gateway is shutting down.', 'ShutdownError');

/** Why the gateway cut `signal`'s operation off, if it did: its deadline passed, or its shutdown grace ended. */
export function cutOffBy(signal: AbortSignal | undefined): 'deadline' | 'shutdown' | undefined {
  if (deadlinePassed(signal)) return 'deadline';
  const reason: unknown = signal?.aborted ? signal.reason : undefined;
  return reason instanceof Error && reason.name === 'ShutdownError' ? 'shutdown' : undefined;
}
