import type { GraphQLFormattedError } from 'graphql';
import { createClient, type Client, type FormattedExecutionResult as Formatted } from 'graphql-ws';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config.js';
import { SEED_JOB_IDS } from '../../src/emulator/index.js';
import { createGateway } from '../../src/gateway/index.js';
import { DashScopeClient } from '../../src/upstream/dashscope/index.js';
import { openSse } from '../support/sse.js';
import { captureLogs } from '../support/logs.js';
import { startStack, type Stack } from '../support/stack.js';

/*
 * GraphQL over WebSocket (graphql-ws) meets the same pipeline as HTTP: the real graphql-ws client, over a real socket,
 * against the real gateway and emulator.
 */

type Result = Formatted<Record<string, unknown>, unknown>;

const WATCH = `subscription($id: ID!) { fineTuneJobUpdated(id: $id) { id status } }`;
const CREATE = `mutation { createFineTuneJob(input: { model: "qwen3-8b", trainingFileIds: ["file-ft-demo"], hyperParameters: { nEpochs: 1, batchSize: 8, maxLength: 2048 } }) { id status } }`;

interface Outcome {
  results: Result[];
  /** The `error` message's errors (the operation failed as a whole). */
  errors?: readonly GraphQLFormattedError[];
  /** The socket closed under the operation, with this code. */
  closed?: number;
}

const wsUrl = (stack: Stack) => stack.url.replace('http', 'ws') + '/graphql';

function connect(stack: Stack, options: { connectionParams?: Record<string, unknown> } = {}): Client & { closes: number[] } {
  const closes: number[] = [];
  const client = createClient({
    url: wsUrl(stack),
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: false,
    onNonLazyError: () => {},
    ...options,
  });
  client.on('closed', (event) => closes.push((event as { code: number }).code));
  return Object.assign(client, { closes });
}

/** Runs one operation to its end: every `next`, then `complete`, `error` or the socket closing. */
function run(client: Client, query: string, variables?: Record<string, unknown>): Promise<Outcome> {
  return new Promise((resolve) => {
    const results: Result[] = [];
    client.subscribe(
      { query, variables },
      {
        next: (result) => void results.push(result),
        complete: () => resolve({ results }),
        error: (error: unknown) =>
          resolve(Array.isArray(error) ? { results, errors: error } : { results, closed: (error as { code?: number }).code }),
      },
    );
  });
}

/** A subscription left open: its events as they come, and a way to wait for one. */
function watch(client: Client, id: string) {
  const statuses: string[] = [];
  let waiter: (() => void) | undefined;
  let ended: Outcome | undefined;
  const done = new Promise<Outcome>((resolve) => {
    const results: Result[] = [];
    client.subscribe<{ fineTuneJobUpdated: { status: string } }>(
      { query: WATCH, variables: { id } },
      {
        next: (result) => {
          results.push(result);
          if (result.data) statuses.push(result.data.fineTuneJobUpdated.status);
          waiter?.();
        },
        complete: () => resolve((ended = { results })),
        error: (error: unknown) => resolve((ended = Array.isArray(error) ? { results, errors: error } : { results, closed: -1 })),
      },
    );
  });
  return {
    statuses,
    done,
    get ended() {
      return ended;
    },
    until: (status: string) =>
      new Promise<void>((resolve) => {
        const check = () => (statuses.includes(status) ? resolve() : (waiter = check));
        check();
      }),
  };
}

let jobCount = 0;
/** A RUNNING job of its own, so that tests can move it and see the event. */
function newJob(stack: Stack): string {
  const id = `ft-202611271000-${(0xa000 + jobCount++).toString(16)}`;
  stack.emulator.putRawJob(stack.emulator.demoApiKey, { job_id: id, status: 'RUNNING', model: 'qwen3-8b' });
  return id;
}

describe('graphql-ws in production posture', () => {
  let stack: Stack;
  const logs = captureLogs();
  const clients: Client[] = [];
  const open = (options?: Parameters<typeof connect>[1]) => {
    const client = connect(stack, options);
    clients.push(client);
    return client;
  };
  beforeAll(async () => {
    stack = await startStack({
      env: { NODE_ENV: 'production', LOG_LEVEL: 'warn', POLL_INTERVAL_MS: '20', MAX_BODY_BYTES: '20000', MAX_TOKENS: '500' },
      logs,
    });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map(async (client) => client.dispose()));
  });
  afterAll(() => stack.close());

  it('runs queries and mutations, and subscriptions to their end', async () => {
    const client = open();
    const query = await run(client, `query($id: ID!) { fineTuneJob(id: $id) { id status } }`, { id: SEED_JOB_IDS.contractExample });
    expect(query).toEqual({ results: [{ data: { fineTuneJob: { id: SEED_JOB_IDS.contractExample, status: 'SUCCEEDED' } } }] });

    const created = await run(client, CREATE);
    expect(created.errors).toBeUndefined();
    expect(created.results[0]?.errors).toBeUndefined();
    expect(created.results[0]?.data).toMatchObject({ createFineTuneJob: { status: 'PENDING' } });

    const id = newJob(stack);
    const subscription = watch(client, id);
    await subscription.until('RUNNING');
    stack.emulator.setJobStatus(stack.emulator.demoApiKey, id, 'CANCELED');
    expect((await subscription.done).errors).toBeUndefined();
    expect(subscription.statuses).toEqual(['RUNNING', 'CANCELED']);
    expect(client.closes).toEqual([]);
  });

  it('answers a syntax error, an over-limit operation and a validation error for their id only: the socket and its subscription go on', async () => {
    const client = open();
    const id = newJob(stack);
    const subscription = watch(client, id);
    await subscription.until('RUNNING');
    // The refused operations name another job: none of them may reach DashScope.
    const other = SEED_JOB_IDS.contractExample;
    stack.emulator.resetStats();

    const syntax = await run(client, `{ fineTuneJob(id: "${other}" { id } }`);
    expect(syntax.errors).toHaveLength(1);
    expect(syntax.errors?.[0]?.message).toMatch(/^Syntax Error/);
    expect(syntax.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', retryable: false });

    const tooManyTokens = await run(client, `{ ${'__typename '.repeat(600)} }`);
    expect(tooManyTokens.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', retryable: false, limit: 'maxTokens' });

    const invalid = await run(client, `{ fineTuneJob(id: "${other}") { statu } }`);
    expect(invalid.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', retryable: false });
    // No "Did you mean" in production: it would spell out the schema.
    expect(invalid.errors?.[0]?.message).toBe('Cannot query field "statu" on type "FineTuneJob".');

    const missingVariable = await run(client, `query($id: ID!) { fineTuneJob(id: $id) { id } }`);
    expect(missingVariable.results[0]?.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', retryable: false });

    expect(stack.emulator.stats().requests.filter((request) => request.jobId !== id)).toEqual([]);
    stack.emulator.setJobStatus(stack.emulator.demoApiKey, id, 'CANCELED');
    await subscription.until('CANCELED');
    expect(client.closes).toEqual([]);
  });

  it('refuses a non-string or broken connection parameter for the operation, never logging the key or a forged line', async () => {
    const error = vi.spyOn(console, 'error');
    const warn = vi.spyOn(console, 'warn');
    try {
      const client = open({
        connectionParams: { authorization: 'Bearer sk-wsleak-0123456789\r\nERROR forged line', apiKey: 'sk-wsleak-0123456789' },
      });
      const outcome = await run(client, '{ __typename }');
      expect(outcome.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', retryable: false });
      expect(outcome.errors?.[0]?.message).toBe('connectionParams.authorization must be a string that is a valid HTTP header value.');
      expect(client.closes).toEqual([]);
      const printed = [...error.mock.calls, ...warn.mock.calls].map((call) => call.map(String).join(' '));
      logs.records(); // every line JSON
      for (const line of [...logs.lines, ...printed]) {
        expect(line).not.toContain('sk-wsleak-0123456789');
        expect(line).not.toMatch(/[\r\n]ERROR forged/);
      }
    } finally {
      error.mockRestore();
      warn.mockRestore();
    }
  });

  it('closes with 1009 on a message over the body limit, and keeps serving', async () => {
    const socket = new WebSocket(wsUrl(stack), 'graphql-transport-ws');
    await new Promise((resolve) => socket.once('open', resolve));
    socket.send(JSON.stringify({ type: 'connection_init' }));
    await new Promise((resolve) => socket.once('message', resolve));
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    socket.send(
      JSON.stringify({ id: '1', type: 'subscribe', payload: { query: `{ __typename }`, variables: { pad: 'x'.repeat(30_000) } } }),
    );
    expect(await closed).toBe(1009);

    expect(await run(open(), '{ __typename }')).toEqual({ results: [{ data: { __typename: 'Query' } }] });
    expect((await stack.gql('{ __typename }')).body).toEqual({ data: { __typename: 'Query' } });
  });

  it('releases each operation: 2,000 in a row on one socket raise no MaxListenersExceededWarning', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const client = open();
      for (let i = 0; i < 2_000; i++) {
        const outcome = await run(client, '{ __typename }');
        expect(outcome.results[0]?.data).toEqual({ __typename: 'Query' });
      }
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((warning) => warning.name === 'MaxListenersExceededWarning')).toEqual([]);
      expect(client.closes).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

/**
 * An upstream client with bugs: for one job it throws a plain error carrying internal detail; for another it hands
 * back a status outside the schema's enum, which graphql-js reports as a GraphQLError without a code.
 */
class BrokenClient extends DashScopeClient {
  override async getJob(...args: Parameters<DashScopeClient['getJob']>): ReturnType<DashScopeClient['getJob']> {
    if (args[1] === SEED_JOB_IDS.contractExample) {
      throw new TypeError('Cannot read properties of undefined (reading "job_id") at /srv/gateway/internal.ts:42');
    }
    return { ...(await super.getJob(...args)), status: 'WEIRD_INTERNAL_STATE' } as never;
  }
}

describe('graphql-ws error masking', () => {
  it('masks an unexpected field error as over HTTP, and logs it through the gateway logger', async () => {
    const stack = await startStack();
    const logs = captureLogs();
    const config = loadConfig({
      NODE_ENV: 'production',
      LOG_LEVEL: 'error',
      DASHSCOPE_BASE_URL: stack.emulator.url,
      DASHSCOPE_API_KEY: 'sk-emulator-demo',
    });
    const gateway = createGateway({
      config,
      client: new BrokenClient({ ...config.upstream, baseUrl: stack.emulator.url }),
      logDestination: logs.destination,
    });
    const url = await gateway.listen(0, '127.0.0.1');
    const client = createClient({ url: url.replace('http', 'ws') + '/graphql', webSocketImpl: WebSocket, retryAttempts: 0 });
    try {
      const outcome = await run(client, `{ fineTuneJob(id: "${SEED_JOB_IDS.contractExample}") { id } }`);
      expect(outcome.results).toHaveLength(1);
      const [error] = outcome.results[0]!.errors!;
      expect(error?.message).toBe('Unexpected error.');
      expect(error?.extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR', retryable: false });
      expect(JSON.stringify(outcome)).not.toMatch(/internal\.ts|TypeError|originalError/);
      expect(logs.records()).toContainEqual(
        expect.objectContaining({ level: 'error', err: expect.objectContaining({ stack: expect.stringContaining('internal.ts') }) }),
      );

      // The same error over HTTP and over the socket.
      const query = `{ fineTuneJob(id: "${SEED_JOB_IDS.running}") { status } }`;
      const overWs = await run(client, query);
      expect(overWs.results[0]?.errors?.[0]).toMatchObject({
        message: 'Unexpected error.',
        path: ['fineTuneJob', 'status'],
        extensions: { code: 'INTERNAL_SERVER_ERROR', retryable: false },
      });
      const overHttp = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query }),
      });
      expect(overWs.results[0]).toEqual(await overHttp.json());
    } finally {
      await client.dispose();
      await gateway.close();
      await stack.close();
    }
  });
});

describe('caps on concurrent operations', () => {
  it('refuses an operation over maxOperationsPerSocket for its id only, and takes one again once another ended', async () => {
    const stack = await startStack({ env: { POLL_INTERVAL_MS: '20', WS_MAX_OPERATIONS_PER_SOCKET: '2' } });
    const client = connect(stack);
    try {
      const first = watch(client, newJob(stack));
      const secondId = newJob(stack);
      const second = watch(client, secondId);
      await Promise.all([first.until('RUNNING'), second.until('RUNNING')]);
      const refused = await run(client, '{ __typename }');
      expect(refused.errors?.[0]?.extensions).toEqual({ code: 'RATE_LIMITED', retryable: true, limit: 'maxOperationsPerSocket' });

      stack.emulator.setJobStatus(stack.emulator.demoApiKey, secondId, 'CANCELED');
      await second.done;
      expect(await run(client, '{ __typename }')).toEqual({ results: [{ data: { __typename: 'Query' } }] });
      expect(first.ended).toBeUndefined();
      expect(client.closes).toEqual([]);
    } finally {
      await client.dispose();
      await stack.close();
    }
  });

  it('refuses a subscription over maxSubscriptions on any transport (SSE too), and frees the slot when one ends', async () => {
    const stack = await startStack({ env: { POLL_INTERVAL_MS: '20', MAX_SUBSCRIPTIONS: '2' } });
    const client = connect(stack);
    try {
      const first = watch(client, newJob(stack));
      const secondId = newJob(stack);
      const second = watch(client, secondId);
      await Promise.all([first.until('RUNNING'), second.until('RUNNING')]);

      const overWs = await run(client, WATCH, { id: newJob(stack) });
      expect(overWs.results[0]?.errors?.[0]?.extensions).toEqual({ code: 'RATE_LIMITED', retryable: true, limit: 'maxSubscriptions' });
      const overSse = await (await openSse(stack.url, WATCH, { id: newJob(stack) })).rest();
      expect(overSse[0]?.errors?.[0]?.extensions).toEqual({ code: 'RATE_LIMITED', retryable: true, limit: 'maxSubscriptions' });

      stack.emulator.setJobStatus(stack.emulator.demoApiKey, secondId, 'CANCELED');
      await second.done;
      const sse = await openSse(stack.url, WATCH, { id: newJob(stack) });
      expect((await sse.next())?.data).toMatchObject({ fineTuneJobUpdated: { status: 'RUNNING' } });
      sse.close();
    } finally {
      await client.dispose();
      await stack.close();
    }
  });

  it('refuses a subscription that would start a poller over maxPollers, while one that shares a poller joins', async () => {
    const stack = await startStack({ env: { POLL_INTERVAL_MS: '20', MAX_POLLERS: '1' } });
    const client = connect(stack);
    try {
      const id = newJob(stack);
      const first = watch(client, id);
      await first.until('RUNNING');
      const other = await run(client, WATCH, { id: newJob(stack) });
      expect(other.results[0]?.errors?.[0]?.extensions).toEqual({ code: 'RATE_LIMITED', retryable: true, limit: 'maxPollers' });
      const shared = watch(client, id);
      await shared.until('RUNNING');
    } finally {
      await client.dispose();
      await stack.close();
    }
  });
});

describe('the WebSocket Origin check', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { CORS_ORIGINS: 'https://app.example.com,https://admin.example.com' } });
  });
  afterAll(() => stack.close());

  /** The upgrade's HTTP status: 101 when the socket opened. */
  const upgrade = (headers: Record<string, string>) =>
    new Promise<number | undefined>((resolve) => {
      const socket = new WebSocket(wsUrl(stack), 'graphql-transport-ws', { headers });
      socket.on('unexpected-response', (_request, response) => resolve(response.statusCode));
      socket.on('open', () => {
        resolve(101);
        socket.close();
      });
      socket.on('error', () => resolve(undefined));
    });

  it('admits a listed origin and a client that sends none', async () => {
    expect(await upgrade({ origin: 'https://admin.example.com' })).toBe(101);
    expect(await upgrade({})).toBe(101);
  });

  it('refuses an unlisted origin, Origin: null, and an origin that only matches the Host header (DNS rebinding)', async () => {
    expect(await upgrade({ origin: 'https://evil.example' })).toBe(401);
    expect(await upgrade({ origin: 'null' })).toBe(401);
    expect(await upgrade({ origin: 'http://rebound.example:8080', host: 'rebound.example:8080' })).toBe(401);
    expect(await upgrade({ origin: stack.url })).toBe(401);
  });
});

describe('graceful shutdown', () => {
  it('lets a WebSocket query in flight answer, ends a subscription with complete, then closes the socket', async () => {
    const stack = await startStack({ env: { POLL_INTERVAL_MS: '20' } });
    const client = connect(stack);
    try {
      const subscription = watch(client, newJob(stack));
      await subscription.until('RUNNING');
      const asked = SEED_JOB_IDS.running;
      stack.emulator.injectFault({ match: { route: 'get', jobId: asked }, times: 1, fault: { kind: 'delay', ms: 500 } });
      const inFlight = run(client, `query($id: ID!) { fineTuneJob(id: $id) { id status } }`, { id: asked });
      await vi.waitFor(() => expect(stack.emulator.stats().requests.some((request) => request.jobId === asked)).toBe(true));

      const shutdown = stack.gateway.shutdown({ readyDelayMs: 0, graceMs: 10_000 });
      expect(await inFlight).toEqual({ results: [{ data: { fineTuneJob: { id: SEED_JOB_IDS.running, status: 'RUNNING' } } }] });
      expect(await subscription.done).toEqual({ results: [expect.anything()] });
      await expect(shutdown).resolves.toEqual({ forced: false });
      await vi.waitFor(() => expect(client.closes).toEqual([1001]));
    } finally {
      await client.dispose();
      await stack.emulator.close();
    }
  });
});

describe('the operation deadline over WebSocket', () => {
  it('lives as long as the operation: a finished query or mutation leaves no deadline timer behind', async () => {
    // A deadline no other timer uses, far beyond the test: such a timer still pending was never cleared.
    const deadlineMs = 3_600_123;
    const stack = await startStack({ env: { OPERATION_DEADLINE_MS: String(deadlineMs) } });
    const client = connect(stack);
    const setTimer = vi.spyOn(globalThis, 'setTimeout');
    const clearTimer = vi.spyOn(globalThis, 'clearTimeout');
    try {
      const runs = 3;
      for (let i = 0; i < runs; i++) {
        const query = await run(client, `query($id: ID!) { fineTuneJob(id: $id) { id } }`, { id: SEED_JOB_IDS.contractExample });
        expect(query.results[0]?.errors).toBeUndefined();
        // A mutation that fails upstream (no such job) still runs to its end.
        const deleted = await run(client, `mutation { deleteFineTuneJob(id: "ft-202601010000-0000") { id } }`);
        expect(deleted.results[0]?.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
      }
      const deadlines = setTimer.mock.calls.flatMap(([, ms], i) => (ms === deadlineMs ? [setTimer.mock.results[i]?.value as unknown] : []));
      expect(deadlines).toHaveLength(2 * runs);
      const cleared = new Set(clearTimer.mock.calls.map(([timer]) => timer as unknown));
      expect(deadlines.filter((timer) => !cleared.has(timer))).toEqual([]);
    } finally {
      setTimer.mockRestore();
      clearTimer.mockRestore();
      await client.dispose();
      await stack.close();
    }
  });
});
