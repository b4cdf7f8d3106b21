import { AsyncLocalStorage } from 'node:async_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { UpstreamRequestEvent } from '../upstream/dashscope/index.js';

/*
 * The gateway's Prometheus metrics: one registry per gateway instance (tests run several gateways in one process, and
 * prom-client's global registry would mix or refuse their metrics). Every label is bounded: route templates, status
 * codes, error codes from the schema's enum, and operation names through `BoundedLabel`; never a credential, an id or
 * operation text. docs/operations.md lists every metric.
 */

/** Seconds: from a cached read (~1 ms) to the operation deadline (15 s). */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30];

/**
 * A client-controlled string as a bounded label: values matching `pattern` are kept, up to `max` distinct ones; any
 * other, and every new one past `max`, is `other`. The first `max` names admitted win: the caller says whether a new
 * value may be admitted (`admit`), so that values anyone can send do not use up the room of the deployment's own, and
 * on whose behalf (`{ owner }`, a hash of the caller's API key): one owner admits at most `perOwner` of them.
 */
export class BoundedLabel {
  private readonly seen = new Set<string>();
  /** Values each owner admitted (at most `max` owners: each admitted one at least). */
  private readonly owners = new Map<string, number>();
  constructor(
    private readonly pattern: RegExp,
    private readonly max: number,
    private readonly perOwner = max,
  ) {}

  /** `admit`: `true` for a value the deployment itself lists, `false` for none, `{ owner }` within that owner's share. */
  of(value: string | null | undefined, missing = 'none', admit: boolean | { owner: string } = true): string {
    if (!value) return missing;
    if (this.seen.has(value)) return value;
    if (!admit || !this.pattern.test(value) || this.seen.size >= this.max) return 'other';
    if (typeof admit === 'object') {
      const admitted = this.owners.get(admit.owner) ?? 0;
      if (admitted >= this.perOwner) return 'other';
      this.owners.set(admit.owner, admitted + 1);
    }
    this.seen.add(value);
    return value;
  }

  /** Distinct values admitted so far. */
  get size(): number {
    return this.seen.size;
  }

  /** The most values one owner admitted. */
  get largestShare(): number {
    return Math.max(0, ...this.owners.values());
  }
}

/** Distinct operation names the `operation_name` label keeps. */
export const OPERATION_NAME_LABELS = 100;

/** What one operation caused, for its log line: counted by whatever runs inside it (same async context). */
export interface OperationTally {
  upstreamCalls: number;
  /** Of those, the ones DashScope answered with success: it accepted the caller's key. */
  upstreamSuccesses: number;
  cacheHits: number;
}
export const operationTally = new AsyncLocalStorage<OperationTally>();

export type Transport = 'http' | 'sse' | 'multipart' | 'graphql-ws';

/** Live values read when /metrics is scraped, from the parts that hold them. */
export interface MetricsSources {
  breakerState: () => 'closed' | 'open' | 'half-open';
  /** The upstream client's shared pools: bulkhead slots in flight and waiting, credentials whose own breaker is open. */
  upstream: () => { active: number; queued: number; credentialBreakersOpen: number };
  /** Uploads in flight (each holds an upload slot and a socket of the uploads' upstream pool). */
  uploadsActive: () => number;
  /** Connections open on the public port now (WebSockets and streams included). */
  httpConnections: () => number;
  cachedJobs: () => number;
  /** Answers held by the response cache (0 when it is off). */
  cachedResponses: () => number;
  /** The shared-state connection: `disabled` without REDIS_URL. */
  redis: () => string;
  pollers: () => number;
  webSockets: () => number;
  subscriptions: () => number;
}

/**
 * The one object the rest of the gateway counts through (`gateway.metrics`). Other parts call:
 * - `cacheLookup(cache, result)`: a lookup in a named cache (`jobs`, `response`), hit or miss;
 * - `singleFlightJoin(read)`: a read that shared one already in flight;
 * - `upstreamRequest(event)`, `upstreamRetry(endpoint)`: from the DashScope client's hooks;
 * - `operation(...)`: from src/plugins/use-operation-observer.ts;
 * - `gauge(name, help, read)`: a value read at scrape time (e.g. `gateway_redis_up`);
 * - `counter(name, help, labelNames)`: a counter of one's own, registered once (same name → same counter).
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  /** Operation names, as a label: GraphQL names only, at most 100 distinct, and a share of them per API key. */
  readonly operationNames: BoundedLabel;
  /** DashScope's error codes: upstream-controlled, so bounded too. */
  private readonly upstreamCodes = new BoundedLabel(/^[A-Za-z][A-Za-z0-9._-]{0,63}$/, 50);
  private readonly own = new Map<string, Counter<string>>();

  private readonly operations = new Counter({
    name: 'gateway_operations_total',
    help: 'GraphQL operations executed, by name, type, transport and outcome (ok or the first error code).',
    labelNames: ['operation_name', 'operation_type', 'transport', 'outcome'],
    registers: [this.registry],
  });
  private readonly operationSeconds = new Histogram({
    name: 'gateway_operation_duration_seconds',
    help: 'Time to execute a query or mutation (subscriptions are not timed: they last as long as their client wants).',
    labelNames: ['operation_name', 'operation_type', 'outcome'],
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  private readonly upstreamRequests = new Counter({
    name: 'gateway_upstream_requests_total',
    help: 'Requests sent to DashScope (each attempt), by route template, status and error code.',
    labelNames: ['endpoint', 'status', 'code'],
    registers: [this.registry],
  });
  private readonly upstreamSeconds = new Histogram({
    name: 'gateway_upstream_request_duration_seconds',
    help: 'Time of each request sent to DashScope, by route template and status.',
    labelNames: ['endpoint', 'status'],
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  private readonly upstreamRetries = new Counter({
    name: 'gateway_upstream_retries_total',
    help: 'Upstream requests retried after a fault, by route template.',
    labelNames: ['endpoint'],
    registers: [this.registry],
  });
  private readonly cacheLookups = new Counter({
    name: 'gateway_cache_lookups_total',
    help: 'Cache lookups, by cache (jobs: finished jobs across requests) and result (hit, miss).',
    labelNames: ['cache', 'result'],
    registers: [this.registry],
  });
  private readonly joins = new Counter({
    name: 'gateway_single_flight_joins_total',
    help: 'Upstream reads that joined an identical read already in flight instead of calling again, by kind of read.',
    labelNames: ['read'],
    registers: [this.registry],
  });

  /** `operationNamesPerCredential`: the operation names one API key may admit (default: all of them). */
  constructor(sources: MetricsSources, { operationNamesPerCredential = OPERATION_NAME_LABELS } = {}) {
    this.operationNames = new BoundedLabel(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, OPERATION_NAME_LABELS, operationNamesPerCredential);
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'gateway_upstream_breaker_state',
      help: "The DashScope circuit breaker's state: 1 for the current one of closed, half-open, open.",
      labelNames: ['state'],
      registers,
      collect() {
        const current = sources.breakerState();
        for (const state of ['closed', 'half-open', 'open']) this.set({ state }, state === current ? 1 : 0);
      },
    });
    // The shared pools of docs/operations.md#fairness-between-tenants, in use now (never labelled by credential).
    this.gauge(
      'gateway_upstream_bulkhead_active',
      'Upstream requests in flight now, within UPSTREAM_MAX_CONCURRENT (uploads not included).',
      () => sources.upstream().active,
    );
    this.gauge(
      'gateway_upstream_bulkhead_queued',
      'Upstream requests waiting for a bulkhead slot now, within UPSTREAM_MAX_QUEUED.',
      () => sources.upstream().queued,
    );
    this.gauge(
      'gateway_upstream_credential_breakers_open',
      "Credentials (forward mode) whose own circuit breaker is open now: DashScope kept failing that key's calls.",
      () => sources.upstream().credentialBreakersOpen,
    );
    this.gauge(
      'gateway_uploads_active',
      "Uploads in flight now, within UPLOAD_MAX_CONCURRENT (each holds a socket of the uploads' pool).",
      sources.uploadsActive,
    );
    this.gauge(
      'gateway_http_connections',
      'Connections open on the public port now, WebSockets and streams included, within HTTP_MAX_CONNECTIONS.',
      sources.httpConnections,
    );
    this.gauge('gateway_cache_entries', 'Finished jobs held in the cross-request cache.', sources.cachedJobs);
    this.gauge('gateway_response_cache_entries', 'Answers held by the response cache.', sources.cachedResponses);
    this.gauge('gateway_redis_up', '1 while the shared-state Redis (REDIS_URL) answers; 0 while it does not, or without REDIS_URL.', () =>
      sources.redis() === 'ready' ? 1 : 0,
    );
    this.gauge('gateway_subscriptions_active', 'Subscriptions streaming now, over SSE, multipart and graphql-ws.', sources.subscriptions);
    this.gauge('gateway_websocket_connections', 'graphql-ws WebSocket connections open now.', sources.webSockets);
    this.gauge(
      'gateway_operation_name_labels',
      `Operation names the operation_name label keeps (at most ${OPERATION_NAME_LABELS}; any other name is counted as other).`,
      () => this.operationNames.size,
    );
    this.gauge(
      'gateway_operation_name_labels_largest_share',
      'The most operation names one API key admitted (its cap: a quarter of them in forward mode).',
      () => this.operationNames.largestShare,
    );
    this.gauge(
      'gateway_pollers_active',
      'Upstream pollers running for subscribers (one per watched resource and credential).',
      sources.pollers,
    );
  }

  /** A lookup in a named cache (`jobs`; h-cache: `response`). Counts the hit for the operation's log line too. */
  cacheLookup(cache: string, result: 'hit' | 'miss'): void {
    this.cacheLookups.inc({ cache, result });
    const tally = operationTally.getStore();
    if (tally && result === 'hit') tally.cacheHits++;
  }

  singleFlightJoin(read: string): void {
    this.joins.inc({ read });
  }

  upstreamRequest({ endpoint, status, code, durationMs }: UpstreamRequestEvent): void {
    this.upstreamRequests.inc({ endpoint, status, code: this.upstreamCodes.of(code) });
    this.upstreamSeconds.observe({ endpoint, status }, durationMs / 1000);
    const tally = operationTally.getStore();
    if (!tally) return;
    tally.upstreamCalls++;
    if (status === '2xx') tally.upstreamSuccesses++;
  }

  upstreamRetry(endpoint: string | undefined): void {
    this.upstreamRetries.inc({ endpoint: endpoint ?? 'unknown' });
  }

  operation(labels: { name: string; type: string; transport: Transport; outcome: string }, durationMs?: number): void {
    this.operations.inc({ operation_name: labels.name, operation_type: labels.type, transport: labels.transport, outcome: labels.outcome });
    if (durationMs !== undefined) {
      this.operationSeconds.observe(
        { operation_name: labels.name, operation_type: labels.type, outcome: labels.outcome },
        durationMs / 1000,
      );
    }
  }

  /** A gauge read at scrape time, e.g. `gauge('gateway_redis_up', 'Redis reachable (1) or not (0).', () => …)`. */
  gauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** A counter of another part's own; asking twice for one name gives the same counter. Labels must stay bounded. */
  counter(name: string, help: string, labelNames: string[] = []): Counter<string> {
    let counter = this.own.get(name);
    if (!counter) {
      counter = new Counter({ name, help, labelNames, registers: [this.registry] });
      this.own.set(name, counter);
    }
    return counter;
  }

  /** The text exposition, and its content type, for `/metrics`. */
  async exposition(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
