/**
 * What can go wrong talking to DashScope, as one typed error. The GraphQL layer turns it into a GraphQL error through
 * one mapping table (src/errors/upstream.ts, via toGatewayError); nothing here knows GraphQL.
 */
export type UpstreamFailureKind =
  | 'http' // the upstream answered with a non-2xx status
  | 'unavailable' // connection refused, reset, or closed early
  | 'timeout' // connect, headers or body timeout
  | 'bad-response' // a 2xx whose body is not the documented shape
  | 'invalid-request' // refused before sending: the request would not be well-formed (e.g. a bad id)
  | 'rate-limited' // refused before sending: the gateway's own limit on requests to DashScope (UPSTREAM_RATE_PER_SECOND)
  | 'caller'; // the caller's own request failed it mid-way (an upload's body cut off, stalled, over a limit): no fault of DashScope's

export interface UpstreamFailure {
  kind: UpstreamFailureKind;
  /** What was being done, as a noun phrase for messages: `fine-tune job "ft-…"`, `the list of fine-tune jobs`. */
  subject: string;
  action: 'reading' | 'creating' | 'canceling' | 'deleting' | 'exporting' | 'scaling';
  httpStatus?: number;
  code?: string;
  upstreamMessage?: string;
  requestId?: string;
  retryAfterSeconds?: number;
  detail?: string;
  /** Refused by the gateway itself to spare the upstream (circuit breaker open, bulkhead queue full): nothing was sent. */
  shed?: boolean;
}

/** DashScope 429 codes about billing: waiting does not clear them, so they are neither retried nor retryable. */
export const BILLING_THROTTLING_CODES: ReadonlySet<string> = new Set([
  'CommodityNotPurchased',
  'PrepaidBillOverdue',
  'PostpaidBillOverdue',
]);

/**
 * DashScope's per-user job quota ("Only 20 fine-tune job in running or succeeded allowed per user."): a 429 Throttling
 * that only its message tells apart from the retryable "Too many fine-tune job in running, please retry later.". It
 * does not clear by waiting, so it is neither retried nor retryable.
 */
export function isJobQuotaExceeded(f: UpstreamFailure): boolean {
  return f.kind === 'http' && f.httpStatus === 429 && /\ballowed per user\b/i.test(f.upstreamMessage ?? '');
}

export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
  constructor(
    readonly failure: UpstreamFailure,
    options?: { cause?: unknown },
  ) {
    super(`${failure.kind} while ${failure.action} ${failure.subject}${failure.detail ? `: ${failure.detail}` : ''}`, options);
  }
}

/** `Retry-After` is either delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (!raw) return undefined;
  if (/^\d+$/.test(raw.trim())) return Number(raw.trim());
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}

/** Failures that happen before a request is sent: the upstream cannot have acted on it. */
const NOT_SENT_DETAILS: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * Whether a write that failed this way may still have taken effect upstream: it may have been sent and processed,
 * only its answer was lost (a timeout after sending, a reset, a 2xx with a body we cannot read), or the server failed
 * after it may have stored the job (any 5xx, DashScope's own `InternalError` included, and a 408). DashScope has no
 * idempotency key, so a create that failed so must be reconciled before it is sent again. Only a failure before
 * sending, or a 4xx answer (other than 408), proves that nothing was created.
 */
export function mayHaveTakenEffect(f: UpstreamFailure): boolean {
  if (f.shed) return false;
  switch (f.kind) {
    // `caller`: the upload's body stopped before its closing delimiter, so DashScope got no whole request to act on.
    case 'invalid-request':
    case 'rate-limited':
    case 'caller':
      return false;
    case 'timeout':
    case 'unavailable':
      return !NOT_SENT_DETAILS.has(f.detail ?? '');
    case 'bad-response':
      return true;
    case 'http':
      return (f.httpStatus ?? 0) >= 500 || f.httpStatus === 408;
  }
}

/**
 * Whether the upstream may still be acting on a write that failed this way: no answer came (a timeout or a reset after
 * sending), or the answer was a timeout of a server in between (504, 408). A job it creates late would be missed by a
 * search made now, so a retry first waits for it to settle.
 */
export function mayStillBeProcessed(f: UpstreamFailure): boolean {
  if (!mayHaveTakenEffect(f)) return false;
  if (f.kind === 'timeout' || f.kind === 'unavailable') return true;
  return f.kind === 'http' && (f.httpStatus === 504 || f.httpStatus === 408);
}
