import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as pause } from 'node:timers/promises';
import { getOperationAST, OperationTypeNode, parse } from 'graphql';
import { createYoga, type GraphQLParams, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { Config } from './config.js';
import { createContext, type GatewayContext } from './context.js';
import { operationDeadlines } from './deadline.js';
import { badUserInput, GatewayError, maskError } from './errors.js';
import { loadPriceList } from './modules/fine-tune-job/derived.js';
import { IdempotencyStore } from './modules/fine-tune-job/idempotency.js';
import { JobWatch } from './modules/live/job-watch.js';
import { useApolloMultipartSubscriptions, usePersistedQueries } from './edge/apollo.js';
import { useResponseCompression } from './edge/compression.js';
import { corsPolicy, useVaryOrigin } from './edge/cors.js';
import { renderGraphiQLPage, useGraphiQLAssets } from './edge/graphiql.js';
import { buildSchema } from './schema.js';
import { drainServer, useReadiness, useSubscriptionShutdown } from './shutdown.js';
import { createLogger, securityPlugins, type LogSink } from './security/index.js';
import { useSubscriptionLimit } from './security/live-limits.js';
import { DashScopeClient, isValidId, type Credential, type FineTuneJobRecord, type ResilienceEvent } from './upstream/dashscope/index.js';
import { JobReader } from './upstream/job-reader.js';
import { serveWebSocket } from './websocket.js';

export const GRAPHIQL_DEFAULT_QUERY = `# finetune-gateway: GraphQL over DashScope fine-tuning jobs.
# Press the play button to run. The book icon (left) opens the docs.
# Next, try: fineTuneJob(id: "ft-202605271743-dd2a") { checkpoints { name status } }
query Dashboard {
  fineTuneJobs(page: 1, pageSize: 10) {
    total
    hasNextPage
    items {
      id
      status
      model
      createdAt
      durationSeconds
      costEstimate { amount currency isFinal }
    }
  }
}
`;

export interface GatewayOptions {
  config: Config;
  /** The upstream client; made from `config.upstream` when not given. */
  client?: DashScopeClient;
  /** Clock for derived fields (tests pin it). */
  now?: () => number;
  /** Where log lines go, already redacted (default: the console). */
  log?: LogSink;
}

export interface Gateway {
  yoga: YogaServerInstance<object, GatewayContext>;
  server: Server;
  /** Starts listening; resolves to the base URL, e.g. `http://127.0.0.1:4000`. */
  listen(port?: number, host?: string): Promise<string>;
  /** Closes at once, dropping whatever is in flight (tests). */
  close(): Promise<void>;
  /**
   * Graceful shutdown (src/shutdown.ts): `/ready` 503 and `closing` aborted at once, the listener closed after
   * `readyDelayMs`, in-flight operations given `graceMs`, then the rest closed. `log` hears each step.
   */
  shutdown(options?: { graceMs?: number; readyDelayMs?: number; log?: (message: string) => void }): Promise<{ forced: boolean }>;
  /**
   * Aborted when shutdown begins. Subscription streams end on it by themselves (useSubscriptionShutdown); anything
   * else long-lived (a WebSocket server, a timer) should listen to it and end cleanly.
   */
  closing: AbortSignal;
}

const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Every response carries `x-request-id` (the caller's, when well-formed), to quote when reporting a problem. */
function useRequestId(): Plugin {
  return {
    onResponse({ request, response }) {
      const incoming = request.headers.get('x-request-id');
      response.headers.set('x-request-id', incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID());
    },
  };
}

const BEARER = /^Bearer\s+([\x21-\x7e]{1,512})\s*$/i;

/**
 * Which DashScope key and workspace a request acts with: the gateway's own, or in forward mode the caller's. In server
 * mode the gateway's workspace is the only one (`x-dashscope-workspace` is not read). A malformed workspace is refused
 * rather than dropped: dropping it would act in the key's default workspace, which the caller did not ask for.
 */
function credentialFor(config: Config, headers: Headers): Credential | GatewayError | null {
  if (config.auth.mode === 'server') return { apiKey: config.auth.apiKey ?? '', workspace: config.upstream.workspace };
  const token = BEARER.exec(headers.get('authorization') ?? '')?.[1];
  if (!token) return null;
  const workspace = headers.get('x-dashscope-workspace');
  if (workspace === null) return { apiKey: token, workspace: config.upstream.workspace };
  // Not quoted back: the header is the caller's and may hold anything.
  if (!isValidId(workspace))
    return badUserInput('The x-dashscope-workspace header is not a workspace id (1 to 128 letters, digits, _ . : -).');
  return { apiKey: token, workspace };
}

/** An operator's line: what failed upstream and DashScope's request id to quote to its support. */
function describeUpstreamEvent(event: ResilienceEvent): string {
  if (event.type === 'breaker') {
    return event.state === 'open'
      ? 'DashScope circuit breaker opened: upstream calls fail fast until a probe succeeds'
      : 'DashScope circuit breaker closed';
  }
  const f = event.failure;
  const status = f.kind === 'http' ? `HTTP ${f.httpStatus}${f.code ? ` ${f.code}` : ''}` : `${f.kind}${f.detail ? ` (${f.detail})` : ''}`;
  return `DashScope ${status} while ${f.action} ${f.subject}${f.requestId ? `, request id ${f.requestId}` : ''}; ${event.retrying ? 'retrying' : 'giving up'}`;
}

function isSubscription({ query, operationName }: GraphQLParams): boolean {
  if (!query?.includes('subscription')) return false;
  try {
    return getOperationAST(parse(query), operationName)?.operation === OperationTypeNode.SUBSCRIPTION;
  } catch {
    return false;
  }
}

// Media types that can carry a subscription's stream: SSE, multipart (Apollo's protocol), or any.
const STREAMING_ACCEPT = /text\/event-stream|multipart\/mixed|\*\/\*/i;

/**
 * A subscription over HTTP whose Accept allows no stream (plain JSON) is refused before it starts, with a body that
 * says what to send: yoga would start it, reading upstream, and then answer a bodiless 406.
 */
function useSubscriptionNeedsStream(): Plugin {
  return {
    onParams({ params, request, setResult }) {
      const accept = request.headers.get('accept');
      if (!accept || STREAMING_ACCEPT.test(accept) || !isSubscription(params)) return;
      const message = 'A subscription is a stream: ask for it with Accept: text/event-stream (or over graphql-ws).';
      setResult({ errors: [new GatewayError(message, { code: 'BAD_USER_INPUT', retryable: false, http: { status: 406 } })] });
    },
  };
}

export function createGateway({ config, client, now, log }: GatewayOptions): Gateway {
  const { upstream } = config;
  if (!upstream.baseUrl) throw new Error('config.upstream.baseUrl is not set (demo mode sets it once the emulator listens)');
  const logger = createLogger(config.logLevel, log);
  const dashscope =
    client ??
    new DashScopeClient({
      ...upstream,
      baseUrl: upstream.baseUrl,
      resilience: { ...upstream.resilience, onEvent: (event) => logger.warn(describeUpstreamEvent(event)) },
    });
  const prices = loadPriceList(upstream.region, config.pricesFile);
  // One reader for the gateway's lifetime: its cache and in-flight reads are shared by every request.
  const reader = new JobReader(dashscope, config.cache);
  // In server mode every request acts with the same credential: one object, so its hash is computed once.
  const serverCredential = config.auth.mode === 'server' ? Object.freeze(credentialFor(config, new Headers())) : null;
  // Also per gateway, never at module scope: what idempotency keys created, and the pollers shared by subscribers.
  const idempotency = new IdempotencyStore<FineTuneJobRecord>();
  const live = new JobWatch({ client: dashscope, intervalMs: config.pollIntervalMs, maxPollers: config.realtime.maxPollers });
  const isDev = config.env === 'development';
  const closing = new AbortController();
  const deadlines = operationDeadlines(config.operationDeadlineMs);

  const yoga = createYoga<object, GatewayContext>({
    schema: buildSchema(),
    context: ({ request, params }) =>
      createContext({
        client: dashscope,
        idempotency,
        live,
        reader,
        dataloaders: config.dataloaders,
        credential: serverCredential ?? credentialFor(config, request.headers),
        batchConcurrency: upstream.batchConcurrency,
        maxUpstreamCalls: config.limits.maxUpstreamCalls,
        prices,
        // A subscription lasts as long as its stream: the operation deadline would fail its events' nested reads.
        signal: isSubscription(params) ? request.signal : deadlines.signal(request),
        now,
        warn: (message) => logger.warn(message),
      }),
    graphiql: config.graphiql && { title: 'finetune-gateway', defaultQuery: GRAPHIQL_DEFAULT_QUERY },
    // GraphiQL's assets are served from this package, not a CDN: it works offline and behind strict networks. The page
    // links them as cacheable files (src/edge/graphiql.ts), loaded on the first page view: an API-only gateway never
    // holds the bundle.
    renderGraphiQL: renderGraphiQLPage,
    landingPage: false,
    // Yoga logs every error this masks (src/security/public-errors.ts logs the ones masked after it).
    maskedErrors: { maskError, isDev },
    logging: logger,
    // No CORS headers unless origins are configured, and then only for those: other sites' pages cannot read answers.
    cors: corsPolicy(config.corsOrigins),
    batching: config.limits.batchLimit > 0 && { limit: config.limits.batchLimit },
    // useRequestBodyLimit (src/security/request-body.ts) bounds bodies, compressed or not; yoga's own limit would
    // re-stream every body a second time.
    maxRequestBodySize: false,
    healthCheckEndpoint: '/health',
    parserAndValidationCache: true,
    plugins: [
      // First: a hash-only request gets its query before the operation limits look at it.
      usePersistedQueries(),
      ...securityPlugins({
        limits: config.limits,
        introspection: config.introspection,
        isDev,
        logger,
        logRequests: config.logLevel === 'debug',
      }),
      ...(config.graphiql ? [useGraphiQLAssets()] : []),
      useApolloMultipartSubscriptions(),
      useRequestId(),
      useVaryOrigin(config.corsOrigins),
      deadlines.plugin,
      useReadiness(() => !closing.signal.aborted),
      useSubscriptionShutdown(closing.signal),
      useSubscriptionNeedsStream(),
      useSubscriptionLimit(config.realtime.maxSubscriptions),
      // Last: it compresses the final answer.
      useResponseCompression(),
    ],
  });

  const { requestTimeoutMs, headersTimeoutMs, keepAliveTimeoutMs, maxConnections } = config.http;
  // Node's defaults let a client trickling its request hold a connection for 300 s. The request timeout covers
  // receiving the request only: SSE, multipart and WebSocket streams run past it. Node checks the timeouts every
  // `connectionsCheckingInterval`, so that follows the shortest one.
  const server = createServer(
    {
      requestTimeout: requestTimeoutMs,
      headersTimeout: headersTimeoutMs,
      keepAliveTimeout: keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(headersTimeoutMs / 4))),
    },
    yoga.requestListener,
  );
  server.maxConnections = maxConnections;
  const websocket = serveWebSocket(server, yoga, {
    allowedOrigins: config.corsOrigins,
    maxPayloadBytes: config.limits.maxBodyBytes,
    maxOperationsPerSocket: config.realtime.maxOperationsPerSocket,
    isDev,
    logger,
  });
  return {
    yoga,
    server,
    listen: (port = config.port, host = config.host) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          const address = server.address() as AddressInfo;
          resolve(`http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`);
        });
      }),
    close: async () => {
      live.close();
      await websocket.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await dashscope.close(0);
    },
    shutdown: async ({ graceMs = config.shutdown.graceMs, readyDelayMs = config.shutdown.readyDelayMs, log = () => {} } = {}) => {
      closing.abort();
      live.close();
      log(`not ready; closing the listener in ${readyDelayMs} ms`);
      if (readyDelayMs > 0) await pause(readyDelayMs);
      const graceEnds = Date.now() + graceMs;
      // HTTP and WebSocket operations in flight get the same grace; sockets close as their operations finish.
      const drained = Promise.all([drainServer(server, graceMs), websocket.drain(graceMs)]);
      log(`listener closed; waiting up to ${graceMs} ms for in-flight operations`);
      const forced = (await drained).some((result) => result.forced);
      log(forced ? 'grace period over: closed the remaining connections' : 'in-flight operations finished');
      // Upstream requests that outlive their operation (a create finishing for its idempotency key) get what is left
      // of the grace; then they are destroyed, so that shutdown ends within the grace and not at their timeouts.
      await dashscope.close(Math.max(0, graceEnds - Date.now()));
      return { forced };
    },
    closing: closing.signal,
  };
}
