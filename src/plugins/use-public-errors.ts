import { GraphQLError, type ExecutionResult } from 'graphql';
import { isAsyncIterable, mapAsyncIterator, type Plugin } from 'graphql-yoga';

const SUGGESTION = /\s*Did you mean .+\?$/;

/**
 * One line for an error masked here: the log is its only trace (yoga logs the ones `maskError` masked before). The
 * stack only in development. JSON-quoted, so that a newline in it (a message may quote client input) cannot start a
 * forged log line.
 */
function describeInternalError(error: unknown, path: readonly (string | number)[] | undefined, isDev?: boolean): string {
  const original = error instanceof GraphQLError ? (error.originalError ?? error) : error;
  const detail = original instanceof Error ? (isDev && original.stack) || `${original.name}: ${original.message}` : String(original);
  return `Internal error masked as INTERNAL_SERVER_ERROR${path ? ` at ${path.join('.')}` : ''}: ${JSON.stringify(detail)}`;
}

/**
 * The last word on every error a client sees, whichever layer raised it: each carries one of the documented codes.
 * Errors of the request itself (syntax, validation, variables, a malformed body: no `path`) that yoga or graphql-js
 * coded their own way become BAD_USER_INPUT; anything else unknown is masked. Outside development, "Did you mean …"
 * suggestions (which spell out the schema) and yoga's `originalError` details are dropped.
 */
export function publicError(
  error: GraphQLError,
  codes: ReadonlySet<string>,
  isDev: boolean,
  logInternal: (line: string) => void = () => {},
): GraphQLError {
  const { code, originalError: _detail, ...rest } = (error.extensions ?? {}) as Record<string, unknown>;
  const known = typeof code === 'string' && codes.has(code);
  if (known && (isDev || (!SUGGESTION.test(error.message) && !_detail))) return error;
  const isRequestError = !error.path;
  let message = isDev ? error.message : error.message.replace(SUGGESTION, '');
  let extensions: Record<string, unknown> = { ...rest, code };
  // Yoga answers 400 rather than 200 when an error carries a non-GraphQL `originalError` (a body that is not JSON);
  // without the detail, `spec: false` keeps that status.
  if (_detail)
    extensions = isDev ? { ...extensions, originalError: _detail } : { ...extensions, http: { ...(rest.http as object), spec: false } };
  if (!known && isRequestError) extensions = { ...extensions, code: 'BAD_USER_INPUT', retryable: false };
  if (!known && !isRequestError) {
    logInternal(describeInternalError(error, error.path, isDev));
    message = 'Unexpected error.';
    extensions = { code: 'INTERNAL_SERVER_ERROR', retryable: false };
  }
  return new GraphQLError(message, { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path, extensions });
}

/**
 * `codes`: the documented ones (`errorCodes(schema)`, src/errors/index.ts). `logInternal` hears every error masked here
 * (one that reached the client without a documented code).
 */
export function usePublicErrors(codes: ReadonlySet<string>, isDev: boolean, logInternal?: (line: string) => void): Plugin {
  const publicResult = (result: ExecutionResult): ExecutionResult => {
    if (!result.errors?.length) return result;
    return { ...result, errors: result.errors.map((error) => publicError(error, codes, isDev, logInternal)) };
  };
  return {
    onResultProcess(payload) {
      const { result } = payload;
      if (isAsyncIterable(result)) payload.setResult(mapAsyncIterator(result, (value) => publicResult(value as ExecutionResult)));
      else if (Array.isArray(result)) payload.setResult(result.map((value) => publicResult(value)));
      else payload.setResult(publicResult(result));
    },
  };
}
