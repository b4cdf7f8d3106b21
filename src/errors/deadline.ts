/*
 * The operation deadline's one rule, GraphQL-free (the upstream client reads it too): the deadline aborts the
 * operation's signal with a `TimeoutError`; any other abort is the caller going away.
 */

/** The reason an operation's signal aborts with when its deadline passes (src/plugins/use-operation-deadline.ts). */
export const deadlineReason = (): DOMException => new DOMException('The operation deadline passed.', 'TimeoutError');

/** Whether `signal` aborted because the operation deadline passed. */
export function deadlinePassed(signal: AbortSignal | undefined): boolean {
  const reason: unknown = signal?.aborted ? signal.reason : undefined;
  return reason instanceof Error && reason.name === 'TimeoutError';
}
