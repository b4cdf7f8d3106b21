import { errors as undiciErrors } from 'undici';
import { UpstreamError, type UpstreamFailure } from './errors.js';
import type { UpstreamRequestEvent } from './client.js';

/* How one attempt of an upstream request ended: its failure as an UpstreamError, and the event metrics count. */

const NETWORK_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** A request that got no answer, as the typed failure: a timeout, the upstream unreachable, or an unreadable answer. */
export function networkFailure(error: unknown, failure: Pick<UpstreamFailure, 'subject' | 'action'>): Error {
  if (error instanceof Error && error.name === 'AbortError') return error;
  if (
    error instanceof undiciErrors.ConnectTimeoutError ||
    error instanceof undiciErrors.HeadersTimeoutError ||
    error instanceof undiciErrors.BodyTimeoutError
  ) {
    return new UpstreamError({ ...failure, kind: 'timeout', detail: error.code }, { cause: error });
  }
  const code = (error as { code?: string } | null)?.code;
  if (
    error instanceof undiciErrors.SocketError ||
    error instanceof undiciErrors.RequestAbortedError ||
    (code && NETWORK_ERROR_CODES.has(code))
  ) {
    return new UpstreamError({ ...failure, kind: 'unavailable', detail: code }, { cause: error });
  }
  // A body that ends early (truncated) or cannot be decoded reads as a malformed answer.
  if (error instanceof undiciErrors.ResponseError || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') {
    return new UpstreamError({ ...failure, kind: 'bad-response', detail: code }, { cause: error });
  }
  return new UpstreamError(
    { ...failure, kind: 'unavailable', detail: code ?? (error instanceof Error ? error.message : 'unknown error') },
    { cause: error },
  );
}

/** Times one attempt and tells `onRequest` how it ended (a request refused before sending is not one). */
export async function observed<T>(
  endpoint: string,
  signal: AbortSignal | undefined,
  onRequest: (event: UpstreamRequestEvent) => void,
  send: () => Promise<T>,
): Promise<T> {
  const started = performance.now();
  const report = (status: string, code?: string) => onRequest({ endpoint, status, code, durationMs: performance.now() - started });
  try {
    const result = await send();
    report('2xx');
    return result;
  } catch (error) {
    const f = error instanceof UpstreamError ? error.failure : undefined;
    if (f?.kind !== 'invalid-request') {
      // The caller's own upload body failed: the gateway aborted the request, as when the caller leaves.
      if (signal?.aborted || f?.kind === 'caller') report('aborted');
      else
        report(
          f?.httpStatus !== undefined ? String(f.httpStatus) : (f?.kind ?? 'unavailable'),
          f?.code ?? (f?.kind === 'http' ? undefined : f?.kind),
        );
    }
    throw error;
  }
}
