import { getOperationAST, type DocumentNode, type ExecutionResult, type GraphQLError } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import { currentRequestId, type GatewayLogger } from '../logging/index.js';
import { operationTally, type GatewayMetrics, type OperationTally, type Transport } from '../metrics/metrics.js';
import { apiKeyScope } from '../upstream/credential-scope.js';
import type { Credential } from '../upstream/dashscope/index.js';

/**
 * One log line (info) and the operation metrics for every operation, on every transport: HTTP, SSE and multipart reach
 * it through yoga's pipeline, graphql-ws through yoga's enveloped execute and subscribe (src/gateway/websocket.ts).
 * The operation runs inside its own tally (an AsyncLocalStorage), which the upstream client and the job cache count
 * into, so that the line says what the operation cost upstream. A query or mutation ends when it answers; a
 * subscription when its stream ends; an operation refused at validation ends there.
 */
export function useOperationObserver({
  metrics,
  logger,
  codes,
  trustedNames,
}: {
  metrics: GatewayMetrics;
  logger: GatewayLogger;
  /** The documented error codes: an error with any other (or none) is counted as INTERNAL_SERVER_ERROR. */
  codes: ReadonlySet<string>;
  /** With trusted documents (PERSISTED_DOCUMENTS): their operations' names, the only ones that become labels. */
  trustedNames?: ReadonlySet<string>;
}): Plugin & { activeSubscriptions: () => number } {
  const tallies = new WeakMap<object, OperationTally>();
  let activeSubscriptions = 0;
  const tallyOf = (context: object): OperationTally => {
    let tally = tallies.get(context);
    if (!tally) tallies.set(context, (tally = { upstreamCalls: 0, upstreamSuccesses: 0, cacheHits: 0 }));
    return tally;
  };
  // As use-public-errors.ts will answer it: a documented code, or the fallback.
  const codeOf = (error: Error, fallback: string): string => {
    const code = (error as Partial<GraphQLError>).extensions?.code;
    return typeof code === 'string' && codes.has(code) ? code : fallback;
  };

  const finish = (
    context: object,
    operation: { name: string | null | undefined; type: string; requestId: string | undefined },
    started: number,
    errors: readonly Error[],
    timed: boolean,
    fallback = 'INTERNAL_SERVER_ERROR',
    /** Values a subscription delivered: each one DashScope answered for the caller's credential. */
    delivered = 0,
  ) => {
    const durationMs = Math.round((performance.now() - started) * 10) / 10;
    const errorCodes = [...new Set(errors.map((error) => codeOf(error, fallback)))];
    const transport = transportOf(context);
    const outcome = errorCodes[0] ?? 'ok';
    const tally = tallyOf(context);
    // A new name becomes a label only from the deployment's own operations: a trusted document's, or one DashScope
    // accepted the caller's key for (an upstream success, a hit in a cache keyed by that credential, a subscription's
    // value), within that key's share. Anyone can send `query A1`, `A2`, … without a key, with a made-up one, or
    // cancelled before DashScope answered: those count as `other` and use up no room.
    const owner = tally.upstreamSuccesses + tally.cacheHits + delivered > 0 ? ownerOf(context) : undefined;
    const admit = trustedNames ? !!operation.name && trustedNames.has(operation.name) : owner !== undefined && { owner };
    metrics.operation(
      { name: metrics.operationNames.of(operation.name, 'anonymous', admit), type: operation.type, transport, outcome },
      timed ? durationMs : undefined,
    );
    logger.info(
      {
        event: 'operation',
        // The client's own name, JSON-escaped like any field; bounded in length, not in values (metrics bound those).
        operationName: operation.name?.slice(0, 100) ?? null,
        operationType: operation.type,
        transport,
        durationMs,
        upstreamCalls: tally.upstreamCalls,
        cacheHits: tally.cacheHits,
        errorCodes,
        // Taken when the operation started: a stream ends outside the request's async context.
        requestId: operation.requestId,
      },
      'operation',
    );
  };

  return {
    activeSubscriptions: () => activeSubscriptions,
    instrumentation: {
      // Everything the operation runs, resolvers and upstream calls, counts into its tally.
      execute: ({ context }, wrapped) => operationTally.run(tallyOf(context), wrapped),
      subscribe: ({ context }, wrapped) => operationTally.run(tallyOf(context), wrapped),
    },
    onValidate({ context, params }) {
      const started = performance.now();
      return ({ result }) => {
        if (result.length === 0) return;
        const operation = describe(
          params.documentAST as DocumentNode,
          (context as { params?: { operationName?: string } }).params?.operationName,
        );
        // Validation errors are the request's own: use-public-errors.ts answers them as BAD_USER_INPUT.
        finish(context, operation, started, result as readonly Error[], false, 'BAD_USER_INPUT');
      };
    },
    onExecute({ args }) {
      const started = performance.now();
      const operation = describe(args.document as DocumentNode, args.operationName as string | null | undefined);
      return {
        onExecuteDone({ result }) {
          if (!isAsyncIterable(result))
            return finish(args.contextValue, operation, started, (result.errors ?? []) as readonly Error[], true);
          const errors: GraphQLError[] = [];
          return {
            onNext: ({ result: part }) => void errors.push(...((part.errors ?? []) as readonly GraphQLError[])),
            onEnd: () => finish(args.contextValue, operation, started, errors, true),
          };
        },
      };
    },
    onSubscribe({ args }) {
      const started = performance.now();
      const operation = describe(args.document as DocumentNode, args.operationName as string | null | undefined);
      return {
        onSubscribeResult({ result }) {
          if (!isAsyncIterable(result))
            return finish(args.contextValue, operation, started, (result as ExecutionResult).errors ?? [], false);
          activeSubscriptions++;
          const errors: GraphQLError[] = [];
          let delivered = 0;
          return {
            onNext: ({ result: part }) => {
              const { data, errors: partErrors } = part as ExecutionResult;
              if (partErrors?.length) errors.push(...partErrors);
              else if (data) delivered++;
            },
            onEnd: () => {
              activeSubscriptions--;
              finish(args.contextValue, operation, started, errors, false, undefined, delivered);
            },
          };
        },
        onSubscribeError({ error }) {
          finish(args.contextValue, operation, started, [error instanceof Error ? error : new Error(String(error))], false);
        },
      };
    },
  };
}

function describe(
  document: DocumentNode,
  operationName: string | null | undefined,
): { name: string | null | undefined; type: string; requestId: string | undefined } {
  const operation = getOperationAST(document, operationName);
  return { name: operation?.name?.value ?? operationName, type: operation?.operation ?? 'unknown', requestId: currentRequestId() };
}

/** The hash of the API key the operation acted with (src/context.ts: `credential()` throws without one). */
function ownerOf(context: object): string | undefined {
  try {
    const credential = (context as { credential?: () => Credential }).credential?.();
    return credential ? apiKeyScope(credential) : undefined;
  } catch {
    return undefined;
  }
}

/** How the operation came: graphql-ws requests carry the upgrade's headers (src/gateway/websocket.ts). */
function transportOf(context: object): Transport {
  const headers = (context as { request?: Request }).request?.headers;
  if (!headers) return 'http';
  if (headers.get('upgrade')?.toLowerCase() === 'websocket') return 'graphql-ws';
  const accept = headers.get('accept') ?? '';
  if (accept.includes('text/event-stream')) return 'sse';
  if (accept.includes('multipart/mixed')) return 'multipart';
  return 'http';
}
