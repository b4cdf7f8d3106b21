import { GraphQLError } from 'graphql';
import { maskKeys } from './security/logger.js';
import { BILLING_THROTTLING_CODES, isJobQuotaExceeded, UpstreamError, type UpstreamFailure } from './upstream/dashscope/errors.js';

export type ErrorCode =
  | 'BAD_USER_INPUT'
  | 'NOT_FOUND'
  | 'UNSUPPORTED_OPERATION'
  | 'CONFLICT'
  | 'RATE_LIMITED'
  | 'QUOTA_EXCEEDED'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'UPSTREAM_ERROR'
  | 'UPSTREAM_UNAVAILABLE'
  | 'UPSTREAM_TIMEOUT'
  | 'UPSTREAM_BAD_RESPONSE'
  | 'PERSISTED_QUERY_NOT_FOUND'
  | 'INTERNAL_SERVER_ERROR';

export interface GatewayErrorExtensions {
  code: ErrorCode;
  retryable: boolean;
  retryAfterSeconds?: number;
  upstream?: { code: string | null; httpStatus: number; requestId: string | null };
  /** For BAD_USER_INPUT: the argument at fault. */
  argumentName?: string;
  /** For BAD_USER_INPUT: the operation limit exceeded (`maxDepth`, `maxUpstreamCalls`, …). */
  limit?: string;
  /** On a create that failed after it may have reached DashScope: the job may exist (see createFineTuneJob). */
  jobMayExist?: boolean;
  /** HTTP status for a request rejected as a whole (yoga reads it and leaves it out of the response). */
  http?: { status: number; spec?: boolean };
}

const KNOWN_CODES: Record<ErrorCode, true> = {
  BAD_USER_INPUT: true,
  NOT_FOUND: true,
  UNSUPPORTED_OPERATION: true,
  CONFLICT: true,
  RATE_LIMITED: true,
  QUOTA_EXCEEDED: true,
  UNAUTHENTICATED: true,
  FORBIDDEN: true,
  UPSTREAM_ERROR: true,
  UPSTREAM_UNAVAILABLE: true,
  UPSTREAM_TIMEOUT: true,
  UPSTREAM_BAD_RESPONSE: true,
  PERSISTED_QUERY_NOT_FOUND: true,
  INTERNAL_SERVER_ERROR: true,
};

/** Whether `code` is one of the gateway's documented error codes. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(KNOWN_CODES, code);
}

/** Every error the gateway means to show a client. Anything else is masked as INTERNAL_SERVER_ERROR. */
export class GatewayError extends GraphQLError {
  constructor(message: string, extensions: GatewayErrorExtensions) {
    super(message, { extensions: { ...extensions } });
  }
}

export function badUserInput(message: string, argumentName?: string): GatewayError {
  return new GatewayError(message, { code: 'BAD_USER_INPUT', retryable: false, ...(argumentName && { argumentName }) });
}

export function unauthenticated(message: string): GatewayError {
  return new GatewayError(message, { code: 'UNAUTHENTICATED', retryable: false });
}

interface Rule {
  code: ErrorCode;
  retryable: boolean;
  message: (f: UpstreamFailure) => string;
}

const said = (f: UpstreamFailure) => (f.upstreamMessage ? `: ${f.upstreamMessage}` : '.');

/** The one table from an upstream failure to a GraphQL error code. */
function ruleFor(f: UpstreamFailure): Rule {
  switch (f.kind) {
    case 'invalid-request':
      return { code: 'BAD_USER_INPUT', retryable: false, message: () => `Refused before ${f.action} ${f.subject}: ${f.detail}.` };
    case 'unavailable':
      return {
        code: 'UPSTREAM_UNAVAILABLE',
        retryable: true,
        message: () => `DashScope could not be reached while ${f.action} ${f.subject}.`,
      };
    case 'timeout':
      return {
        code: 'UPSTREAM_TIMEOUT',
        retryable: true,
        message: () => `DashScope did not answer in time while ${f.action} ${f.subject}.`,
      };
    case 'bad-response':
      return {
        code: 'UPSTREAM_BAD_RESPONSE',
        retryable: false,
        message: () => `DashScope sent a malformed response while ${f.action} ${f.subject}.`,
      };
    case 'http':
      break;
  }
  const status = f.httpStatus ?? 0;
  if (status === 400 && f.code === 'UnsupportedOperation')
    return {
      code: 'UNSUPPORTED_OPERATION',
      retryable: false,
      message: () => `DashScope does not allow ${f.action} ${f.subject} in its current state${said(f)}`,
    };
  if (status === 400)
    return { code: 'BAD_USER_INPUT', retryable: false, message: () => `DashScope rejected ${f.action} ${f.subject} as invalid${said(f)}` };
  if (status === 401)
    return {
      code: 'UNAUTHENTICATED',
      retryable: false,
      message: () => `DashScope did not accept the API key while ${f.action} ${f.subject}${said(f)}`,
    };
  if (status === 403)
    return { code: 'FORBIDDEN', retryable: false, message: () => `DashScope denied access while ${f.action} ${f.subject}${said(f)}` };
  if (status === 404)
    return {
      code: 'NOT_FOUND',
      retryable: false,
      message: () => `DashScope has no ${f.subject}${f.code && f.code !== 'NotFound' ? ` (${f.code})` : ''}.`,
    };
  if (status === 409)
    return { code: 'CONFLICT', retryable: false, message: () => `DashScope reported a conflict while ${f.action} ${f.subject}${said(f)}` };
  if (isJobQuotaExceeded(f))
    return {
      code: 'QUOTA_EXCEEDED',
      retryable: false,
      message: () =>
        `DashScope's quota of fine-tune jobs per user is used up while ${f.action} ${f.subject}${said(f)} Waiting does not clear it: ` +
        'cancel or delete jobs you no longer need (running and succeeded jobs count), or ask Alibaba Cloud for a higher quota.',
    };
  if (status === 429)
    return {
      code: 'RATE_LIMITED',
      retryable: !BILLING_THROTTLING_CODES.has(f.code ?? ''),
      message: () => `DashScope is limiting requests while ${f.action} ${f.subject}${said(f)}`,
    };
  return {
    code: 'UPSTREAM_ERROR',
    retryable: status >= 500,
    message: () => `DashScope failed with HTTP ${status} while ${f.action} ${f.subject}${said(f)}`,
  };
}

/** The GraphQL form of an upstream failure; an upstream message that echoes a key does not carry it to the client. */
export function fromUpstreamError(error: UpstreamError): GatewayError {
  const f = error.failure;
  const rule = ruleFor(f);
  const extensions: GatewayErrorExtensions = { code: rule.code, retryable: rule.retryable };
  if (f.retryAfterSeconds !== undefined) extensions.retryAfterSeconds = f.retryAfterSeconds;
  if (f.kind === 'http' && f.httpStatus !== undefined) {
    extensions.upstream = { code: f.code ?? null, httpStatus: f.httpStatus, requestId: f.requestId ?? null };
  }
  return new GatewayError(maskKeys(rule.message(f)), extensions);
}

/**
 * Yoga's `maskError`: upstream failures become their mapped GraphQL error (keeping path and locations), errors the
 * gateway raised on purpose pass, everything else is masked.
 */
export function maskError(error: unknown, fallbackMessage: string, isDev?: boolean): Error {
  const graphqlError = error instanceof GraphQLError ? error : null;
  const original = graphqlError?.originalError ?? error;
  if (original instanceof UpstreamError) {
    const mapped = fromUpstreamError(original);
    return new GraphQLError(mapped.message, {
      nodes: graphqlError?.nodes,
      source: graphqlError?.source,
      positions: graphqlError?.positions,
      path: graphqlError?.path,
      extensions: mapped.extensions,
    });
  }
  if (original instanceof GraphQLError) return graphqlError ?? original;
  return new GraphQLError(fallbackMessage, {
    nodes: graphqlError?.nodes,
    source: graphqlError?.source,
    positions: graphqlError?.positions,
    path: graphqlError?.path,
    extensions: { code: 'INTERNAL_SERVER_ERROR', retryable: false, ...(isDev && { originalMessage: (original as Error)?.message }) },
  });
}
