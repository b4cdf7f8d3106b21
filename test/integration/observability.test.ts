import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SEED_JOB_IDS, type EmulatorAccount } from '../../src/emulator/index.js';
import { captureLogs } from '../support/logs.js';
import { openSse } from '../support/sse.js';
import { startStack, type Stack } from '../support/stack.js';

/*
 * What operators see: /metrics (Prometheus text), /health (JSON), /ready, and the JSON log lines, all from a real
 * gateway over HTTP, SSE and graphql-ws against the emulator.
 */

const JOB = 'query JobById($id: ID!) { fineTuneJob(id: $id) { id status } }';
const WATCH = 'subscription WatchJob($id: ID!) { fineTuneJobUpdated(id: $id) { id status } }';

async function scrape(url: string, headers: Record<string, string> = {}): Promise<string> {
  const response = await fetch(`${url}/metrics`, { headers });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  return response.text();
}

/** The value of one sample of the text exposition (0 when absent), matched by name and the labels given. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

function wsClient(stack: Stack, connectionParams: Record<string, unknown> = {}): Client {
  return createClient({ url: stack.url.replace('http', 'ws') + '/graphql', webSocketImpl: WebSocket, retryAttempts: 0, connectionParams });
}

/** Runs one operation over graphql-ws to its end; resolves to its results (or the `error` message's errors). */
function overWs(client: Client, query: string, variables: Record<string, unknown>): Promise<unknown[]> {
  return new Promise((resolve) => {
    const results: unknown[] = [];
    client.subscribe(
      { query, variables },
      { next: (result) => void results.push(result), complete: () => resolve(results), error: (error) => resolve([...results, error]) },
    );
  });
}

describe('/metrics', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { UPSTREAM_RETRIES: '1', UPSTREAM_RETRY_BASE_MS: '1', POLL_INTERVAL_MS: '20' } });
  });
  afterAll(() => stack.close());

  it('counts a query, its upstream request and the cache on HTTP and graphql-ws alike (one pipeline)', async () => {
    const before = await scrape(stack.url);
    await stack.ok(JOB, { id: SEED_JOB_IDS.contractExample });
    const client = wsClient(stack);
    try {
      await overWs(client, JOB, { id: SEED_JOB_IDS.contractExample });
    } finally {
      await client.dispose();
    }
    const after = await scrape(stack.url);
    const delta = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels);

    const ok = { operation_name: 'JobById', operation_type: 'query', outcome: 'ok' };
    expect(delta('gateway_operations_total', { ...ok, transport: 'http' })).toBe(1);
    expect(delta('gateway_operations_total', { ...ok, transport: 'graphql-ws' })).toBe(1);
    expect(delta('gateway_operation_duration_seconds_count', ok)).toBe(2);
    // A finished job: read upstream once (or not at all, when an earlier test cached it), then the same operation
    // answered by the response cache without executing.
    expect(delta('gateway_cache_lookups_total', { cache: 'response', result: 'hit' })).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'gateway_upstream_requests_total', { endpoint: 'GET /fine-tunes/{id}', status: '2xx' })).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'gateway_upstream_request_duration_seconds_count', { endpoint: 'GET /fine-tunes/{id}' })).toBeGreaterThanOrEqual(
      1,
    );
    expect(sample(after, 'gateway_upstream_breaker_state', { state: 'closed' })).toBe(1);
    // Process metrics, on this gateway's own registry.
    expect(after).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(after).toMatch(/^nodejs_eventloop_lag_seconds /m);
  });

  it('counts an upstream error, its retry and the operation’s outcome, on HTTP and graphql-ws', async () => {
    const id = SEED_JOB_IDS.running;
    // A name becomes a label once an operation of that name succeeded with a credential (before, it counts as
    // `other`): whichever test runs first.
    await stack.ok(JOB, { id: SEED_JOB_IDS.contractExample });
    const before = await scrape(stack.url);
    for (const transport of ['http', 'graphql-ws']) {
      // Both attempts (the first try and its one retry) fail.
      stack.emulator.injectFault({
        match: { route: 'get', jobId: id },
        times: 2,
        fault: { kind: 'status', status: 503, code: 'ServiceUnavailable' },
      });
      if (transport === 'http') {
        expect((await stack.gql(JOB, { id })).body.errors?.[0]?.extensions?.code).toBe('UPSTREAM_ERROR');
      } else {
        const client = wsClient(stack);
        try {
          const [result] = (await overWs(client, JOB, { id })) as Array<{ errors?: Array<{ extensions?: { code?: string } }> }>;
          expect(result?.errors?.[0]?.extensions?.code).toBe('UPSTREAM_ERROR');
        } finally {
          await client.dispose();
        }
      }
    }
    const after = await scrape(stack.url);
    const delta = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels);
    for (const transport of ['http', 'graphql-ws']) {
      expect(delta('gateway_operations_total', { operation_name: 'JobById', transport, outcome: 'UPSTREAM_ERROR' })).toBe(1);
    }
    expect(delta('gateway_upstream_requests_total', { endpoint: 'GET /fine-tunes/{id}', status: '503', code: 'ServiceUnavailable' })).toBe(
      4,
    );
    expect(delta('gateway_upstream_retries_total', { endpoint: 'GET /fine-tunes/{id}' })).toBe(2);
  });

  it('counts subscriptions, and shows the streams, pollers and sockets open while they run', async () => {
    const before = await scrape(stack.url);
    // A finished job: one event, then the stream completes (SSE and graphql-ws).
    const sse = await openSse(stack.url, WATCH, { id: SEED_JOB_IDS.failed });
    expect((await sse.rest()).length).toBe(1);
    const client = wsClient(stack);
    try {
      expect((await overWs(client, WATCH, { id: SEED_JOB_IDS.failed })).length).toBe(1);
      // A running job's streams stay open, on SSE and on the socket; one poller serves both.
      const open = await openSse(stack.url, WATCH, { id: SEED_JOB_IDS.running });
      await open.next();
      let first!: () => void;
      const firstEvent = new Promise<void>((resolve) => (first = resolve));
      const stop = client.subscribe(
        { query: WATCH, variables: { id: SEED_JOB_IDS.running } },
        { next: () => first(), error: () => {}, complete: () => {} },
      );
      await firstEvent;
      const during = await scrape(stack.url);
      expect(sample(during, 'gateway_subscriptions_active')).toBe(2);
      expect(sample(during, 'gateway_pollers_active')).toBe(1);
      expect(sample(during, 'gateway_websocket_connections')).toBe(1);
      open.close();
      stop();
      await expect.poll(async () => sample(await scrape(stack.url), 'gateway_subscriptions_active'), { timeout: 5_000 }).toBe(0);
      await expect.poll(async () => sample(await scrape(stack.url), 'gateway_pollers_active'), { timeout: 5_000 }).toBe(0);
    } finally {
      await client.dispose();
    }
    await expect.poll(async () => sample(await scrape(stack.url), 'gateway_websocket_connections'), { timeout: 5_000 }).toBe(0);
    const after = await scrape(stack.url);
    const delta = (labels: Record<string, string>) =>
      sample(after, 'gateway_operations_total', labels) - sample(before, 'gateway_operations_total', labels);
    expect(delta({ operation_name: 'WatchJob', operation_type: 'subscription', transport: 'sse' })).toBe(2);
    expect(delta({ operation_name: 'WatchJob', operation_type: 'subscription', transport: 'graphql-ws', outcome: 'ok' })).toBe(2);
  });
});

describe('/metrics labels stay bounded and hold no secret', () => {
  const KEY = 'sk-live-7c1e9a4b2d8f6e3a0b5c9d1e';
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { AUTH_MODE: 'forward' },
      emulator: {
        accounts: [{ apiKey: KEY, workspaceId: 'llm-metrics01', userId: 'llm-metrics01', seed: true } satisfies EmulatorAccount],
      },
    });
  });
  afterAll(() => stack.close());

  it('keeps job ids, keys, operation text and hostile operation names out of every label', async () => {
    const auth = { authorization: `Bearer ${KEY}` };
    const hostileNames = ['a'.repeat(100), 'Évil', 'x"y', 'with space', '$dollar'];
    for (const name of hostileNames) {
      const response = await fetch(`${stack.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...auth },
        body: JSON.stringify({ query: `query Q { __typename }`, operationName: name }),
      });
      await response.text();
    }
    const missing = 'ft-209901010000-dead';
    await stack.gql(JOB, { id: missing }, auth);
    await stack.gql(JOB, { id: SEED_JOB_IDS.contractExample }, auth);
    await stack.gql(`{ fineTuneJob(id: "../secret-path") { id } }`, {}, auth);
    // More distinct well-formed names than the label keeps: the rest are counted as "other".
    for (let i = 0; i < 120; i++) await stack.gql(`query Name${i} { __typename }`, {}, auth);

    const text = await scrape(stack.url);
    for (const secret of [
      KEY,
      KEY.slice(8),
      missing,
      SEED_JOB_IDS.contractExample,
      'secret-path',
      '__typename',
      'a'.repeat(65),
      'Évil',
      'x"y',
    ]) {
      expect(text).not.toContain(secret);
    }
    const names = new Set([...text.matchAll(/operation_name="([^"]*)"/g)].map((m) => m[1]));
    expect(names.size).toBeLessThanOrEqual(102); // 100 names, "other", "anonymous"
    expect(names).toContain('other');
    expect(sample(text, 'gateway_operations_total', { operation_name: 'other' })).toBeGreaterThanOrEqual(20);
    expect(text).toContain('endpoint="GET /fine-tunes/{id}"');
  });
});

describe('/metrics protection', () => {
  const TOKEN = 'metrics-token-0123456789abcdef';
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { METRICS_TOKEN: TOKEN, CORS_ORIGINS: 'https://app.example.com' } });
  });
  afterAll(() => stack.close());

  it('answers 401 without the METRICS_TOKEN bearer and 200 with it, outside CORS, CSRF and GraphQL', async () => {
    const without = await fetch(`${stack.url}/metrics`);
    expect(without.status).toBe(401);
    expect(without.headers.get('www-authenticate')).toContain('Bearer');
    expect((await fetch(`${stack.url}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
    // A cross-site browser request is neither refused nor answered with CORS headers: the token decides.
    const text = await scrape(stack.url, { authorization: `Bearer ${TOKEN}`, origin: 'https://evil.example' });
    expect(text).toContain('# TYPE gateway_operations_total counter');
    expect(text).not.toContain(TOKEN);
  });

  it('in production without METRICS_TOKEN or METRICS_PORT, the public port answers /metrics 404 and startup says how to enable it', async () => {
    const logs = captureLogs();
    const open = await startStack({ env: { NODE_ENV: 'production', LOG_LEVEL: 'warn' }, logs });
    try {
      const response = await fetch(`${open.url}/metrics`);
      expect(response.status).toBe(404);
      expect(await response.text()).not.toContain('gateway_');
      const told = logs.records().filter((record) => record.metrics === 'off');
      expect(told).toHaveLength(1);
      expect(told[0]!.msg).toMatch(/METRICS_TOKEN/);
      expect(told[0]!.msg).toMatch(/METRICS_PORT/);
    } finally {
      await open.close();
    }
    const tokened = await startStack({ env: { NODE_ENV: 'production', METRICS_TOKEN: TOKEN } });
    try {
      expect((await fetch(`${tokened.url}/metrics`)).status).toBe(401);
      expect(await scrape(tokened.url, { authorization: `Bearer ${TOKEN}` })).toContain('gateway_operations_total');
    } finally {
      await tokened.close();
    }
  });

  it('with METRICS_PORT, serves /metrics on its own loopback listener only', async () => {
    const separate = await startStack({ env: { METRICS_PORT: '0' } });
    try {
      const metricsUrl = separate.gateway.metricsUrl();
      expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(metricsUrl).not.toBe(separate.url);
      expect(await scrape(metricsUrl!)).toContain('gateway_upstream_breaker_state');
      expect((await fetch(`${separate.url}/metrics`)).status).toBe(404);
      expect((await fetch(`${metricsUrl}/graphql`)).status).toBe(404);
    } finally {
      await separate.close();
    }
  });
});

describe('/health and /ready during an upstream outage', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { UPSTREAM_RETRIES: '0', UPSTREAM_BREAKER_FAILURES: '2', UPSTREAM_BREAKER_OPEN_MS: '60000', POLL_INTERVAL_MS: '20' },
    });
  });
  afterAll(() => stack.close());

  it('/health answers JSON about this process and what it knows of DashScope', async () => {
    const response = await fetch(`${stack.url}/health`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    const health = (await response.json()) as { upstream: { lastError: unknown } };
    expect(health).toEqual({
      status: expect.stringMatching(/^(ok|degraded)$/),
      version: '0.1.0',
      uptimeSeconds: expect.any(Number),
      // lastError: null until an upstream call fails (the outage test below may have run first).
      upstream: { breaker: expect.any(String), lastError: health.upstream.lastError === null ? null : expect.any(Object) },
      cache: { jobs: expect.any(Number), responses: expect.any(Number) },
      redis: 'disabled',
      active: { subscriptions: expect.any(Number), pollers: expect.any(Number), webSockets: expect.any(Number) },
    });
  });

  it('stays ready with the breaker open, serves a cached finished job, and reports the outage in /health and /metrics', async () => {
    // Cached before the outage.
    await stack.ok(JOB, { id: SEED_JOB_IDS.contractExample });
    stack.emulator.injectFault({ match: { route: 'get' }, fault: { kind: 'status', status: 503, code: 'ServiceUnavailable' } });
    try {
      for (let i = 0; i < 2; i++) await stack.gql(JOB, { id: SEED_JOB_IDS.running }, { 'x-request-id': `outage-${i}` });
      const shed = await stack.gql(JOB, { id: SEED_JOB_IDS.running });
      expect(shed.body.errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAVAILABLE');

      const ready = await fetch(`${stack.url}/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ ready: true });
      const cached = await stack.ok(JOB, { id: SEED_JOB_IDS.contractExample });
      expect(cached.fineTuneJob).toEqual({ id: SEED_JOB_IDS.contractExample, status: 'SUCCEEDED' });

      const health = (await (await fetch(`${stack.url}/health`)).json()) as Record<string, any>;
      expect(health.status).toBe('degraded');
      expect(health.upstream).toEqual({
        breaker: 'open',
        lastError: {
          at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          endpoint: 'GET /fine-tunes/{id}',
          status: 503,
          code: 'ServiceUnavailable',
          kind: 'http',
          requestId: expect.any(String),
        },
      });
      expect(health.cache.jobs).toBeGreaterThanOrEqual(1);
      expect(JSON.stringify(health)).not.toContain(stack.emulator.demoApiKey);
      const metrics = await scrape(stack.url);
      expect(sample(metrics, 'gateway_upstream_breaker_state', { state: 'open' })).toBe(1);
      expect(sample(metrics, 'gateway_upstream_breaker_state', { state: 'closed' })).toBe(0);
    } finally {
      stack.emulator.clearFaults();
    }
  });
});

describe('JSON log lines', () => {
  const KEY = 'sk-live-3e8b1f6a9c2d4e7f0a1b5c8d';
  const logs = captureLogs();
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: {
        AUTH_MODE: 'forward',
        NODE_ENV: 'production',
        LOG_LEVEL: 'debug',
        UPSTREAM_RETRIES: '0',
        POLL_INTERVAL_MS: '20',
        // Each operation executes, so that its line counts its upstream calls.
        RESPONSE_CACHE_ENABLED: 'false',
      },
      emulator: { accounts: [{ apiKey: KEY, workspaceId: 'llm-logs0001', userId: 'llm-logs0001', seed: true } satisfies EmulatorAccount] },
      logs,
    });
  });
  afterAll(() => stack.close());

  it('one info line per operation on every transport, with its cost and the request id; no line holds the key', async () => {
    const auth = { authorization: `Bearer ${KEY}` };
    logs.clear();
    // HTTP: a finished job, read upstream once, then from the cache.
    const first = await stack.gql(JOB, { id: SEED_JOB_IDS.failed }, { ...auth, 'x-request-id': 'logs-http-1' });
    expect(first.body.errors).toBeUndefined();
    await stack.gql(JOB, { id: SEED_JOB_IDS.failed }, { ...auth, 'x-request-id': 'logs-http-2' });
    // An upstream error whose message echoes the key.
    stack.emulator.injectFault({
      match: { route: 'get', jobId: SEED_JOB_IDS.running },
      times: 1,
      fault: { kind: 'status', status: 500, code: 'InternalError', message: `failed for ${KEY} (Authorization: Bearer ${KEY})` },
    });
    await stack.gql(JOB, { id: SEED_JOB_IDS.running }, { ...auth, 'x-request-id': 'logs-http-3' });
    // A thrown internal error: a count beyond 2^31 cannot be an Int.
    stack.emulator.putRawJob(KEY, { job_id: 'ft-logs-count', status: 'SUCCEEDED', model: 'qwen3-8b', output_cnt: 2 ** 40 });
    const internal = await stack.gql(`{ fineTuneJob(id: "ft-logs-count") { outputCount } }`, {}, auth);
    expect(internal.body.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    // SSE, with the key in the header.
    const sse = await openSse(stack.url, WATCH, { id: SEED_JOB_IDS.canceled }, { headers: auth });
    expect(await sse.rest()).toHaveLength(1);
    // graphql-ws, with the key in connectionParams: a query, an upstream error, a subscription.
    const client = wsClient(stack, { authorization: `Bearer ${KEY}` });
    try {
      await overWs(client, JOB, { id: SEED_JOB_IDS.failed });
      stack.emulator.injectFault({
        match: { route: 'get', jobId: SEED_JOB_IDS.pending },
        times: 1,
        fault: { kind: 'status', status: 502, code: 'BadGateway', message: `bad gateway for key ${KEY}` },
      });
      await overWs(client, JOB, { id: SEED_JOB_IDS.pending });
      await overWs(client, WATCH, { id: SEED_JOB_IDS.contractExample });
    } finally {
      await client.dispose();
    }

    const records = logs.records(); // each line parses as JSON, or this throws
    const operations = records.filter((record) => record.event === 'operation');
    const fields = { level: 'info', msg: 'operation', operationName: 'JobById', operationType: 'query', durationMs: expect.any(Number) };
    expect(operations).toEqual([
      expect.objectContaining({ ...fields, transport: 'http', upstreamCalls: 1, cacheHits: 0, errorCodes: [], requestId: 'logs-http-1' }),
      expect.objectContaining({ ...fields, transport: 'http', upstreamCalls: 0, cacheHits: 1, errorCodes: [], requestId: 'logs-http-2' }),
      expect.objectContaining({ ...fields, transport: 'http', upstreamCalls: 1, errorCodes: ['UPSTREAM_ERROR'], requestId: 'logs-http-3' }),
      expect.objectContaining({ operationName: null, transport: 'http', errorCodes: ['INTERNAL_SERVER_ERROR'] }),
      expect.objectContaining({ operationName: 'WatchJob', operationType: 'subscription', transport: 'sse', errorCodes: [] }),
      expect.objectContaining({ ...fields, transport: 'graphql-ws', upstreamCalls: 0, cacheHits: 1, errorCodes: [] }),
      expect.objectContaining({ ...fields, transport: 'graphql-ws', upstreamCalls: 1, errorCodes: ['UPSTREAM_ERROR'] }),
      expect.objectContaining({ operationName: 'WatchJob', operationType: 'subscription', transport: 'graphql-ws', errorCodes: [] }),
    ]);
    for (const operation of operations) expect(operation.requestId).toEqual(expect.any(String));
    // The upstream errors: a warn line each, with the endpoint and DashScope's request id.
    const faults = records.filter((record) => record.event === 'upstream.fault');
    expect(faults).toEqual([
      expect.objectContaining({
        level: 'warn',
        endpoint: 'GET /fine-tunes/{id}',
        status: 500,
        code: 'InternalError',
        request_id: expect.any(String),
      }),
      expect.objectContaining({
        level: 'warn',
        endpoint: 'GET /fine-tunes/{id}',
        status: 502,
        code: 'BadGateway',
        request_id: expect.any(String),
      }),
    ]);
    expect(faults[0]!.requestId).toBe('logs-http-3');
    expect(records.filter((record) => record.level === 'error')).toHaveLength(1);
    // Debug lines hold the request headers, the credential blanked.
    expect(
      records.some((record) => record.event === 'request' && (record.headers as Record<string, string>).authorization === '[redacted]'),
    ).toBe(true);
    // No line holds the key, whole or in part.
    expect(logs.lines.filter((line) => line.includes(KEY) || line.includes(KEY.slice(3)))).toEqual([]);
  });
});
