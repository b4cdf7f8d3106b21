import { GraphQLError } from 'graphql';
import { maskKeys } from '../logging/redact.js';
import { UpstreamError } from '../upstream/dashscope/errors.js';
import { cutOffBy } from './deadline.js';
import { GatewayError, type GatewayErrorExtensions } from './gateway-error.js';
import { upstreamRule } from './upstream.js';

/*
 * Why errors are converted early, where they happen, and not left to `maskError`: yoga wraps the `maskError` it is
 * given and logs the error it passed in at ERROR level whenever `maskError` returns a different object
 * (graphql-yoga's server.ts; its handleError logs again for errors of the request itself; the WebSocket transport,
 * src/gateway/websocket.ts, does the same). The `maskError` below returns an error the gateway raised on purpose (a
 * GraphQLError, or one wrapped by graphql-js with its path) as the same object, so it is not logged. Hence an expected
 * upstream failure (a 404, a 429, a deadline) is turned into its GatewayError by `toGatewayError` in the reads
 * (src/context.ts), the writes (src/modules/fine-tune-job/mutations.ts) and the live updates
 * (src/modules/live/job-watch.ts): the client gets its code, and operators no ERROR line for it. Whatever reaches
 * `maskError` unconverted is a gateway fault: masked (or mapped, for a stray upstream failure), and logged by yoga.
 */

/**
 * The gateway's form of a failure: an upstream failure becomes its coded GatewayError (one table: upstream.ts, with
 * any key an upstream message echoes masked); a call that ended because the operation's `signal` aborted is
 * UPSTREAM_TIMEOUT (deadline) or UPSTREAM_UNAVAILABLE (the caller left); anything else is returned as it is.
 */
export function toGatewayError(error: unknown, signal?: AbortSignal): unknown {
  if (error instanceof UpstreamError) {
    const f = error.failure;
    const rule = upstreamRule(f);
    const extensions: GatewayErrorExtensions = { code: rule.code, retryable: rule.retryable };
    if (f.retryAfterSeconds !== undefined) extensions.retryAfterSeconds = f.retryAfterSeconds;
    if (f.kind === 'rate-limited') extensions.limit = 'upstreamRate';
    if (f.kind === 'http' && f.httpStatus !== undefined) {
      extensions.upstream = { code: f.code ?? null, httpStatus: f.httpStatus, requestId: f.requestId ?? null };
    }
    return new GatewayError(maskKeys(rule.message(f)), extensions);
  }
  // A shared or queued read reports the abort itself (not an UpstreamError); the deadline passing is still a timeout.
  if (signal?.aborted) return abortedOperationError(signal);
  return error;
}

/** A client that went away reads nothing; its error is typed only so that it is not logged as a gateway fault. */
function abortedOperationError(signal: AbortSignal): GatewayError {
  switch (cutOffBy(signal)) {
    case 'deadline':
      return new GatewayError('The operation ran out of time before DashScope answered.', { code: 'UPSTREAM_TIMEOUT', retryable: true });
    case 'shutdown':
      return new GatewayError('The gateway is shutting down and DashScope had not answered yet: retry.', {
        code: 'UPSTREAM_TIMEOUT',
        retryable: true,
      });
    default:
      return new GatewayError('The request was closed before DashScope answered.', { code: 'UPSTREAM_UNAVAILABLE', retryable: true });
  }
}

/**
 * Yoga's `maskError`, the last resort: an upstream failure nobody converted still gets its code (keeping path and
 * locations; yoga logs it, since it is a new object), errors the gateway raised on purpose pass, everything else is
 * masked as INTERNAL_SERVER_ERROR.
 */
export function maskError(error: unknown, fallbackMessage: string, isDev?: boolean): Error {
  const graphqlError = error instanceof GraphQLError ? error : null;
  const original = graphqlError?.originalError ?? error;
  const location = {
    nodes: graphqlError?.nodes,
    source: graphqlError?.source,
    positions: graphqlError?.positions,
    path: graphqlError?.path,
  };
  if (original instanceof UpstreamError) {
    const mapped = toGatewayError(original) as GatewayError;
    return new GraphQLError(mapped.message, { ...location, extensions: mapped.extensions });
  }
  if (original instanceof GraphQLError) return graphqlError ?? original;
  return new GraphQLError(fallbackMessage, {
    ...location,
    extensions: { code: 'INTERNAL_SERVER_ERROR', retryable: false, ...(isDev && { originalMessage: (original as Error)?.message }) },
  });
}
