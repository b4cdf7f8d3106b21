import { GatewayError } from './errors.js';

/**
 * The signal every upstream call of an operation gets: it aborts when the client goes away (closing the request
 * aborts its in-flight upstream calls) or when the operation deadline passes (reason: a `TimeoutError`).
 */
export function operationSignal(request: AbortSignal, deadlineMs: number): AbortSignal {
  return AbortSignal.any([request, AbortSignal.timeout(deadlineMs)]);
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
