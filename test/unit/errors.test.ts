import { GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { maskError, toGatewayError, type GatewayError } from '../../src/errors/index.js';

const fromUpstreamError = (error: UpstreamError) => toGatewayError(error) as GatewayError;
import { UpstreamError, parseRetryAfter, type UpstreamFailure } from '../../src/upstream/dashscope/errors.js';

const subject = 'fine-tune job "ft-202410291653-1c7f"';
const http = (httpStatus: number, code?: string, extra: Partial<UpstreamFailure> = {}) =>
  fromUpstreamError(
    new UpstreamError({ kind: 'http', subject, action: 'reading', httpStatus, code, upstreamMessage: 'msg', requestId: 'RID-1', ...extra }),
  );

describe('upstream failure → GraphQL error table', () => {
  it.each([
    [400, 'InvalidParameter', 'BAD_USER_INPUT', false],
    [400, 'UnsupportedOperation', 'UNSUPPORTED_OPERATION', false],
    [401, 'InvalidApiKey', 'UNAUTHENTICATED', false],
    [403, 'Workspace.AccessDenied', 'FORBIDDEN', false],
    [404, 'NotFound', 'NOT_FOUND', false],
    [404, 'WorkSpaceNotFound', 'NOT_FOUND', false],
    [409, 'Conflict', 'CONFLICT', false],
    [429, 'Throttling', 'RATE_LIMITED', true],
    [429, 'Throttling.RateQuota', 'RATE_LIMITED', true],
    [429, 'PrepaidBillOverdue', 'RATE_LIMITED', false],
    [500, 'InternalError', 'UPSTREAM_ERROR', true],
    [503, undefined, 'UPSTREAM_ERROR', true],
    [418, undefined, 'UPSTREAM_ERROR', false],
  ])('HTTP %i %s → %s (retryable %s)', (status, code, expected, retryable) => {
    const error = http(status, code);
    expect(error.extensions).toMatchObject({
      code: expected,
      retryable,
      upstream: { code: code ?? null, httpStatus: status, requestId: 'RID-1' },
    });
    expect(error.message).toContain('ft-202410291653-1c7f');
  });

  it.each([
    ['unavailable', 'UPSTREAM_UNAVAILABLE', true],
    ['timeout', 'UPSTREAM_TIMEOUT', true],
    ['bad-response', 'UPSTREAM_BAD_RESPONSE', false],
    ['invalid-request', 'BAD_USER_INPUT', false],
  ] as const)('%s → %s without upstream details', (kind, expected, retryable) => {
    const error = fromUpstreamError(new UpstreamError({ kind, subject, action: 'reading', detail: 'x' }));
    expect(error.extensions).toEqual({ code: expected, retryable });
    expect(error.message).toContain('ft-202410291653-1c7f');
  });

  it('carries Retry-After as retryAfterSeconds', () => {
    expect(http(429, 'Throttling', { retryAfterSeconds: 7 }).extensions.retryAfterSeconds).toBe(7);
  });

  it('quotes the upstream message in a sentence', () => {
    expect(http(400, 'UnsupportedOperation', { action: 'canceling', upstreamMessage: 'already succeeded' }).message).toBe(
      'DashScope does not allow canceling fine-tune job "ft-202410291653-1c7f" in its current state: already succeeded',
    );
  });

  it('never repeats something that looks like an API key', () => {
    expect(http(401, 'InvalidApiKey', { upstreamMessage: 'Invalid API-key sk-abcdef123456 provided.' }).message).not.toContain(
      'sk-abcdef123456',
    );
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('12')).toBe(12);
    expect(parseRetryAfter(new Date(Date.UTC(2026, 0, 1, 0, 0, 30)).toUTCString(), Date.UTC(2026, 0, 1))).toBe(30);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});

describe('maskError', () => {
  it('masks an unexpected error', () => {
    const masked = maskError(
      new GraphQLError('boom', { originalError: new Error('secret internals'), path: ['fineTuneJob'] }),
      'Unexpected error.',
    ) as GraphQLError;
    expect(masked.message).toBe('Unexpected error.');
    expect(masked.extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR', retryable: false });
    expect(masked.path).toEqual(['fineTuneJob']);
  });

  it('maps an upstream error and keeps its path', () => {
    const wrapped = new GraphQLError('x', {
      originalError: new UpstreamError({ kind: 'timeout', subject, action: 'reading' }),
      path: ['a', 1],
    });
    const mapped = maskError(wrapped, 'Unexpected error.') as GraphQLError;
    expect(mapped.extensions.code).toBe('UPSTREAM_TIMEOUT');
    expect(mapped.path).toEqual(['a', 1]);
  });
});
