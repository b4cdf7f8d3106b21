import { GraphQLError, isEnumType, type GraphQLSchema } from 'graphql';
import type { ErrorCode } from '../generated/graphql.js';

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
  /** The same for createDeployment: the deployment may exist. */
  deploymentMayExist?: boolean;
  /** HTTP status for a request rejected as a whole (yoga reads it and leaves it out of the response). */
  http?: { status: number; spec?: boolean };
}

/** Every error the gateway means to show a client. Anything else is masked as INTERNAL_SERVER_ERROR. */
export class GatewayError extends GraphQLError {
  constructor(message: string, extensions: GatewayErrorExtensions) {
    super(message, { extensions: { ...extensions } });
  }
}

/** The documented codes, read from the schema's `enum ErrorCode` (the one list; codegen types `ErrorCode` from it). */
export function errorCodes(schema: GraphQLSchema): ReadonlySet<string> {
  const type = schema.getType('ErrorCode');
  if (!isEnumType(type)) throw new Error('the schema has no `enum ErrorCode`');
  return new Set(type.getValues().map((value) => value.name));
}

export function badUserInput(message: string, argumentName?: string): GatewayError {
  return new GatewayError(message, { code: 'BAD_USER_INPUT', retryable: false, ...(argumentName && { argumentName }) });
}

export function unauthenticated(message: string): GatewayError {
  return new GatewayError(message, { code: 'UNAUTHENTICATED', retryable: false });
}

/** A whole request refused before yoga parses it, in the GraphQL response shape. */
export function errorResponse(fetchAPI: { Response: typeof Response }, status: number, error: GraphQLError): Response {
  const extensions = { ...error.extensions };
  delete extensions.http;
  return new fetchAPI.Response(JSON.stringify({ errors: [{ message: error.message, extensions }] }), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8' },
  });
}
