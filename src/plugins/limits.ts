import { GatewayError } from '../errors/index.js';

/*
 * The limits of the public edge and their errors (the plugins that enforce them: use-operation-limits.ts,
 * use-request-body-limit.ts, use-batch-limit.ts, use-subscription-limit.ts, the fan-out budget).
 */

/** The operation limits, each checked before anything executes (the fan-out counter also while it runs). */
export interface OperationLimits {
  maxDepth: number;
  maxAliases: number;
  maxDirectives: number;
  maxTokens: number;
  maxBodyBytes: number;
  /** 0: one operation per request; N: JSON arrays of up to N operations (GraphQL batching). */
  batchLimit: number;
  /** Upstream calls one operation may cause (estimated up front, counted while it runs). */
  maxUpstreamCalls: number;
}

export const DEFAULT_LIMITS: OperationLimits = {
  maxDepth: 10,
  maxAliases: 30,
  maxDirectives: 20,
  maxTokens: 2000,
  maxBodyBytes: 100_000,
  batchLimit: 0,
  maxUpstreamCalls: 200,
};

/** The limits' names in `extensions.limit`: the operation limits, and the upload's size and types (config.uploads). */
export type LimitName = keyof OperationLimits | 'maxUploadBytes' | 'uploadTypes';

/**
 * A request over a limit: BAD_USER_INPUT naming the limit. Without `httpStatus` it is a document error: yoga answers
 * 200 to `application/json` clients and 400 to `application/graphql-response+json` ones, as GraphQL over HTTP asks.
 */
export function limitExceeded(limit: LimitName, message: string, httpStatus?: number): GatewayError {
  const http = httpStatus ? { status: httpStatus } : { status: 400, spec: true };
  return new GatewayError(message, { code: 'BAD_USER_INPUT', retryable: false, limit, http });
}

/** The caps on long-lived work (config.realtime, config.uploads), as named in `extensions.limit`. */
export type LiveLimitName =
  | 'maxOperationsPerSocket'
  | 'maxSubscriptions'
  | 'maxSubscriptionsPerCredential'
  | 'maxPollers'
  | 'maxPollersPerCredential'
  | 'maxUploads'
  | 'maxUploadsPerCredential';

/** A cap on concurrent work reached: RATE_LIMITED (retryable once some of that work ends), naming the cap. */
export function capReached(limit: LiveLimitName, message: string): GatewayError {
  return new GatewayError(message, { code: 'RATE_LIMITED', retryable: true, limit });
}
