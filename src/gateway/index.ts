import type { Server } from 'node:http';
import type { YogaServerInstance } from 'graphql-yoga';
import type { Config } from '../config.js';
import type { GatewayContext } from '../context.js';
import { createLogger, logUpstreamEvent, type GatewayLogger, type LogDestination } from '../logging/index.js';
import { GatewayMetrics, OPERATION_NAME_LABELS } from '../metrics/metrics.js';
import { loadPriceList } from '../modules/fine-tune-job/derived.js';
import { JobWatch } from '../modules/live/job-watch.js';
import { UploadSlots } from '../modules/training-file/upload-slots.js';
import { RedisPollCoordination } from '../modules/live/redis-coordination.js';
import { DashScopeClient, type FineTuneJobRecord } from '../upstream/dashscope/index.js';
import type { RedisState, RedisStateListener } from '../shared-state/redis.js';
import { JobReader } from '../upstream/job-reader.js';
import { MemoryResponseCache, type ResponseCacheStore } from '../plugins/response-cache-store.js';
import { ResponseCache, type ResponseCacheOptions } from '../plugins/use-response-cache.js';
import { credentials } from './auth.js';
import { createHttpServer, listen } from './http-server.js';
import { healthReport, METRICS_OFF, metricsOnPublicPort, opsRoutes, type LastUpstreamError } from './ops-routes.js';
import { closeNow, shutdownGracefully } from './lifecycle.js';
import { createSharedState } from './shared-state.js';
import { createResponseCacheStore } from '../shared-state/response-cache.js';
import { serveWebSocket } from './websocket.js';
import { createGatewayYoga } from './yoga.js';
import type { Tracing } from '../observability/tracing.js';

export interface GatewayOptions {
  config: Config;
  /** The upstream client; made from `config.upstream` when not given. */
  client?: DashScopeClient;
  /** Clock for derived fields (tests pin it). */
  now?: () => number;
  /** Where the JSON log lines go, already redacted (default: stdout; pretty in development). Tests pass a stream they read. */
  logDestination?: LogDestination;
  /** A logger made already (main.ts logs before the gateway exists); `logDestination` is then unused. */
  logger?: GatewayLogger;
  /** `await startTracing(config.tracing)` (src/observability/tracing.ts): required when `config.tracing` is set. */
  tracing?: Tracing | undefined;
  /**
   * The response cache's store (default: in memory, bounded by RESPONSE_CACHE_MAX_ENTRIES/_BYTES) and its hit and
   * miss events (for metrics).
   */
  responseCache?: { store?: ResponseCacheStore } & Pick<ResponseCacheOptions, 'onHit' | 'onMiss'>;
}

export interface Gateway {
  yoga: YogaServerInstance<object, GatewayContext>;
  server: Server;
  /** The gateway's logger (pino): main.ts and any other part log through it. */
  logger: GatewayLogger;
  /**
   * This gateway's Prometheus metrics (its own registry). Other parts count through it: `cacheLookup`,
   * `singleFlightJoin`, `gauge`, `counter` (src/metrics/metrics.ts).
   */
  metrics: GatewayMetrics;
  /** Starts listening (and the metrics listener, with METRICS_PORT); resolves to the base URL, e.g. `http://127.0.0.1:4000`. */
  listen(port?: number, host?: string): Promise<string>;
  /** The metrics listener's base URL once listening, with METRICS_PORT; undefined without. */
  metricsUrl(): string | undefined;
  /** Closes at once, dropping whatever is in flight (tests). */
  close(): Promise<void>;
  /**
   * Graceful shutdown (src/gateway/lifecycle.ts): `/ready` 503 and `closing` aborted at once, the listener closed after
   * `readyDelayMs`, in-flight operations given `graceMs`, then the rest closed. `log` hears each step.
   */
  shutdown(options?: { graceMs?: number; readyDelayMs?: number; log?: (message: string) => void }): Promise<{ forced: boolean }>;
  /** The response cache (its store and `invalidateJob`); undefined with RESPONSE_CACHE_ENABLED=false. */
  responseCache: ResponseCache | undefined;
  /**
   * Aborted when shutdown begins. Subscription streams end on it by themselves (useSubscriptionShutdown); anything
   * else long-lived (a WebSocket server, a timer) should listen to it and end cleanly.
   */
  closing: AbortSignal;
  /** The shared-state Redis (REDIS_URL): `disabled` without it. For /health and metrics. */
  redisState(): RedisState;
  /** Hears each transition of `redisState()` once (not each failed command); returns the unsubscribe function. */
  onRedisStateChange(listener: RedisStateListener): () => void;
}

/**
 * The gateway, composed of its parts: the upstream client and the gateway-wide state every operation shares, the auth
 * rule (auth.ts), yoga with its plugins (yoga.ts), the transports (http-server.ts, websocket.ts) and the lifecycle
 * (lifecycle.ts).
 */
export function createGateway({
  config,
  client,
  now,
  logDestination,
  logger: given,
  tracing,
  responseCache: cacheOptions,
}: GatewayOptions): Gateway {
  const { upstream } = config;
  if (!upstream.baseUrl) throw new Error('config.upstream.baseUrl is not set (demo mode sets it once the emulator listens)');
  // Loading OpenTelemetry is asynchronous (a dynamic import, so that it costs nothing when off): the caller does it.
  if (config.tracing && !tracing) throw new Error('config.tracing is set: pass `tracing: await startTracing(config.tracing)`');
  const startedAt = Date.now();
  const logger = given ?? createLogger({ level: config.logLevel, env: config.env, destination: logDestination });
  const closing = new AbortController();
  let lastUpstreamError: LastUpstreamError | undefined;
  // What /health and the metrics' gauges read, at request or scrape time: from the parts made below.
  const sources = {
    closing: closing.signal,
    breakerState: () => dashscope.resilience.state().breaker,
    upstream: () => dashscope.resilience.state(),
    uploadsActive: () => uploadSlots.active,
    httpConnections: () => httpConnections,
    lastUpstreamError: () => lastUpstreamError,
    cachedJobs: () => shared.reader.cachedJobs,
    cachedResponses: () => responseCache?.size ?? 0,
    redis: () => redis?.state ?? 'disabled',
    pollers: () => live.size,
    subscriptions: () => activeSubscriptions(),
    webSockets: () => websocket.connections(),
  };
  // In forward mode one API key may admit a quarter of the operation names (as of the subscription slots and pollers).
  const metrics = new GatewayMetrics(sources, {
    operationNamesPerCredential: config.auth.mode === 'forward' ? OPERATION_NAME_LABELS / 4 : OPERATION_NAME_LABELS,
  });
  // Gateway-wide: the uploads in flight, each holding a socket of the upstream client's pool for uploads.
  const uploadSlots = new UploadSlots(config.uploads.maxConcurrent, config.uploads.maxPerCredential);
  // Idempotency records, the cache of finished jobs and the upstream rate limit: in Redis with REDIS_URL (shared-state.ts).
  const state = createSharedState(config, logger);
  const dashscope =
    client ??
    new DashScopeClient({
      ...upstream,
      baseUrl: upstream.baseUrl,
      uploadConnections: config.uploads.maxConcurrent,
      tracer: tracing?.upstream,
      onRequest: (event) => metrics.upstreamRequest(event),
      resilience: {
        ...upstream.resilience,
        onEvent: (event) => {
          logUpstreamEvent(logger, event);
          if (event.type !== 'fault') return;
          const f = event.failure;
          if (event.retrying) metrics.upstreamRetry(event.endpoint);
          lastUpstreamError = {
            at: new Date().toISOString(),
            endpoint: event.endpoint,
            status: f.httpStatus,
            code: f.code,
            kind: f.kind,
            requestId: f.requestId,
          };
        },
      },
      rateLimiter: state.rateLimiter,
    });
  const { redis } = state;
  // Per gateway, never at module scope: one reader (its cache and in-flight reads shared by every request), what
  // idempotency keys created, and the pollers shared by subscribers.
  const reader = new JobReader(
    dashscope,
    config.cache,
    { cacheLookup: (result) => metrics.cacheLookup('jobs', result), singleFlightJoin: (read) => metrics.singleFlightJoin(read) },
    state.jobCache,
  );
  const responseCache = config.responseCache.enabled
    ? new ResponseCache({
        // Shared by the replicas with REDIS_URL (a Redis failure is a miss), else in this process.
        store: cacheOptions?.store ?? (redis ? createResponseCacheStore(redis) : new MemoryResponseCache(config.responseCache)),
        onHit: (event) => {
          metrics.cacheLookup('response', 'hit');
          cacheOptions?.onHit?.(event);
        },
        onMiss: (event) => {
          metrics.cacheLookup('response', 'miss');
          cacheOptions?.onMiss?.(event);
        },
        ttlMs: config.responseCache.ttlMs,
        // Shared by replicas: an answer is kept only while the jobs in it are as they were read (no write since).
        generationOf: redis && ((job) => reader.generationOf(job as FineTuneJobRecord)),
      })
    : undefined;
  // With Redis, one replica polls each watched job for all of them (src/modules/live/redis-coordination.ts); while
  // Redis cannot answer, each polls for its own subscribers: the gauge and counter below say when and how often.
  const fallbacks = metrics.counter(
    'gateway_live_polling_fallbacks_total',
    'Times Redis became unavailable to the live pollers, so that this replica polled for its own subscribers.',
  );
  const coordination =
    redis && new RedisPollCoordination({ redis, leaseMs: config.realtime.pollerLeaseMs, log: logger, onFallBack: () => fallbacks.inc() });
  metrics.gauge(
    'gateway_live_polling_fallback',
    '1 while Redis (REDIS_URL) cannot share the live pollers and this replica polls for its own subscribers; 0 otherwise.',
    () => (coordination?.pollingLocally ? 1 : 0),
  );
  const live = new JobWatch({
    client: dashscope,
    intervalMs: config.pollIntervalMs,
    maxPollers: config.realtime.maxPollers,
    maxPollersPerCredential: config.realtime.maxPollersPerCredential,
    shareOf: (credential) => dashscope.shareOf(credential),
    coordination,
  });
  const shared = {
    client: dashscope,
    reader,
    idempotency: state.idempotency,
    deploymentIdempotency: state.deploymentIdempotency,
    live,
    dataloaders: config.dataloaders,
    batchConcurrency: upstream.batchConcurrency,
    maxUpstreamCalls: config.limits.maxUpstreamCalls,
    prices: loadPriceList(upstream.region, config.pricesFile),
    now,
    warn: (message: string) => logger.warn(message),
    uploads: config.uploads,
    uploadSlots,
    onJobChanged: responseCache && ((id: string) => responseCache.invalidateJob(id)),
  };
  const { yoga, codes, operations, persistedQueries, activeSubscriptions, largestSubscriptionShare } = createGatewayYoga({
    config,
    logger,
    metrics,
    shared,
    credentialFor: credentials(config),
    closing: closing.signal,
    tracing,
    responseCache,
  });
  // Each pool's use against what one credential may take of it, never naming the credential (docs/operations.md).
  metrics.gauge(
    'gateway_pollers_largest_share',
    'The most pollers one API key holds now (its cap: MAX_POLLERS_PER_CREDENTIAL).',
    () => live.largestShare,
  );
  metrics.gauge(
    'gateway_subscriptions_largest_share',
    'The most subscriptions one API key holds now (its cap: MAX_SUBSCRIPTIONS_PER_CREDENTIAL).',
    largestSubscriptionShare,
  );
  const metricsRoute = { metrics, token: config.metrics.token };
  // With METRICS_PORT, /metrics is served only by a listener of its own (loopback by default), not the public port; in
  // production without either, not at all (404).
  const metricsPublic = metricsOnPublicPort(config.env, config.metrics);
  const ops = opsRoutes({
    health: () => healthReport(sources, startedAt),
    ...(metricsPublic && { metrics: metricsRoute }),
  });
  const server = createHttpServer(config.http, (request, response) => {
    if (!ops(request, response)) void yoga.requestListener(request, response);
  });
  // For the metrics: connections open now, within HTTP_MAX_CONNECTIONS (one dropped past it never counts).
  let httpConnections = 0;
  server.on('connection', (socket) => {
    httpConnections++;
    socket.once('close', () => httpConnections--);
  });
  const metricsServer =
    config.metrics.port === undefined
      ? undefined
      : createHttpServer(config.http, (request, response) => {
          if (!opsRoutes({ metrics: metricsRoute })(request, response)) {
            response.writeHead(404, { 'content-type': 'text/plain' }).end('only /metrics here\n');
          }
        });
  let metricsUrl: string | undefined;
  const websocket = serveWebSocket(server, yoga, {
    allowedOrigins: config.corsOrigins,
    maxPayloadBytes: config.limits.maxBodyBytes,
    maxOperationsPerSocket: config.realtime.maxOperationsPerSocket,
    maxSockets: config.realtime.maxWebSockets,
    codes,
    persistedQueries,
    isDev: config.env === 'development',
    logger,
  });

  const parts = { closing, live, server, websocket, operations, upstream: dashscope, redis, tracing };
  const closeMetricsServer = async () => {
    if (!metricsServer?.listening) return;
    await new Promise<void>((resolve) => {
      metricsServer.close(() => resolve());
      metricsServer.closeAllConnections();
    });
  };
  return {
    yoga,
    server,
    responseCache,
    logger,
    metrics,
    listen: async (port = config.port, host = config.host) => {
      if (!metricsPublic && config.metrics.port === undefined) logger.warn({ event: 'start', metrics: 'off' }, METRICS_OFF);
      if (metricsServer && config.metrics.port !== undefined)
        metricsUrl = await listen(metricsServer, config.metrics.port, config.metrics.host);
      return listen(server, port, host);
    },
    metricsUrl: () => metricsUrl,
    close: async () => {
      await closeNow(parts);
      await closeMetricsServer();
    },
    shutdown: async ({ graceMs = config.shutdown.graceMs, readyDelayMs = config.shutdown.readyDelayMs, log } = {}) => {
      const result = await shutdownGracefully(parts, { graceMs, readyDelayMs, log });
      await closeMetricsServer();
      return result;
    },
    closing: closing.signal,
    redisState: () => redis?.state ?? 'disabled',
    onRedisStateChange: (listener) => redis?.onStateChange(listener) ?? (() => {}),
  };
}
