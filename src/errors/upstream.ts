import type { ErrorCode } from '../generated/graphql.js';
import { BILLING_THROTTLING_CODES, isJobQuotaExceeded, type UpstreamFailure } from '../upstream/dashscope/errors.js';

/* Nothing here knows GraphQL: the upstream client (resilience.ts) reads `isRetryable` from this same table. */

export interface UpstreamRule {
  code: ErrorCode;
  retryable: boolean;
  message: (f: UpstreamFailure) => string;
}

const said = (f: UpstreamFailure) => (f.upstreamMessage ? `: ${f.upstreamMessage}` : '.');

/**
 * The one table from an upstream failure to its error code, whether it is retryable (a later identical request may
 * succeed: the `retryable` clients see, and what the live pollers wait out and the upstream client retries), and its
 * message.
 */
export function upstreamRule(f: UpstreamFailure): UpstreamRule {
  switch (f.kind) {
    case 'invalid-request':
      return { code: 'BAD_USER_INPUT', retryable: false, message: () => `Refused before ${f.action} ${f.subject}: ${f.detail}.` };
    case 'caller':
      return {
        code: 'BAD_USER_INPUT',
        retryable: false,
        message: () => `The request's own body failed while ${f.action} ${f.subject}${f.detail ? `: ${f.detail}` : ''}; nothing was made.`,
      };
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
    case 'rate-limited':
      return {
        code: 'RATE_LIMITED',
        retryable: true,
        message: () =>
          `The gateway's limit on requests to DashScope for this key is reached while ${f.action} ${f.subject}: nothing was sent. Retry in ${f.retryAfterSeconds ?? 1} s.`,
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
  // A 5xx's text is DashScope's internals (tracebacks, internal hosts and paths), not an explanation for the caller:
  // it is logged for operators (src/logging/upstream-events.ts), and the client keeps the code and request id.
  return {
    code: 'UPSTREAM_ERROR',
    // A 408 (DashScope's RequestTimeOut) is a timeout like any other.
    retryable: status >= 500 || status === 408,
    message: () => `DashScope failed with HTTP ${status} while ${f.action} ${f.subject}${status >= 400 && status < 500 ? said(f) : '.'}`,
  };
}

/** The one definition of retryable: waiting may clear this failure. */
export function isRetryable(f: UpstreamFailure): boolean {
  return upstreamRule(f).retryable;
}
