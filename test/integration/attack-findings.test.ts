import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DEMO_ACCOUNT } from '../../src/emulator/index.js';
import { SEED_JOB_IDS } from '../../src/emulator/seed.js';
import { captureLogs } from '../support/logs.js';
import { openSse } from '../support/sse.js';
import { startStack, type Stack } from '../support/stack.js';

/*
 * Defects found by attacking the gateway (branch h-attack1). Each test states the contract the gateway promises and
 * fails on the code it was written against; none of them is fixed here.
 */

const WATCH = `subscription($id: ID!) { fineTuneJobUpdated(id: $id) { id status } }`;

/** A graphql-ws socket, initialised, that records every message and its close. */
async function wsSession(url: string, connectionParams: Record<string, unknown> = {}) {
  const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
  const messages: Array<Record<string, any>> = [];
  const waiters: Array<() => void> = [];
  let closed: { code: number; reason: string } | undefined;
  const wake = () => waiters.splice(0).forEach((w) => w());
  socket.on('message', (data: Buffer) => {
    messages.push(JSON.parse(data.toString()) as Record<string, any>);
    wake();
  });
  socket.on('close', (code, reason) => {
    closed = { code, reason: reason.toString() };
    wake();
  });
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  socket.send(JSON.stringify({ type: 'connection_init', payload: connectionParams }));
  const until = async (done: () => boolean) => {
    while (!done()) await new Promise<void>((resolve) => waiters.push(resolve));
  };
  await until(() => messages.some((m) => m.type === 'connection_ack') || closed !== undefined);
  return {
    socket,
    messages,
    get closed() {
      return closed;
    },
    /** Resolves once `id` got its `complete` or `error`, or the socket closed. */
    finished: (id: string) =>
      until(() => closed !== undefined || messages.some((m) => m.id === id && (m.type === 'complete' || m.type === 'error'))),
    close: () => socket.close(),
  };
}

describe('attack findings: a subscription asked for with Accept: multipart/mixed (no subscriptionSpec)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { NODE_ENV: 'production', POLL_INTERVAL_MS: '30', MAX_SUBSCRIPTIONS: '1' } });
  });
  afterAll(() => stack.close());

  it('does not leave a subscription and its poller running after a bodiless 406 (slot leak, endless upstream polling)', async () => {
    const response = await fetch(`${stack.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'multipart/mixed' },
      body: JSON.stringify({ query: WATCH, variables: { id: SEED_JOB_IDS.running } }),
    });
    const body = await response.text();
    // Whatever the answer, once it is over nothing may keep running for it.
    stack.emulator.resetStats();
    await sleep(300); // ten poll intervals
    const callsAfterAnswer = stack.upstreamCalls('get');
    const next = await openSse(stack.url, WATCH, { id: SEED_JOB_IDS.running });
    const first = await next.next();
    next.close();
    expect({ status: response.status, bodyEmpty: body === '', callsAfterAnswer, firstEventErrors: first?.errors ?? [] }).toEqual({
      status: expect.any(Number),
      bodyEmpty: false,
      callsAfterAnswer: 0,
      firstEventErrors: [],
    });
  });
});

describe('a subscription over HTTP whose Accept cannot carry its stream', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { NODE_ENV: 'production', POLL_INTERVAL_MS: '30', MAX_SUBSCRIPTIONS: '1' } });
  });
  afterAll(() => stack.close());

  it.each([
    'multipart/mixed',
    'multipart/mixed; deferSpec=20220824',
    'application/json, multipart/mixed',
    'text/event-stream;q=0, application/json',
    'text/event-stream;q=0, */*',
  ])('with Accept %s: refused up front (406, a JSON body with BAD_USER_INPUT), nothing read upstream', async (accept) => {
    stack.emulator.resetStats();
    const response = await fetch(`${stack.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept },
      body: JSON.stringify({ query: WATCH, variables: { id: SEED_JOB_IDS.running } }),
    });
    const body = (await response.json()) as { errors: Array<{ extensions: { code: string } }> };
    expect({ status: response.status, codes: body.errors.map((e) => e.extensions.code), calls: stack.upstreamCalls() }).toEqual({
      status: 406,
      codes: ['BAD_USER_INPUT'],
      calls: 0,
    });
  });
});

describe('attack findings: a subscription inside a batch (BATCH_LIMIT > 0)', () => {
  it.each(['text/event-stream', '*/*', 'multipart/mixed;subscriptionSpec=1.0'])(
    'with Accept %s, answers it with an error (not `{}` or a bodiless 406) and leaves no subscription running',
    async (accept) => {
      const stack = await startStack({ env: { NODE_ENV: 'production', BATCH_LIMIT: '3', MAX_SUBSCRIPTIONS: '1', POLL_INTERVAL_MS: '30' } });
      try {
        const response = await fetch(`${stack.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept },
          body: JSON.stringify([{ query: WATCH, variables: { id: SEED_JOB_IDS.running } }, { query: '{ __typename }' }]),
        });
        const body = await response.text();
        const next = await openSse(stack.url, WATCH, { id: SEED_JOB_IDS.running });
        const first = await next.next();
        next.close();
        expect({ status: response.status, emptyResult: body === '' || body.includes('{},'), slotFree: !first?.errors }).toEqual({
          status: expect.any(Number),
          emptyResult: false,
          slotFree: true,
        });
      } finally {
        await stack.close();
      }
    },
  );
});

describe('attack findings: hostile request shapes over HTTP', () => {
  const logs = captureLogs();
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { NODE_ENV: 'production', LOG_LEVEL: 'debug' }, logs });
  });
  afterAll(() => stack.close());

  it.each([
    ['a number', 5],
    ['an object', { a: 1 }],
  ])('answers a query that is %s with BAD_USER_INPUT, not INTERNAL_SERVER_ERROR', async (_name, query) => {
    logs.clear();
    const response = await fetch(`${stack.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
      body: JSON.stringify({ query }),
    });
    const body = (await response.json()) as { errors: Array<{ extensions: { code: string } }> };
    expect(body.errors.map((e) => e.extensions.code)).toEqual(['BAD_USER_INPUT']);
    expect(logs.records().filter((record) => record.level === 'error')).toEqual([]);
  });

  it('logs the x-request-id it generated and answered with (debug log says "requestId":null)', async () => {
    logs.clear();
    const response = await fetch(`${stack.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    const id = response.headers.get('x-request-id');
    expect(id).toBeTruthy();
    expect(logs.records().filter((record) => record.requestId === id)).not.toEqual([]);
  });
  it('applies the token limit to a subscription before anything parses it whole (a plain-JSON Accept skips it)', async () => {
    // 49,000 tokens: parsed in full without the limit to decide it is a subscription (~127 ms of CPU per request,
    // ~14 times the cost of the same body as a query), then refused as "not a stream" instead of maxTokens.
    const response = await fetch(`${stack.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ query: `subscription { ${'a '.repeat(49_000)}}` }),
    });
    const body = (await response.json()) as { errors: Array<{ extensions: Record<string, unknown> }> };
    expect(body.errors.map((e) => e.extensions.limit)).toEqual(['maxTokens']);
  });
});

describe('attack findings: Apollo persisted queries over graphql-ws', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { NODE_ENV: 'production' } });
  });
  afterAll(() => stack.close());

  it('answers a hash-only operation with an error for its id, and the socket and its other operations go on', async () => {
    const query = '{ __typename }';
    const sha256Hash = createHash('sha256').update(query).digest('hex');
    // Stored over HTTP first, as Apollo's link does.
    await fetch(`${stack.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, extensions: { persistedQuery: { version: 1, sha256Hash } } }),
    });
    const ws = await wsSession(stack.url);
    ws.socket.send(
      JSON.stringify({ id: 'apq', type: 'subscribe', payload: { extensions: { persistedQuery: { version: 1, sha256Hash } } } }),
    );
    await ws.finished('apq');
    ws.close();
    expect(ws.closed).toBeUndefined();
    // The stored query runs, as over HTTP.
    expect(ws.messages.find((m) => m.id === 'apq' && m.type === 'next')?.payload).toEqual({ data: { __typename: 'Query' } });
  });

  it('checks the hash of a query sent with one, as over HTTP (a hash for a different query is refused)', async () => {
    const ws = await wsSession(stack.url);
    const wrongHash = createHash('sha256').update('{ somethingElse }').digest('hex');
    ws.socket.send(
      JSON.stringify({
        id: 'h',
        type: 'subscribe',
        payload: { query: '{ __typename }', extensions: { persistedQuery: { version: 1, sha256Hash: wrongHash } } },
      }),
    );
    await ws.finished('h');
    ws.close();
    const answer = ws.messages.find((m) => m.id === 'h' && m.type !== 'complete');
    expect(answer?.type).toBe('error');
    expect(answer?.payload?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('persisted queries are kept per caller (forward mode)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { NODE_ENV: 'production', AUTH_MODE: 'forward' } });
  });
  afterAll(() => stack.close());

  it("does not answer one caller's hash with another caller's query (no probing across credentials)", async () => {
    const query = '{ __typename }';
    const persistedQuery = { version: 1, sha256Hash: createHash('sha256').update(query).digest('hex') };
    const send = (key: string, body: Record<string, unknown>) =>
      fetch(`${stack.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ ...body, extensions: { persistedQuery } }),
      }).then((response) => response.json() as Promise<{ data?: unknown; errors?: Array<{ extensions: { code: string } }> }>);
    expect((await send('sk-tenant-a', { query })).data).toEqual({ __typename: 'Query' });
    expect((await send('sk-tenant-a', {})).data).toEqual({ __typename: 'Query' });
    expect((await send('sk-tenant-b', {})).errors?.map((e) => e.extensions.code)).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
  });
});

describe('subscription slots are shared fairly between credentials (forward mode)', () => {
  const other = { apiKey: 'sk-emulator-other', workspaceId: 'llm-other0001', userId: '2234567890123456' };
  const as = (apiKey: string) => ({ headers: { authorization: `Bearer ${apiKey}` } });
  let stack: Stack;
  beforeAll(async () => {
    // MAX_SUBSCRIPTIONS 4: one credential may hold a quarter of them, 1.
    stack = await startStack({
      env: { NODE_ENV: 'production', AUTH_MODE: 'forward', MAX_SUBSCRIPTIONS: '4', POLL_INTERVAL_MS: '50' },
      emulator: { accounts: [DEMO_ACCOUNT, other] },
    });
    stack.emulator.putRawJob(other.apiKey, { job_id: 'ft-other-running', status: 'RUNNING', model: 'qwen3-8b' });
  });
  afterAll(() => stack.close());

  it('refuses a credential past its share (maxSubscriptionsPerCredential) while another still gets a slot', async () => {
    // Both keys answered by DashScope before: each is a tenant with a share of its own (a key it has not answered yet
    // shares one share with every such key, made-up ones included).
    for (const key of [DEMO_ACCOUNT.apiKey, other.apiKey])
      await fetch(`${stack.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ query: '{ fineTuneJobs(pageSize: 1) { total } }' }),
      }).then((response) => response.json());
    const held = await openSse(stack.url, WATCH, { id: SEED_JOB_IDS.running }, as(DEMO_ACCOUNT.apiKey));
    try {
      expect((await held.next())?.errors).toBeUndefined();
      const again = await openSse(stack.url, WATCH, { id: SEED_JOB_IDS.running }, as(DEMO_ACCOUNT.apiKey));
      const refused = await again.next();
      again.close();
      expect(refused?.errors?.[0]?.extensions).toEqual({ code: 'RATE_LIMITED', retryable: true, limit: 'maxSubscriptionsPerCredential' });
      const theirs = await openSse(stack.url, WATCH, { id: 'ft-other-running' }, as(other.apiKey));
      const first = await theirs.next();
      theirs.close();
      expect(first?.errors).toBeUndefined();
    } finally {
      held.close();
    }
  });
});

describe('attack findings: graceful shutdown with a stream open on a keep-alive connection', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { NODE_ENV: 'production', POLL_INTERVAL_MS: '50' } });
  });
  afterAll(() => stack.close());

  it('ends as soon as the stream has ended, not at the end of the grace, and does not report it as forced', async () => {
    // fetch keeps its connection alive, as browsers and most HTTP clients do.
    const stream = await openSse(stack.url, WATCH, { id: SEED_JOB_IDS.running });
    await stream.next();
    const started = Date.now();
    const shutdown = stack.gateway.shutdown({ graceMs: 3_000, readyDelayMs: 0 });
    await stream.rest(); // the stream completes at once on shutdown
    const { forced } = await shutdown;
    expect({ forced, tookUnderASecond: Date.now() - started < 1_000 }).toEqual({ forced: false, tookUnderASecond: true });
  });
});

describe('attack findings: control characters in create input', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { NODE_ENV: 'production' } });
  });
  afterAll(() => stack.close());

  it.each([
    [
      'model',
      {
        model: 'qwen3-8b\r\nX-Injected: 1',
        trainingFileIds: ['file-ft-0001'],
        hyperParameters: { nEpochs: 1, batchSize: 8, maxLength: 2048 },
      },
    ],
    ['jobName', { model: 'qwen3-8b', trainingFileIds: ['file-ft-0001'], jobName: 'a\u0000b' }],
    ['modelName', { model: 'qwen3-8b', trainingFileIds: ['file-ft-0001'], modelName: 'x\u001b[31mred' }],
  ])('refuses a control character in %s with BAD_USER_INPUT and never calls upstream', async (_field, input) => {
    stack.emulator.resetStats();
    const response = await stack.gql(`mutation($input: CreateFineTuneJobInput!) { createFineTuneJob(input: $input) { id } }`, { input });
    expect(response.body.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
    expect(stack.upstreamCalls('create')).toBe(0);
  });
});

describe('attack findings: upstream failures in production', () => {
  const logs = captureLogs();
  let stack: Stack;
  const JOB = `query($id: ID!) { fineTuneJob(id: $id) { id status } }`;
  beforeAll(async () => {
    stack = await startStack({
      env: { NODE_ENV: 'production', LOG_LEVEL: 'info', UPSTREAM_RETRIES: '0', CACHE_ENABLED: 'false' },
      logs,
    });
  });
  afterAll(() => stack.close());

  it("does not pass an upstream 5xx's internal details (paths, internal URLs, traceback) to the client", async () => {
    stack.emulator.clearFaults();
    stack.emulator.injectFault({
      match: { route: 'get' },
      times: 1,
      fault: {
        kind: 'status',
        status: 500,
        code: 'InternalError',
        message:
          'Traceback (most recent call last):\n  File "/srv/dashscope/ft/handler.py", line 88\nupstream http://10.0.3.7:8080/internal/ft failed',
      },
    });
    const response = await stack.gql(JOB, { id: SEED_JOB_IDS.running });
    const message = response.body.errors?.[0]?.message ?? '';
    expect(response.body.errors?.[0]?.extensions?.code).toBe('UPSTREAM_ERROR');
    expect(message).not.toMatch(/Traceback|\/srv\/|10\.0\.3\.7|\n/);
  });

  it("logs the upstream 5xx's text for operators, with the request id the client got", async () => {
    stack.emulator.clearFaults();
    stack.emulator.injectFault({
      match: { route: 'get' },
      times: 1,
      fault: { kind: 'status', status: 503, code: 'InternalError', message: 'pool exhausted at 10.0.3.7' },
    });
    logs.clear();
    const response = await stack.gql(JOB, { id: SEED_JOB_IDS.running }, { 'x-request-id': 'trace-5xx-1' });
    expect(response.body.errors?.[0]?.message).not.toContain('10.0.3.7');
    const warnings = logs.records().filter((record) => record.level === 'warn');
    expect(warnings).toEqual([
      expect.objectContaining({
        upstreamMessage: 'pool exhausted at 10.0.3.7',
        requestId: 'trace-5xx-1',
        status: 503,
        request_id: expect.any(String),
      }),
    ]);
  });

  it.each(['truncated-json', 'not-json'] as const)('logs an UPSTREAM_BAD_RESPONSE (%s): the operator can see it', async (kind) => {
    stack.emulator.clearFaults();
    stack.emulator.injectFault({ match: { route: 'get' }, times: 1, fault: { kind } });
    logs.clear();
    const response = await stack.gql(JOB, { id: SEED_JOB_IDS.running });
    expect(response.body.errors?.[0]?.extensions?.code).toBe('UPSTREAM_BAD_RESPONSE');
    expect(logs.records().filter((record) => record.level === 'warn' || record.level === 'error')).not.toEqual([]);
  });
});

describe('attack findings: WebSocket sockets and the connection cap', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { NODE_ENV: 'production', HTTP_MAX_CONNECTIONS: '3' } });
  });
  afterAll(() => stack.close());

  it('keeps /health reachable when one client holds every connection slot with idle WebSockets', async () => {
    const sockets: WebSocket[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const socket = new WebSocket(`${stack.url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
        sockets.push(socket);
        await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      }
      // These sockets answer pings (ws does), so nothing ever times them out.
      const health = await fetch(`${stack.url}/health`, { signal: AbortSignal.timeout(2_000) }).then(
        (response) => response.status,
        (error: Error) => error.message,
      );
      expect(health).toBe(200);
    } finally {
      for (const socket of sockets) socket.terminate();
    }
  });

  it('closes a WebSocket past WS_MAX_CONNECTIONS (default: a quarter of HTTP_MAX_CONNECTIONS, here 1) with 1013', async () => {
    const open = () => {
      const socket = new WebSocket(`${stack.url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
      const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
      return { socket, closed, opened: new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject)) };
    };
    const first = open();
    await first.opened;
    const second = open();
    try {
      expect(await second.closed).toBe(1013);
    } finally {
      first.socket.terminate();
      second.socket.terminate();
    }
  });
});
