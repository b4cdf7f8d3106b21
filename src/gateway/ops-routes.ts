import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayMetrics, MetricsSources } from '../metrics/metrics.js';

/*
 * `/health` and `/metrics`, answered by the node server before yoga: no CORS, CSRF, request-id, compression or GraphQL
 * processing, and no operation, subscription or upstream budget spent on a probe or a scrape. `/ready` stays a yoga
 * plugin (src/plugins/use-readiness.ts): it must follow the request lifecycle during shutdown.
 */

const VERSION = (() => {
  try {
    // The same relative path from src/gateway/ (tsx) and dist/gateway/ (built).
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
})();

/** The last upstream failure, for `/health`: what an operator quotes, never a key or a job's content. */
export interface LastUpstreamError {
  at: string;
  endpoint: string | undefined;
  status: number | undefined;
  code: string | undefined;
  kind: string;
  requestId: string | undefined;
}

/** What /health reads: what the metrics' gauges read, and the shutdown signal and the last upstream error. */
export interface HealthSources extends MetricsSources {
  closing: AbortSignal;
  lastUpstreamError: () => LastUpstreamError | undefined;
}

/** `/health`'s JSON: this process, and what it knows of DashScope (which never makes it unhealthy or unready). */
export function healthReport(sources: HealthSources, startedAt: number): Record<string, unknown> {
  const breaker = sources.breakerState();
  return {
    status: sources.closing.aborted ? 'draining' : breaker === 'closed' ? 'ok' : 'degraded',
    version: VERSION,
    uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
    upstream: { breaker, lastError: sources.lastUpstreamError() ?? null },
    cache: { jobs: sources.cachedJobs(), responses: sources.cachedResponses() },
    redis: sources.redis(),
    active: { subscriptions: sources.subscriptions(), pollers: sources.pollers(), webSockets: sources.webSockets() },
  };
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/** `Authorization: Bearer <token>`, compared in constant time. */
function authorized(request: IncomingMessage, token: string | undefined): boolean {
  if (!token) return true;
  const header = request.headers.authorization ?? '';
  const match = /^Bearer\s+(.+)$/i.exec(header);
  return !!match && timingSafeEqual(digest(match[1]!), digest(token));
}

/**
 * Whether the public port answers `/metrics`. In production only with METRICS_TOKEN: operation names and upstream error
 * codes are not for anyone who can reach the public port. With METRICS_PORT it is never on the public port.
 */
export function metricsOnPublicPort(env: string, metrics: { token: string | undefined; port: number | undefined }): boolean {
  return metrics.port === undefined && (env !== 'production' || !!metrics.token);
}

/** The line told at startup when /metrics is off in production, saying how to turn it on. */
export const METRICS_OFF =
  '/metrics is off on the public port in production: set METRICS_TOKEN (bearer token) or METRICS_PORT (a listener of its own) to serve it';

export interface OpsRoutes {
  health?: () => Record<string, unknown>;
  metrics?: { metrics: GatewayMetrics; token: string | undefined };
}

/** Answers the routes it serves and returns true; false for anything else (yoga's then). */
export function opsRoutes({ health, metrics }: OpsRoutes): (request: IncomingMessage, response: ServerResponse) => boolean {
  return (request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/health' && health) {
      send(response, 200, 'application/json', JSON.stringify(health()));
      return true;
    }
    if (path === '/metrics' && metrics) {
      if (!authorized(request, metrics.token)) {
        response.setHeader('www-authenticate', 'Bearer realm="metrics"');
        send(response, 401, 'text/plain', 'a bearer token is required (METRICS_TOKEN)\n');
        return true;
      }
      metrics.metrics.exposition().then(
        ({ body, contentType }) => send(response, 200, contentType, body),
        () => send(response, 500, 'text/plain', 'metrics unavailable\n'),
      );
      return true;
    }
    return false;
  };
}

function send(response: ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  response.end(body);
}
