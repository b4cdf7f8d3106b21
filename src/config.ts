import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import { z } from 'zod';
import { DEFAULT_LIMITS, type OperationLimits } from './plugins/limits.js';
import { DEFAULT_RESILIENCE, type ResilienceOptions } from './upstream/dashscope/resilience.js';
import type { RedisConfig } from './shared-state/redis.js';
import type { RateLimitOptions } from './upstream/rate-limit.js';
import type { JobReaderOptions } from './upstream/job-reader.js';
import { DEFAULT_UPLOAD_RULES, type UploadRules } from './modules/training-file/upload.js';

/* The only file that reads process.env. Every problem is reported at once; main.ts exits 1 on any. */

export const REGION_BASE_URLS = {
  intl: 'https://dashscope-intl.aliyuncs.com',
  'cn-beijing': 'https://dashscope.aliyuncs.com',
} as const;
export type Region = keyof typeof REGION_BASE_URLS;

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const positiveInt = z.coerce.number().int().positive();
const emptyAsUnset = (v: unknown) => (v === '' ? undefined : v);
const optional = <T extends z.ZodType>(schema: T) => z.preprocess(emptyAsUnset, schema.optional());
// The gateway exports over HTTP only: gRPC would need another exporter and its native-free but large stack.
const otlpProtocol = z.enum(['http/protobuf', 'http/json'], { error: 'http/protobuf or http/json (grpc is not supported)' });
// `key=value` pairs, comma separated, values URL-encoded (the OTLP exporter's format).
const otlpHeaders = z.string().transform((v, ctx) => {
  const headers: Record<string, string> = {};
  for (const pair of v.split(',')) {
    const at = pair.indexOf('=');
    if (at <= 0) {
      ctx.addIssue({ code: 'custom', message: 'key=value pairs, comma separated' });
      return z.NEVER;
    }
    try {
      headers[pair.slice(0, at).trim()] = decodeURIComponent(pair.slice(at + 1).trim());
    } catch {
      ctx.addIssue({ code: 'custom', message: 'values must be URL-encoded' });
      return z.NEVER;
    }
  }
  return headers;
});

const EnvModel = z.object({
  NODE_ENV: optional(z.enum(['development', 'production', 'test'])),
  PORT: optional(z.coerce.number().int().min(0).max(65535)),
  HOST: optional(z.string().min(1)),
  LOG_LEVEL: optional(z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])),
  METRICS_TOKEN: optional(z.string().min(16, 'at least 16 characters')),
  METRICS_PORT: optional(z.coerce.number().int().min(0).max(65535)),
  METRICS_HOST: optional(z.string().min(1)),
  DASHSCOPE_BASE_URL: optional(z.url({ protocol: /^https?$/ })),
  DASHSCOPE_API_KEY: optional(z.string().min(1)),
  DASHSCOPE_REGION: optional(z.enum(['intl', 'cn-beijing'])),
  DASHSCOPE_WORKSPACE: optional(z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'letters, digits and _ . : - only')),
  DASHSCOPE_TIMEZONE: optional(z.string().regex(/^[+-](0\d|1[0-4]):[0-5]\d$/, 'an offset such as +08:00')),
  AUTH_MODE: optional(z.enum(['server', 'forward'])),
  PRICES_FILE: optional(z.string().min(1)),
  UPSTREAM_CONNECT_TIMEOUT_MS: optional(positiveInt),
  UPSTREAM_HEADERS_TIMEOUT_MS: optional(positiveInt),
  UPSTREAM_BODY_TIMEOUT_MS: optional(positiveInt),
  UPSTREAM_CONNECTIONS: optional(positiveInt),
  UPSTREAM_BATCH_CONCURRENCY: optional(positiveInt),
  UPSTREAM_RETRIES: optional(z.coerce.number().int().min(0).max(10)),
  UPSTREAM_RETRY_BASE_MS: optional(positiveInt),
  UPSTREAM_RETRY_MAX_AFTER_MS: optional(z.coerce.number().int().min(0)),
  UPSTREAM_RETRY_BUDGET_RATIO: optional(z.coerce.number().min(0).max(1)),
  UPSTREAM_RETRY_BUDGET_MIN: optional(z.coerce.number().int().min(0)),
  UPSTREAM_BREAKER_FAILURES: optional(positiveInt),
  UPSTREAM_BREAKER_OPEN_MS: optional(positiveInt),
  UPSTREAM_MAX_CONCURRENT: optional(positiveInt),
  UPSTREAM_MAX_QUEUED: optional(z.coerce.number().int().min(0)),
  UPSTREAM_MAX_CONCURRENT_PER_CREDENTIAL: optional(positiveInt),
  UPSTREAM_MAX_QUEUED_PER_CREDENTIAL: optional(z.coerce.number().int().min(0)),
  OPERATION_DEADLINE_MS: optional(positiveInt),
  CREATE_SETTLE_MS: optional(z.coerce.number().int().min(0)),
  SHUTDOWN_GRACE_MS: optional(z.coerce.number().int().min(0)),
  SHUTDOWN_READY_DELAY_MS: optional(z.coerce.number().int().min(0)),
  GRAPHIQL: optional(bool),
  INTROSPECTION: optional(bool),
  POLL_INTERVAL_MS: optional(z.coerce.number().int().min(10)),
  CORS_ORIGINS: optional(
    z
      .string()
      .transform((v) =>
        v
          .split(',')
          .map((origin) => origin.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, 'origins such as https://app.example.com, comma separated'))),
  ),
  MAX_DEPTH: optional(positiveInt),
  MAX_ALIASES: optional(z.coerce.number().int().min(0)),
  MAX_DIRECTIVES: optional(z.coerce.number().int().min(0)),
  MAX_TOKENS: optional(positiveInt),
  MAX_BODY_BYTES: optional(positiveInt),
  BATCH_LIMIT: optional(z.coerce.number().int().min(0)),
  MAX_UPSTREAM_CALLS: optional(positiveInt),
  CACHE_ENABLED: optional(bool),
  CACHE_TTL_MS: optional(positiveInt),
  CACHE_MAX_ENTRIES: optional(positiveInt),
  CACHE_MAX_BYTES: optional(positiveInt),
  CACHE_NONTERMINAL_TTL_MS: optional(z.coerce.number().int().min(0)),
  UPSTREAM_SINGLE_FLIGHT: optional(bool),
  RESPONSE_CACHE_ENABLED: optional(bool),
  RESPONSE_CACHE_TTL_MS: optional(positiveInt),
  RESPONSE_CACHE_MAX_ENTRIES: optional(positiveInt),
  RESPONSE_CACHE_MAX_BYTES: optional(positiveInt),
  DATALOADERS_ENABLED: optional(bool),
  WS_MAX_OPERATIONS_PER_SOCKET: optional(positiveInt),
  MAX_SUBSCRIPTIONS: optional(positiveInt),
  MAX_SUBSCRIPTIONS_PER_CREDENTIAL: optional(positiveInt),
  MAX_POLLERS: optional(positiveInt),
  MAX_POLLERS_PER_CREDENTIAL: optional(positiveInt),
  DEMO: optional(bool),
  HTTP_REQUEST_TIMEOUT_MS: optional(positiveInt),
  HTTP_HEADERS_TIMEOUT_MS: optional(positiveInt),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: optional(positiveInt),
  HTTP_MAX_CONNECTIONS: optional(positiveInt),
  WS_MAX_CONNECTIONS: optional(z.coerce.number().int().min(0)),
  // OpenTelemetry's own names (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/).
  OTEL_SDK_DISABLED: optional(bool),
  OTEL_EXPORTER_OTLP_ENDPOINT: optional(z.url({ protocol: /^https?$/ })),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optional(z.url({ protocol: /^https?$/ })),
  OTEL_EXPORTER_OTLP_PROTOCOL: optional(otlpProtocol),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: optional(otlpProtocol),
  OTEL_EXPORTER_OTLP_HEADERS: optional(otlpHeaders),
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: optional(otlpHeaders),
  OTEL_SERVICE_NAME: optional(z.string().min(1)),
  OTEL_TRACES_SAMPLER: optional(
    z.enum(['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio']),
  ),
  OTEL_TRACES_SAMPLER_ARG: optional(z.coerce.number().min(0).max(1)),
  OTEL_BSP_SCHEDULE_DELAY: optional(positiveInt),
  PERSISTED_DOCUMENTS: optional(z.string().min(1)),
  PERSISTED_DOCUMENTS_ONLY: optional(bool),
  UPLOAD_MAX_BYTES: optional(positiveInt),
  UPLOAD_MAX_CONCURRENT: optional(positiveInt),
  UPLOAD_MAX_CONCURRENT_PER_CREDENTIAL: optional(positiveInt),
  UPLOAD_IDLE_TIMEOUT_MS: optional(positiveInt),
  UPLOAD_TYPES: optional(
    z
      .string()
      .transform((v) => [...new Set(v.split(',').map((t) => t.trim().toLowerCase()))].filter(Boolean))
      .pipe(z.array(z.enum(['jsonl', 'zip'])).min(1, 'jsonl, zip or both, comma separated')),
  ),
  UPSTREAM_RATE_PER_SECOND: optional(z.coerce.number().positive().max(100_000)),
  UPSTREAM_BURST: optional(positiveInt),
  UPSTREAM_RATE_MAX_WAIT_MS: optional(z.coerce.number().int().min(0).max(60_000)),
  REDIS_URL: optional(z.url({ protocol: /^rediss?$/ })),
  REDIS_KEY_PREFIX: optional(z.string().regex(/^[A-Za-z0-9_.:-]{0,64}$/, 'letters, digits and _ . : - only, at most 64')),
  REDIS_COMMAND_TIMEOUT_MS: optional(positiveInt),
  REDIS_CONNECT_TIMEOUT_MS: optional(positiveInt),
  POLLER_LEASE_MS: optional(positiveInt),
});

export interface Config {
  env: 'development' | 'production' | 'test';
  port: number;
  host: string;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  /**
   * `/metrics` (Prometheus): with `token`, only for `Authorization: Bearer <token>`; with `port`, served only by a
   * listener of its own on `host` (loopback by default), not on the public port.
   */
  metrics: { token: string | undefined; port: number | undefined; host: string };
  /** `demo`: no upstream configured, the embedded emulator serves. `remote`: a real (or compatible) DashScope. */
  mode: 'demo' | 'remote';
  upstream: {
    /** Unset in demo mode until the emulator is listening. */
    baseUrl: string | undefined;
    region: Region;
    workspace: string | undefined;
    timeZoneOffsetMinutes: number;
    connectTimeoutMs: number;
    headersTimeoutMs: number;
    bodyTimeoutMs: number;
    connections: number;
    /** Upstream calls one operation may have in flight at once (the fan-out cap). */
    batchConcurrency: number;
    /** Retries, retry budget, circuit breaker, bulkhead: see src/upstream/dashscope/resilience.ts. */
    resilience: Omit<ResilienceOptions, 'now' | 'random' | 'onEvent'>;
    /** A token bucket per credential on requests sent (UPSTREAM_RATE_PER_SECOND), shared through Redis; none when unset. */
    rateLimit: RateLimitOptions | undefined;
  };
  /** Every upstream call of one operation ends by then (UPSTREAM_TIMEOUT). */
  operationDeadlineMs: number;
  /**
   * After a keyed create got no answer from DashScope (timeout, reset), how long a retry is refused (CONFLICT,
   * retryable, `retryAfterSeconds`) because DashScope may still be creating the job; then it searches before creating.
   */
  createSettleMs: number;
  shutdown: {
    /** How long in-flight operations get to finish after SIGTERM before their connections are closed. */
    graceMs: number;
    /** How long `/ready` answers 503 before the listener closes, for load balancers to notice. */
    readyDelayMs: number;
  };
  auth: { mode: 'server'; apiKey: string | undefined } | { mode: 'forward' };
  pricesFile: string | undefined;
  graphiql: boolean;
  introspection: boolean;
  /** Time between two upstream reads of a job watched by subscriptions (1000 in demo mode unless set). */
  pollIntervalMs: number;
  /** Origins allowed to call the gateway from a browser (CORS); empty: none but the gateway's own. */
  corsOrigins: string[];
  /** Operation limits, checked before anything executes. */
  limits: OperationLimits;
  /** The cross-request cache of finished jobs, and single-flight of identical concurrent upstream reads. */
  cache: JobReaderOptions;
  /** Whole answers about finished jobs, per credential, served without execution (src/plugins/use-response-cache.ts). */
  responseCache: { enabled: boolean; ttlMs: number; maxEntries: number; maxBytes: number };
  /** Per-operation batching and de-duplication (off only to measure what they save). */
  dataloaders: boolean;
  /** Caps on long-lived work, each refused with RATE_LIMITED and `extensions.limit` naming it. */
  realtime: {
    /** Operations one WebSocket may have in flight at once. */
    maxOperationsPerSocket: number;
    /**
     * WebSockets open at once, below `http.maxConnections`: sockets that sit idle (and answer pings) cannot take every
     * connection, so HTTP requests and `/health` always have room. Past it, a new socket is closed with 1013.
     */
    maxWebSockets: number;
    /** Subscriptions open at once in this process, over SSE and WebSocket together. */
    maxSubscriptions: number;
    /** Of those, the most one credential (one caller's key, in forward mode) may hold: no tenant takes them all. */
    maxSubscriptionsPerCredential: number;
    /** Jobs polled upstream at once for subscribers (one poller per job and credential). */
    maxPollers: number;
    /** Of those, the most one API key (whatever its workspaces) may have polled at once: no tenant takes them all. */
    maxPollersPerCredential: number;
    /**
     * With Redis: how long a replica's lease on polling one job (or deployment) lasts unless renewed; the holder renews
     * it every poll, and a replica that died is replaced by another one's poller after about this long.
     */
    pollerLeaseMs: number;
  };
  /** Training-file uploads (`uploadTrainingFile`, multipart), streamed to DashScope. */
  uploads: UploadRules;
  /** The HTTP server's own limits against slow or numerous clients. */
  http: {
    /** Time to receive a whole request, headers and body (not the response: streams outlive it). */
    requestTimeoutMs: number;
    /** Time to receive a request's headers. */
    headersTimeoutMs: number;
    /** How long an idle keep-alive connection stays open between requests. */
    keepAliveTimeoutMs: number;
    /** Open connections (WebSockets and streams included) past which new ones are closed at once. */
    maxConnections: number;
  };
  /** OpenTelemetry tracing (src/observability/tracing.ts); undefined, the default: off, and nothing of it is loaded. */
  tracing: TracingConfig | undefined;
  /**
   * Trusted documents (PERSISTED_DOCUMENTS): the manifest's `documentId → document`, read once at startup; with
   * `only`, no other document runs. Unset: none (automatic persisted queries still work).
   */
  persistedDocuments: { documents: ReadonlyMap<string, string>; only: boolean } | undefined;
  /** Shared state across replicas (src/shared-state/redis.ts); undefined without REDIS_URL: everything in-process. */
  redis: RedisConfig | undefined;
}

export interface TracingConfig {
  /** The OTLP/HTTP traces URL spans are posted to. */
  url: string;
  protocol: 'http/protobuf' | 'http/json';
  /** Sent with every export (e.g. a collector's auth header). */
  headers: Record<string, string>;
  serviceName: string;
  sampler: 'always_on' | 'always_off' | 'traceidratio' | 'parentbased_always_on' | 'parentbased_always_off' | 'parentbased_traceidratio';
  /** The ratio of the `traceidratio` samplers. */
  samplerRatio: number;
  /** Time between two exports of the spans ended meanwhile. */
  batchDelayMs: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

const ManifestModel = z.record(z.string().min(1), z.string().min(1));

/** The manifest codegen's client preset writes (`persistedDocuments: true`): a JSON object of id → document. */
function readManifest(file: string, problems: string[]): Map<string, string> | undefined {
  const problem = (what: string) => problems.push(`PERSISTED_DOCUMENTS: ${file} ${what}`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    problem(error instanceof SyntaxError ? `is not valid JSON (${error.message})` : `cannot be read (${(error as Error).message})`);
    return undefined;
  }
  const manifest = ManifestModel.safeParse(json);
  if (!manifest.success) return void problem('must be a JSON object of documentId → GraphQL document (strings)');
  for (const [id, document] of Object.entries(manifest.data)) {
    try {
      parse(document);
    } catch (error) {
      return void problem(`holds a document that does not parse (id ${id}: ${(error as Error).message})`);
    }
  }
  return new Map(Object.entries(manifest.data));
}

function offsetMinutes(offset: string): number {
  const sign = offset.startsWith('-') ? -1 : 1;
  const [hours = 0, minutes = 0] = offset.slice(1).split(':').map(Number);
  return sign * (hours * 60 + minutes);
}

/** Never echoed in a configuration error: a key, or a URL that may hold a password. */
const SECRET_VARIABLES = new Set(['DASHSCOPE_API_KEY', 'REDIS_URL']);

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = EnvModel.safeParse(env);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((issue) => {
        const name = String(issue.path[0]);
        // Secrets (a key, a Redis URL with its password, a collector's token in header lists) are never echoed.
        const got = name.endsWith('_HEADERS') || SECRET_VARIABLES.has(name) ? 'value not shown' : `got ${JSON.stringify(env[name])}`;
        return `${issue.path.join('.')}: ${issue.message} (${got})`;
      });
  // Rules across variables, read from the raw values so that they are reported together with the ones above.
  const set = (name: string) => Boolean(env[name]);
  if (env.AUTH_MODE !== 'forward' && set('DASHSCOPE_BASE_URL') && !set('DASHSCOPE_API_KEY')) {
    problems.push("DASHSCOPE_API_KEY: required when DASHSCOPE_BASE_URL is set (or set AUTH_MODE=forward to use each caller's key)");
  }
  if (env.AUTH_MODE === 'forward' && set('DASHSCOPE_API_KEY')) {
    problems.push('DASHSCOPE_API_KEY: must be unset with AUTH_MODE=forward, where each request brings its own key');
  }
  // Demo mode serves the emulator's made-up jobs: in production only when asked for, never for want of a key.
  const upstreamSet = env.AUTH_MODE === 'forward' || set('DASHSCOPE_BASE_URL') || set('DASHSCOPE_API_KEY');
  const demoFlag = env.DEMO === 'true' || env.DEMO === '1' ? true : env.DEMO === 'false' || env.DEMO === '0' ? false : undefined;
  if (demoFlag === true && upstreamSet) {
    problems.push('DEMO: must be unset with DASHSCOPE_API_KEY, DASHSCOPE_BASE_URL or AUTH_MODE=forward, which name a real upstream');
  }
  if (!upstreamSet && (demoFlag === false || (demoFlag === undefined && env.NODE_ENV === 'production'))) {
    problems.push(
      `DASHSCOPE_API_KEY: required ${demoFlag === false ? 'with DEMO=false' : 'when NODE_ENV=production'} ` +
        "(or set AUTH_MODE=forward to use each caller's key, or DEMO=true to serve the embedded emulator's demo jobs)",
    );
  }
  // Node refuses a headers timeout longer than the request timeout.
  if (Number(env.HTTP_HEADERS_TIMEOUT_MS || 0) > Number(env.HTTP_REQUEST_TIMEOUT_MS || 30_000)) {
    problems.push('HTTP_HEADERS_TIMEOUT_MS: must not exceed HTTP_REQUEST_TIMEOUT_MS (default 30000)');
  }
  if (set('WS_MAX_CONNECTIONS') && Number(env.WS_MAX_CONNECTIONS) >= Number(env.HTTP_MAX_CONNECTIONS || 2_048)) {
    problems.push('WS_MAX_CONNECTIONS: must be below HTTP_MAX_CONNECTIONS (default 2048), so that HTTP keeps room');
  }
  if ((env.PERSISTED_DOCUMENTS_ONLY === 'true' || env.PERSISTED_DOCUMENTS_ONLY === '1') && !set('PERSISTED_DOCUMENTS')) {
    problems.push('PERSISTED_DOCUMENTS_ONLY: needs PERSISTED_DOCUMENTS, the manifest of the documents to allow');
  }
  const manifest = set('PERSISTED_DOCUMENTS') ? readManifest(env.PERSISTED_DOCUMENTS!, problems) : undefined;
  if (set('UPSTREAM_BURST') && !set('UPSTREAM_RATE_PER_SECOND')) {
    problems.push('UPSTREAM_BURST: only with UPSTREAM_RATE_PER_SECOND, the rate it is the burst of');
  }
  // A lease no longer than the interval between its renewals would pass from replica to replica at every poll.
  if (set('POLLER_LEASE_MS') && Number(env.POLLER_LEASE_MS) <= Number(env.POLL_INTERVAL_MS || (upstreamSet ? 3_000 : 1_000))) {
    problems.push('POLLER_LEASE_MS: must be longer than POLL_INTERVAL_MS, which its holder renews it at');
  }
  if (!parsed.success || problems.length) throw new ConfigError(problems);
  const e = parsed.data;
  const authMode = e.AUTH_MODE ?? 'server';
  const region = e.DASHSCOPE_REGION ?? 'intl';
  const demo = authMode === 'server' && !e.DASHSCOPE_BASE_URL && !e.DASHSCOPE_API_KEY;
  // What one credential may take of a shared pool (docs/operations.md#fairness-between-tenants): in forward mode a
  // quarter unless set; in server mode every caller acts with the gateway's one key, so the share is the whole pool.
  const share = (total: number, set: number | undefined) =>
    Math.min(total, set ?? (authMode === 'forward' ? Math.max(1, Math.floor(total / 4)) : total));
  const maxConcurrent = e.UPSTREAM_MAX_CONCURRENT ?? e.UPSTREAM_CONNECTIONS ?? DEFAULT_RESILIENCE.maxConcurrent;
  const maxQueued = e.UPSTREAM_MAX_QUEUED ?? DEFAULT_RESILIENCE.maxQueued;
  const maxUploads = e.UPLOAD_MAX_CONCURRENT ?? DEFAULT_UPLOAD_RULES.maxConcurrent;

  return {
    env: e.NODE_ENV ?? 'development',
    port: e.PORT ?? 4000,
    host: e.HOST ?? '127.0.0.1',
    logLevel: e.LOG_LEVEL ?? 'info',
    metrics: { token: e.METRICS_TOKEN, port: e.METRICS_PORT, host: e.METRICS_HOST ?? '127.0.0.1' },
    mode: demo ? 'demo' : 'remote',
    upstream: {
      baseUrl: demo ? undefined : (e.DASHSCOPE_BASE_URL ?? REGION_BASE_URLS[region]),
      region,
      workspace: e.DASHSCOPE_WORKSPACE,
      timeZoneOffsetMinutes: offsetMinutes(e.DASHSCOPE_TIMEZONE ?? '+08:00'),
      connectTimeoutMs: e.UPSTREAM_CONNECT_TIMEOUT_MS ?? 3_000,
      headersTimeoutMs: e.UPSTREAM_HEADERS_TIMEOUT_MS ?? 10_000,
      bodyTimeoutMs: e.UPSTREAM_BODY_TIMEOUT_MS ?? 10_000,
      connections: e.UPSTREAM_CONNECTIONS ?? 64,
      batchConcurrency: e.UPSTREAM_BATCH_CONCURRENCY ?? 10,
      resilience: {
        retries: e.UPSTREAM_RETRIES ?? DEFAULT_RESILIENCE.retries,
        retryBaseMs: e.UPSTREAM_RETRY_BASE_MS ?? DEFAULT_RESILIENCE.retryBaseMs,
        retryMaxAfterMs: e.UPSTREAM_RETRY_MAX_AFTER_MS ?? DEFAULT_RESILIENCE.retryMaxAfterMs,
        retryBudgetRatio: e.UPSTREAM_RETRY_BUDGET_RATIO ?? DEFAULT_RESILIENCE.retryBudgetRatio,
        retryBudgetMin: e.UPSTREAM_RETRY_BUDGET_MIN ?? DEFAULT_RESILIENCE.retryBudgetMin,
        breakerFailures: e.UPSTREAM_BREAKER_FAILURES ?? DEFAULT_RESILIENCE.breakerFailures,
        breakerOpenMs: e.UPSTREAM_BREAKER_OPEN_MS ?? DEFAULT_RESILIENCE.breakerOpenMs,
        maxConcurrent,
        maxQueued,
        maxConcurrentPerCredential: share(maxConcurrent, e.UPSTREAM_MAX_CONCURRENT_PER_CREDENTIAL),
        maxQueuedPerCredential: share(maxQueued, e.UPSTREAM_MAX_QUEUED_PER_CREDENTIAL),
        tenants: authMode === 'forward',
      },
      rateLimit: e.UPSTREAM_RATE_PER_SECOND
        ? {
            ratePerSecond: e.UPSTREAM_RATE_PER_SECOND,
            // One second's worth by default: a page and its jobs' checkpoints go at once, a flood is spread out.
            burst: e.UPSTREAM_BURST ?? Math.max(1, Math.ceil(e.UPSTREAM_RATE_PER_SECOND)),
            maxWaitMs: e.UPSTREAM_RATE_MAX_WAIT_MS ?? 2_000,
          }
        : undefined,
    },
    operationDeadlineMs: e.OPERATION_DEADLINE_MS ?? 15_000,
    // DashScope may act on a request it got for some time after the gateway gave up waiting at its own timeout.
    createSettleMs: e.CREATE_SETTLE_MS ?? Math.max(30_000, 2 * (e.UPSTREAM_HEADERS_TIMEOUT_MS ?? 10_000)),
    shutdown: { graceMs: e.SHUTDOWN_GRACE_MS ?? 10_000, readyDelayMs: e.SHUTDOWN_READY_DELAY_MS ?? 0 },
    auth: authMode === 'forward' ? { mode: 'forward' } : { mode: 'server', apiKey: e.DASHSCOPE_API_KEY },
    pricesFile: e.PRICES_FILE,
    graphiql: e.GRAPHIQL ?? true,
    introspection: e.INTROSPECTION ?? true,
    pollIntervalMs: e.POLL_INTERVAL_MS ?? (demo ? 1_000 : 3_000),
    corsOrigins: e.CORS_ORIGINS ?? [],
    limits: {
      maxDepth: e.MAX_DEPTH ?? DEFAULT_LIMITS.maxDepth,
      maxAliases: e.MAX_ALIASES ?? DEFAULT_LIMITS.maxAliases,
      maxDirectives: e.MAX_DIRECTIVES ?? DEFAULT_LIMITS.maxDirectives,
      maxTokens: e.MAX_TOKENS ?? DEFAULT_LIMITS.maxTokens,
      maxBodyBytes: e.MAX_BODY_BYTES ?? DEFAULT_LIMITS.maxBodyBytes,
      batchLimit: e.BATCH_LIMIT ?? DEFAULT_LIMITS.batchLimit,
      maxUpstreamCalls: e.MAX_UPSTREAM_CALLS ?? DEFAULT_LIMITS.maxUpstreamCalls,
    },
    uploads: {
      maxBytes: e.UPLOAD_MAX_BYTES ?? DEFAULT_UPLOAD_RULES.maxBytes,
      types: e.UPLOAD_TYPES ?? DEFAULT_UPLOAD_RULES.types,
      idleTimeoutMs: e.UPLOAD_IDLE_TIMEOUT_MS ?? DEFAULT_UPLOAD_RULES.idleTimeoutMs,
      maxConcurrent: maxUploads,
      maxPerCredential: share(maxUploads, e.UPLOAD_MAX_CONCURRENT_PER_CREDENTIAL),
    },
    cache: {
      enabled: e.CACHE_ENABLED ?? true,
      ttlMs: e.CACHE_TTL_MS ?? 300_000,
      maxEntries: e.CACHE_MAX_ENTRIES ?? 10_000,
      maxBytes: e.CACHE_MAX_BYTES ?? 50_000_000,
      nonTerminalTtlMs: e.CACHE_NONTERMINAL_TTL_MS ?? 0,
      singleFlight: e.UPSTREAM_SINGLE_FLIGHT ?? true,
    },
    responseCache: {
      enabled: e.RESPONSE_CACHE_ENABLED ?? true,
      ttlMs: e.RESPONSE_CACHE_TTL_MS ?? 300_000,
      maxEntries: e.RESPONSE_CACHE_MAX_ENTRIES ?? 5_000,
      maxBytes: e.RESPONSE_CACHE_MAX_BYTES ?? 50_000_000,
    },
    dataloaders: e.DATALOADERS_ENABLED ?? true,
    realtime: {
      maxOperationsPerSocket: e.WS_MAX_OPERATIONS_PER_SOCKET ?? 100,
      // A quarter of the HTTP connections by default (512 of 2048), at least one when there is room for HTTP too.
      maxWebSockets:
        e.WS_MAX_CONNECTIONS ??
        Math.min(Math.max(1, Math.floor((e.HTTP_MAX_CONNECTIONS ?? 2_048) / 4)), (e.HTTP_MAX_CONNECTIONS ?? 2_048) - 1),
      maxSubscriptions: e.MAX_SUBSCRIPTIONS ?? 1_000,
      // In server mode every caller acts with the gateway's one key: the per-credential cap is the whole cap.
      maxSubscriptionsPerCredential:
        e.MAX_SUBSCRIPTIONS_PER_CREDENTIAL ??
        (authMode === 'forward' ? Math.max(1, Math.floor((e.MAX_SUBSCRIPTIONS ?? 1_000) / 4)) : (e.MAX_SUBSCRIPTIONS ?? 1_000)),
      maxPollers: e.MAX_POLLERS ?? 200,
      // As for subscriptions: a quarter of the pollers per API key in forward mode, all of them in server mode.
      maxPollersPerCredential:
        e.MAX_POLLERS_PER_CREDENTIAL ??
        (authMode === 'forward' ? Math.max(1, Math.floor((e.MAX_POLLERS ?? 200) / 4)) : (e.MAX_POLLERS ?? 200)),
      // Three polls: a holder that misses one or two renewals (a slow upstream read, a Redis blip) keeps its lease.
      pollerLeaseMs: e.POLLER_LEASE_MS ?? 3 * (e.POLL_INTERVAL_MS ?? (demo ? 1_000 : 3_000)),
    },
    http: {
      requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS ?? 30_000,
      headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS ?? Math.min(10_000, e.HTTP_REQUEST_TIMEOUT_MS ?? 30_000),
      keepAliveTimeoutMs: e.HTTP_KEEP_ALIVE_TIMEOUT_MS ?? 5_000,
      maxConnections: e.HTTP_MAX_CONNECTIONS ?? 2_048,
    },
    tracing: tracingConfig(e),
    persistedDocuments: manifest && { documents: manifest, only: e.PERSISTED_DOCUMENTS_ONLY ?? false },
    redis: e.REDIS_URL
      ? {
          url: e.REDIS_URL,
          keyPrefix: e.REDIS_KEY_PREFIX ?? 'ftgw:',
          commandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS ?? 500,
          connectTimeoutMs: e.REDIS_CONNECT_TIMEOUT_MS ?? 2_000,
        }
      : undefined,
  };
}

/** Tracing is on once an OTLP endpoint is set (and OTEL_SDK_DISABLED is not true), as with OpenTelemetry's own SDKs. */
function tracingConfig(e: z.infer<typeof EnvModel>): TracingConfig | undefined {
  // The signal-specific endpoint is used as it is; the general one is a base that gets `/v1/traces` (the OTLP spec).
  const url =
    e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
    (e.OTEL_EXPORTER_OTLP_ENDPOINT && `${e.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`);
  if (!url || e.OTEL_SDK_DISABLED) return undefined;
  return {
    url,
    protocol: e.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? e.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf',
    headers: { ...e.OTEL_EXPORTER_OTLP_HEADERS, ...e.OTEL_EXPORTER_OTLP_TRACES_HEADERS },
    serviceName: e.OTEL_SERVICE_NAME ?? 'finetune-gateway',
    sampler: e.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on',
    samplerRatio: e.OTEL_TRACES_SAMPLER_ARG ?? 1,
    batchDelayMs: e.OTEL_BSP_SCHEDULE_DELAY ?? 5_000,
  };
}
