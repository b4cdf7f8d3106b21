import type { Server } from 'node:http';
import type { YogaServerInstance } from 'graphql-yoga';
import type { Config } from '../config.js';
import type { GatewayContext } from '../context.js';
import { createLogger, describeUpstreamEvent, type LogSink } from '../logging/index.js';
import { loadPriceList } from '../modules/fine-tune-job/derived.js';
import { IdempotencyStore } from '../modules/fine-tune-job/idempotency.js';
import { JobWatch } from '../modules/live/job-watch.js';
import { RedisPollCoordination } from '../modules/live/redis-coordination.js';
import { DashScopeClient, type DeploymentRecord, type FineTuneJobRecord } from '../upstream/dashscope/index.js';
import { SharedRedis, redisLocation, type RedisState, type RedisStateListener } from '../shared-state/redis.js';
import { JobReader } from '../upstream/job-reader.js';
import { credentials } from './auth.js';
import { createHttpServer, listen } from './http-server.js';
import { closeNow, shutdownGracefully } from './lifecycle.js';
import { serveWebSocket } from './websocket.js';
import { createGatewayYoga } from './yoga.js';

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
   * Graceful shutdown (src/gateway/lifecycle.ts): `/ready` 503 and `closing` aborted at once, the listener closed after
   * `readyDelayMs`, in-flight operations given `graceMs`, then the rest closed. `log` hears each step.
   */
  shutdown(options?: { graceMs?: number; readyDelayMs?: number; log?: (message: string) => void }): Promise<{ forced: boolean }>;
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
  const redis = config.redis && new SharedRedis(config.redis);
  if (redis) {
    const where = redisLocation(redis.config.url);
    // Once per transition, not per request: a Redis outage is one warning, its end one line.
    redis.onStateChange((state, detail) => {
      if (state === 'unavailable')
        logger.warn(`Redis at ${where} unavailable (${detail}): reads use this process's state, idempotent creates are refused`);
      else if (state === 'ready') logger.info(`Redis at ${where} ready: state shared with the other replicas`);
    });
  }
  // Per gateway, never at module scope: one reader (its cache and in-flight reads shared by every request), what
  // idempotency keys created, and the pollers shared by subscribers.
  const live = new JobWatch({
    client: dashscope,
    intervalMs: config.pollIntervalMs,
    maxPollers: config.realtime.maxPollers,
    // With Redis, one replica polls each watched job for all of them (src/modules/live/redis-coordination.ts).
    coordination: redis && new RedisPollCoordination({ redis, leaseMs: config.realtime.pollerLeaseMs, log: logger }),
  });
  const shared = {
    client: dashscope,
    reader: new JobReader(dashscope, config.cache),
    idempotency: new IdempotencyStore<FineTuneJobRecord>({ settleMs: config.createSettleMs }),
    deploymentIdempotency: new IdempotencyStore<DeploymentRecord>(),
    live,
    dataloaders: config.dataloaders,
    batchConcurrency: upstream.batchConcurrency,
    maxUpstreamCalls: config.limits.maxUpstreamCalls,
    prices: loadPriceList(upstream.region, config.pricesFile),
    now,
    warn: (message: string) => logger.warn(message),
  };
  const closing = new AbortController();
  const { yoga, codes, operations, persistedQueries } = createGatewayYoga({
    config,
    logger,
    shared,
    credentialFor: credentials(config),
    closing: closing.signal,
  });
  const server = createHttpServer(config.http, yoga.requestListener);
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
  const parts = { closing, live, server, websocket, operations, upstream: dashscope, redis };
  return {
    yoga,
    server,
    listen: (port = config.port, host = config.host) => listen(server, port, host),
    close: () => closeNow(parts),
    shutdown: ({ graceMs = config.shutdown.graceMs, readyDelayMs = config.shutdown.readyDelayMs, log } = {}) =>
      shutdownGracefully(parts, { graceMs, readyDelayMs, log }),
    closing: closing.signal,
    redisState: () => redis?.state ?? 'disabled',
    onRedisStateChange: (listener) => redis?.onStateChange(listener) ?? (() => {}),
  };
}
