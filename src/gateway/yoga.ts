import { GraphQLError, Kind, parse } from 'graphql';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { Config } from '../config.js';
import { createContext, type ContextDeps, type GatewayContext } from '../context.js';
import { errorCodes, maskError } from '../errors/index.js';
import { yogaLogger, type GatewayLogger } from '../logging/index.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import { useOperationObserver } from '../plugins/use-operation-observer.js';
import { useApolloMultipartSubscriptions } from '../plugins/use-apollo-multipart.js';
import { useBatchLimit } from '../plugins/use-batch-limit.js';
import { corsPolicy, useVaryOrigin } from '../plugins/use-cors.js';
import { useCsrfPrevention } from '../plugins/use-csrf-prevention.js';
import { graphiqlOptions, renderGraphiQLPage, useGraphiQLAssets } from '../plugins/use-graphiql.js';
import { useIntrospectionSwitch } from '../plugins/use-introspection-switch.js';
import { useOperationDeadline } from '../plugins/use-operation-deadline.js';
import { useMultipartUpload } from '../plugins/use-multipart-upload.js';
import { useOperationLimits } from '../plugins/use-operation-limits.js';
import { PersistedQueries, usePersistedQueries } from '../plugins/use-persisted-queries.js';
import { usePublicErrors } from '../plugins/use-public-errors.js';
import { useReadiness } from '../plugins/use-readiness.js';
import { useRequestBodyLimit } from '../plugins/use-request-body-limit.js';
import { useRequestId } from '../plugins/use-request-id.js';
import { useRequestLog } from '../plugins/use-request-log.js';
import { useResponseCompression } from '../plugins/use-response-compression.js';
import type { ResponseCache } from '../plugins/use-response-cache.js';
import { useSubscriptionLimit } from '../plugins/use-subscription-limit.js';
import { useSubscriptionNeedsStream } from '../plugins/use-subscription-needs-stream.js';
import { useSubscriptionShutdown } from '../plugins/use-subscription-shutdown.js';
import { fieldCosts } from '../modules/index.js';
import { useFanOutBudget } from '../plugins/use-fan-out-budget.js';
import { buildSchema } from '../schema.js';
import type { GatewayError } from '../errors/index.js';
import type { Credential } from '../upstream/dashscope/index.js';
import { credentialScope } from '../upstream/credential-scope.js';
import type { Tracing } from '../observability/tracing.js';

export interface YogaParts {
  config: Config;
  logger: GatewayLogger;
  metrics: GatewayMetrics;
  /** The gateway-wide parts of every context (createGateway makes them once). */
  shared: Omit<ContextDeps, 'credential' | 'signal'>;
  credentialFor: (headers: Headers) => Credential | GatewayError | null;
  /** Aborted when shutdown begins. */
  closing: AbortSignal;
  /** OpenTelemetry, when configured (src/observability/tracing.ts). */
  tracing?: Tracing | undefined;
  /** Answers about finished jobs kept per credential; none with RESPONSE_CACHE_ENABLED=false. */
  responseCache?: ResponseCache;
}

/** The yoga server: its options, the per-operation context, and every plugin in the order a request meets them. */
export function createGatewayYoga({ config, logger, metrics, shared, credentialFor, closing, tracing, responseCache }: YogaParts): {
  yoga: YogaServerInstance<object, GatewayContext>;
  /** The documented error codes, read from the schema (`enum ErrorCode`). */
  codes: ReadonlySet<string>;
  /** The queries and mutations executing now, on every transport: shutdown cuts them off at the end of its grace. */
  operations: { abort(reason: unknown): void };
  /** The persisted-query store, shared with the WebSocket transport. */
  persistedQueries: PersistedQueries;
  /** Subscriptions streaming now, on every transport. */
  activeSubscriptions: () => number;
  /** The most subscriptions one API key holds now. */
  largestSubscriptionShare: () => number;
} {
  const isDev = config.env === 'development';
  const schema = buildSchema();
  const codes = errorCodes(schema);
  const deadline = useOperationDeadline(config.operationDeadlineMs);
  const { limits } = config;
  // An upload's body: the file, `operations` and `map` (each bounded like a JSON body), and the parts' headers.
  const multipart = {
    maxFileBytes: config.uploads.maxBytes,
    maxFieldBytes: limits.maxBodyBytes,
    maxBodyBytes: config.uploads.maxBytes + 2 * limits.maxBodyBytes + 16_384,
  };
  // The caller's credential, hashed: what per-tenant state is keyed by; null without a valid one (the response cache
  // keeps nothing for such callers).
  const scopeOf = (headers: Headers) => {
    const credential = credentialFor(headers);
    return credential && !(credential instanceof GraphQLError) ? credentialScope(credential) : null;
  };
  // Keyed by the caller's credential: one tenant cannot probe for another's queries.
  const tenantOf = (headers: Headers) => scopeOf(headers) ?? 'anonymous';
  // What a share of a pool is counted by: the API key alone (credential-scope.ts says why), once DashScope has answered
  // it; before, the one share of every key it has not (made-up keys cost nothing).
  const shareOf = (headers: Headers) => {
    const credential = credentialFor(headers);
    return credential && !(credential instanceof GraphQLError) ? shared.client.shareOf(credential) : 'anonymous';
  };
  const persistedQueries = new PersistedQueries(tenantOf, { trusted: config.persistedDocuments });
  const observer = useOperationObserver({ metrics, logger, codes, trustedNames: operationNames(config.persistedDocuments?.documents) });
  const subscriptionLimit = useSubscriptionLimit(config.realtime.maxSubscriptions, config.realtime.maxSubscriptionsPerCredential, shareOf);
  const plugins: Plugin[] = [
    // Before anything logs: the request's id, decided as it arrives, is on every log line about it and on its
    // response (`x-request-id`, to quote when reporting a problem).
    useRequestId(),
    // A span per operation on every transport, a child of the caller's `traceparent` (OTEL_* set; else nothing).
    ...(tracing?.plugins ?? []),
    // A hash-only request gets its query before the operation limits look at it.
    usePersistedQueries(persistedQueries),
    // A debug line per request and response (LOG_LEVEL=debug or trace); off, its hooks are not installed at all.
    ...(logger.isLevelEnabled('debug') ? [useRequestLog(logger)] : []),
    // The info line and the metrics of every operation, on every transport, with what it cost upstream.
    observer,
    // Before anything reads the body: another site's form POST is refused (415).
    useCsrfPrevention(),
    // Bodies bounded, compressed or not, before they are parsed; an upload by its own limit.
    useRequestBodyLimit(limits.maxBodyBytes, multipart.maxBodyBytes),
    // File uploads (GraphQL multipart requests) parsed as they stream, in place of yoga's parser that reads them whole.
    useMultipartUpload(multipart),
    // A subscription whose Accept allows no stream is refused (406) before it reads upstream; before the batch rule
    // and the subscription cap, and its guards see every subscription request.
    useSubscriptionNeedsStream(),
    // One operation per request, or a bounded batch (a subscription in one gets an error of its own).
    useBatchLimit(limits.batchLimit),
    // Depth, aliases, directives and tokens checked before anything executes.
    useOperationLimits(limits),
    // INTROSPECTION=false: the schema is not spelled out to strangers.
    useIntrospectionSwitch(config.introspection),
    // Upstream calls an operation may cause, estimated up front and counted as it runs.
    useFanOutBudget(limits.maxUpstreamCalls, fieldCosts),
    // After every check that refuses an operation (a kept answer passed them all): answers about finished jobs, per
    // credential, without execution; ETag and 304 for GET; `Cache-Control: no-store` on every other answer.
    ...(responseCache ? [responseCache.plugin(scopeOf)] : []),
    // The last word on every error a client sees: a documented code, no internals outside development.
    usePublicErrors(codes, isDev, (line) => logger.error({ source: 'public-errors' }, line)),
    // GraphiQL's files from this package, not a CDN.
    ...(config.graphiql ? [useGraphiQLAssets()] : []),
    // Apollo Client's HttpLink subscriptions.
    useApolloMultipartSubscriptions(),
    // `Vary: Origin` once origins are listed: caches do not serve one origin's answer to another.
    useVaryOrigin(config.corsOrigins),
    // Each query and mutation answers by the operation deadline; the timer lives as long as the operation.
    deadline.plugin,
    // `/ready`: 503 once shutdown begins.
    useReadiness(() => !closing.aborted),
    // Subscriptions end cleanly (`complete`) when shutdown begins.
    useSubscriptionShutdown(closing),
    // At most maxSubscriptions streams open at once, whatever their transport, and a share of them per API key.
    subscriptionLimit,
    // Last: it compresses the final answer.
    useResponseCompression(),
  ];
  const yoga = createYoga<object, GatewayContext>({
    schema,
    context: ({ request }) => createContext({ ...shared, credential: credentialFor(request.headers), signal: deadline.signal(request) }),
    graphiql: graphiqlOptions(config.graphiql, config.mode),
    // GraphiQL's assets are served from this package, not a CDN: it works offline and behind strict networks. The page
    // links them as cacheable files (src/plugins/use-graphiql.ts), loaded on the first page view: an API-only gateway
    // never holds the bundle.
    renderGraphiQL: renderGraphiQLPage,
    landingPage: false,
    // Yoga logs every error this masks (use-public-errors.ts logs the ones masked after it); why most errors are
    // converted before they get here: src/errors/to-gateway-error.ts.
    maskedErrors: { maskError, isDev },
    logging: yogaLogger(logger),
    // No CORS headers unless origins are configured, and then only for those: other sites' pages cannot read answers.
    cors: corsPolicy(config.corsOrigins),
    // Replaced by useMultipartUpload, which streams the file instead of reading the whole body.
    multipart: false,
    batching: limits.batchLimit > 0 && { limit: limits.batchLimit },
    // useRequestBodyLimit bounds bodies, compressed or not; yoga's own limit would re-stream every body a second time.
    maxRequestBodySize: false,
    // `/health` and `/metrics` are answered before yoga (src/gateway/ops-routes.ts).
    parserAndValidationCache: true,
    plugins,
  });
  return {
    yoga,
    codes,
    operations: { abort: (reason) => deadline.abortInFlight(reason) },
    persistedQueries,
    activeSubscriptions: observer.activeSubscriptions,
    largestSubscriptionShare: subscriptionLimit.largestShare,
  };
}

/** The names of the operations in the trusted documents (undefined without them): the only names metrics label. */
function operationNames(documents: ReadonlyMap<string, string> | undefined): ReadonlySet<string> | undefined {
  if (!documents) return undefined;
  const names = new Set<string>();
  for (const text of documents.values()) {
    for (const definition of parse(text).definitions) {
      if (definition.kind === Kind.OPERATION_DEFINITION && definition.name) names.add(definition.name.value);
    }
  }
  return names;
}
