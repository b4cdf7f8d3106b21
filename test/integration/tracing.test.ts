import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config.js';
import { SEED_JOB_IDS, startEmulator, type Emulator } from '../../src/emulator/index.js';
import { createGateway, type Gateway } from '../../src/gateway/index.js';
import { startTracing } from '../../src/observability/tracing.js';
import { openSse } from '../support/sse.js';

/*
 * OpenTelemetry tracing, end to end: a real OTLP/HTTP receiver started here gets the gateway's spans; the gateway calls
 * the real emulator through a loopback proxy that records the trace context of each upstream request.
 */

interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  /** OTLP's status code: 0 unset, 1 ok, 2 error. */
  status: { code: number; message?: string };
  attributes: Record<string, unknown>;
  service: string;
}

type AnyValue = { stringValue?: string; intValue?: number | string; boolValue?: boolean; arrayValue?: { values?: AnyValue[] } };
type KeyValue = { key: string; value: AnyValue };
interface ExportRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: KeyValue[] };
    scopeSpans?: Array<{
      spans?: Array<{
        traceId: string | Uint8Array;
        spanId: string | Uint8Array;
        parentSpanId?: string | Uint8Array;
        name: string;
        kind: number;
        status?: { code?: number; message?: string };
        attributes?: KeyValue[];
      }>;
    }>;
  }>;
}

// OTLP/JSON carries ids as hex strings, OTLP/protobuf as bytes.
const hex = (id: string | Uint8Array | undefined) =>
  id === undefined ? '' : typeof id === 'string' ? id : Buffer.from(id).toString('hex');
const plain = (value: AnyValue): unknown => {
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(plain);
  if (value.intValue !== undefined) return Number(value.intValue);
  return value.stringValue ?? value.boolValue;
};
const attributes = (list: KeyValue[] = []) => Object.fromEntries(list.map(({ key, value }) => [key, plain(value)]));

// The exporter's own protobuf definitions, to read what it sends (its generated protobufjs module).
const require = createRequire(import.meta.url);
const otlpProto = require('@opentelemetry/otlp-transformer/build/src/generated/root') as {
  opentelemetry: {
    proto: {
      collector: {
        trace: {
          v1: {
            ExportTraceServiceRequest: { decode(bytes: Uint8Array): object; toObject(message: object, options: object): ExportRequest };
          };
        };
      };
    };
  };
};
const { ExportTraceServiceRequest } = otlpProto.opentelemetry.proto.collector.trace.v1;

/** A loopback OTLP/HTTP traces receiver: POST /v1/traces, JSON or protobuf. */
async function startReceiver() {
  const spans: ReceivedSpan[] = [];
  const waiters = new Set<() => void>();
  const contentTypes = new Set<string>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const type = req.headers['content-type'] ?? '';
      contentTypes.add(type);
      if (req.method !== 'POST' || req.url !== '/v1/traces') return res.writeHead(404).end();
      const request: ExportRequest = type.startsWith('application/json')
        ? (JSON.parse(body.toString()) as ExportRequest)
        : ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(body), { longs: Number });
      for (const resource of request.resourceSpans ?? []) {
        const service = String(attributes(resource.resource?.attributes)['service.name']);
        for (const scope of resource.scopeSpans ?? [])
          for (const span of scope.spans ?? [])
            spans.push({
              traceId: hex(span.traceId),
              spanId: hex(span.spanId),
              parentSpanId: hex(span.parentSpanId),
              name: span.name,
              kind: span.kind,
              status: { code: span.status?.code ?? 0, ...(span.status?.message && { message: span.status.message }) },
              attributes: attributes(span.attributes),
              service,
            });
      }
      res.writeHead(200, { 'content-type': type.startsWith('application/json') ? 'application/json' : 'application/x-protobuf' });
      res.end(type.startsWith('application/json') ? '{}' : '');
      for (const waiter of waiters) waiter();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    contentTypes,
    /** Resolves with the first span received that matches; fails naming the spans received if none came in 10 s. */
    span: (matches: (span: ReceivedSpan) => boolean) =>
      new Promise<ReceivedSpan>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no such span; received: ${spans.map((span) => span.name).join(', ')}`));
        }, 10_000);
        const check = () => {
          const found = spans.find(matches);
          if (!found) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        waiters.add(check);
        check();
      }),
    close: () => closeServer(server),
  };
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Forwards to the emulator, noting each request's `traceparent` and the `request_id` DashScope answered with. */
async function startRecordingProxy(target: string) {
  const seen: Array<{ path: string; traceparent: string | undefined; requestId: string | undefined }> = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const headers = Object.fromEntries(
        Object.entries(req.headers).filter(([name]) => name !== 'host' && name !== 'connection'),
      ) as Record<string, string>;
      const body = chunks.length ? Buffer.concat(chunks) : undefined;
      void fetch(target + req.url, { method: req.method, headers, body }).then(async (response) => {
        const text = await response.text();
        let requestId: string | undefined;
        try {
          requestId = (JSON.parse(text) as { request_id?: string }).request_id;
        } catch {
          // not JSON (an injected fault): no request id to note
        }
        seen.push({ path: req.url ?? '', traceparent: req.headers.traceparent as string | undefined, requestId });
        res.writeHead(response.status, { 'content-type': response.headers.get('content-type') ?? 'application/json' });
        res.end(text);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, close: () => closeServer(server) };
}

/** A caller's trace context: W3C `traceparent`, sampled. */
function callerTrace() {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

const JOB = SEED_JOB_IDS.contractExample;
const SERVER = 2;
const CLIENT = 3;
const ERROR = 2;

let emulator: Emulator;
let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let gateway: Gateway;
let url: string;

async function startTracedGateway(env: Record<string, string>): Promise<{ gateway: Gateway; url: string }> {
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'error',
    DASHSCOPE_BASE_URL: proxy.url,
    DASHSCOPE_API_KEY: emulator.demoApiKey,
    UPSTREAM_RETRY_BASE_MS: '1',
    // Every test reads finished jobs: from the cache, a read another test made first would cause no upstream call.
    CACHE_ENABLED: 'false',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    ...env,
  });
  const traced = createGateway({ config, tracing: await startTracing(config.tracing) });
  return { gateway: traced, url: await traced.listen(0, '127.0.0.1') };
}

async function post(query: string, headers: Record<string, string> = {}, variables?: Record<string, unknown>) {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: Record<string, unknown>; errors?: Array<{ extensions?: { code?: string } }> };
  return Object.assign(body, { requestId: response.headers.get('x-request-id') });
}

beforeAll(async () => {
  emulator = await startEmulator();
  proxy = await startRecordingProxy(emulator.url);
  receiver = await startReceiver();
  // OTLP/JSON, exported every 20 ms: the spans of each test arrive while it waits for them.
  ({ gateway, url } = await startTracedGateway({
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '20',
    OTEL_SERVICE_NAME: 'gateway-under-test',
  }));
});

afterAll(async () => {
  await gateway.close();
  await Promise.all([proxy.close(), receiver.close(), emulator.close()]);
});

describe('with OTEL_EXPORTER_OTLP_ENDPOINT set', () => {
  it("exports a span per HTTP operation, a child of the caller's traceparent, with its upstream call as a child", async () => {
    const caller = callerTrace();
    const { requestId, ...answer } = await post(
      `query JobStatus($id: ID!) { fineTuneJob(id: $id) { status } }`,
      { traceparent: caller.traceparent },
      { id: JOB },
    );
    expect(answer).toEqual({ data: { fineTuneJob: { status: 'SUCCEEDED' } } });

    const operation = await receiver.span((span) => span.traceId === caller.traceId && span.name === 'query.JobStatus');
    expect(operation).toMatchObject({
      parentSpanId: caller.spanId,
      kind: SERVER,
      service: 'gateway-under-test',
      attributes: {
        'graphql.execute.operationName': 'JobStatus',
        'graphql.execute.operationType': 'query',
        // The id of the response and of the log lines about it.
        'gateway.request_id': requestId,
      },
    });
    expect(requestId).toEqual(expect.any(String));
    expect(operation.status.code).not.toBe(ERROR);

    const upstream = await receiver.span((span) => span.parentSpanId === operation.spanId);
    const sent = proxy.seen.find((request) => request.traceparent?.includes(caller.traceId));
    expect(upstream).toMatchObject({
      traceId: caller.traceId,
      // The route, never the job id, names the span.
      name: 'GET /fine-tunes/{id}',
      kind: CLIENT,
      attributes: {
        'http.request.method': 'GET',
        'url.template': '/fine-tunes/{id}',
        'url.path': `/api/v1/fine-tunes/${JOB}`,
        'http.response.status_code': 200,
        'dashscope.request_id': sent?.requestId,
      },
    });
    expect(upstream.attributes['dashscope.request_id']).toEqual(expect.any(String));
    // DashScope got the trace context of the upstream span itself.
    expect(sent?.traceparent).toBe(`00-${caller.traceId}-${upstream.spanId}-01`);
  });

  it('marks an upstream failure: each attempt a span with its status and code, the operation span ERROR with the code', async () => {
    emulator.injectFault({ match: { route: 'get', jobId: SEED_JOB_IDS.failed }, fault: { kind: 'status', status: 503 } });
    try {
      const caller = callerTrace();
      const answer = await post(`query Broken { fineTuneJob(id: "${SEED_JOB_IDS.failed}") { status } }`, {
        traceparent: caller.traceparent,
      });
      expect(answer.errors?.[0]?.extensions?.code).toBe('UPSTREAM_ERROR');

      const operation = await receiver.span((span) => span.traceId === caller.traceId && span.name === 'query.Broken');
      expect(operation.status.code).toBe(ERROR);
      expect(operation.attributes['graphql.error.codes']).toEqual(['UPSTREAM_ERROR']);
      // 1 + UPSTREAM_RETRIES (2) attempts, each its own span, the retries counted.
      const attempts = await Promise.all(
        [0, 1, 2].map((resend) =>
          receiver.span((span) => span.parentSpanId === operation.spanId && (span.attributes['http.request.resend_count'] ?? 0) === resend),
        ),
      );
      for (const attempt of attempts) {
        expect(attempt).toMatchObject({
          name: 'GET /fine-tunes/{id}',
          status: { code: ERROR, message: 'UPSTREAM_ERROR' },
          attributes: { 'http.response.status_code': 503, 'gateway.error.code': 'UPSTREAM_ERROR', 'error.type': 'UPSTREAM_ERROR' },
        });
        expect(attempt.attributes['dashscope.request_id']).toEqual(expect.any(String));
      }
    } finally {
      emulator.clearFaults();
    }
  });

  it.each(['connection params', 'upgrade request headers'])(
    "exports a graphql-ws operation's span, a child of the traceparent in the %s",
    async (where) => {
      const caller = callerTrace();
      // Node clients can set headers on the upgrade request; browsers cannot, and send it in the connection params.
      class WithTraceparent extends WebSocket {
        constructor(address: string, protocols?: string | string[]) {
          super(address, protocols, { headers: { traceparent: caller.traceparent } });
        }
      }
      const client = createClient({
        url: `${url.replace('http', 'ws')}/graphql`,
        webSocketImpl: where === 'connection params' ? WebSocket : WithTraceparent,
        retryAttempts: 0,
        ...(where === 'connection params' && { connectionParams: { traceparent: caller.traceparent } }),
      });
      try {
        const result = await new Promise<unknown>((resolve, reject) => {
          let last: unknown;
          client.subscribe(
            { query: `query OverSocket { fineTuneJob(id: "${JOB}") { status } }` },
            { next: (value) => (last = value), error: reject, complete: () => resolve(last) },
          );
        });
        expect(result).toEqual({ data: { fineTuneJob: { status: 'SUCCEEDED' } } });
      } finally {
        await client.dispose();
      }
      const operation = await receiver.span((span) => span.traceId === caller.traceId && span.name === 'query.OverSocket');
      expect(operation).toMatchObject({
        parentSpanId: caller.spanId,
        kind: SERVER,
        attributes: { 'gateway.request_id': expect.any(String) },
      });
    },
  );

  it("exports an SSE subscription's span once it ends, with its polls as children", async () => {
    const caller = callerTrace();
    // A finished job: one event, then the subscription completes.
    const stream = await openSse(
      url,
      `subscription Watch($id: ID!) { fineTuneJobUpdated(id: $id) { status } }`,
      { id: JOB },
      {
        headers: { traceparent: caller.traceparent },
      },
    );
    expect(await stream.rest()).toEqual([{ data: { fineTuneJobUpdated: { status: 'SUCCEEDED' } } }]);
    const operation = await receiver.span((span) => span.traceId === caller.traceId && span.name === 'subscription.Watch');
    expect(operation).toMatchObject({ parentSpanId: caller.spanId, kind: SERVER });
    await expect(receiver.span((span) => span.parentSpanId === operation.spanId)).resolves.toMatchObject({
      name: 'GET /fine-tunes/{id}',
      kind: CLIENT,
    });
  });

  it('exports the spans still buffered when it shuts down (OTLP/protobuf, the default protocol)', async () => {
    // An export interval longer than the test: only the shutdown can have sent the span.
    const traced = await startTracedGateway({ OTEL_BSP_SCHEDULE_DELAY: '600000', OTEL_SERVICE_NAME: 'gateway-shutting-down' });
    const caller = callerTrace();
    const response = await fetch(`${traced.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: caller.traceparent },
      body: JSON.stringify({ query: `query Last { fineTuneJob(id: "${JOB}") { status } }` }),
    });
    expect(response.status).toBe(200);
    await response.text();
    expect(receiver.spans.filter((span) => span.traceId === caller.traceId)).toEqual([]);
    await traced.gateway.shutdown({ graceMs: 1_000 });
    const exported = receiver.spans.filter((span) => span.traceId === caller.traceId);
    expect(exported.map((span) => span.name).sort()).toEqual(['GET /fine-tunes/{id}', 'query.Last']);
    expect(exported.every((span) => span.service === 'gateway-shutting-down')).toBe(true);
    expect(receiver.contentTypes).toContain('application/x-protobuf');
  });
});
