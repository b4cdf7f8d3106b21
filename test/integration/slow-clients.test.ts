import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openSse } from '../support/sse.js';
import { startStack, type Stack } from '../support/stack.js';

const REQUEST_TIMEOUT_MS = 1_000;

/** A raw TCP connection to the gateway, collecting what it answers until it closes. */
async function rawSocket(url: string): Promise<{ socket: Socket; received: () => string; closed: Promise<unknown> }> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  let data = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (data += chunk));
  socket.on('error', () => {}); // A reset is one of the expected endings.
  const closed = once(socket, 'close');
  await once(socket, 'connect');
  return { socket, received: () => data, closed };
}

/** Sends a keep-alive `GET /health` on the socket and resolves once the answer is in. */
async function health(connection: { socket: Socket; received: () => string }): Promise<string> {
  const before = connection.received().length;
  connection.socket.write(`GET /health HTTP/1.1\r\nHost: gateway\r\n\r\n`);
  await expect.poll(() => connection.received().length, { timeout: 5_000 }).toBeGreaterThan(before);
  return connection.received().slice(before);
}

describe('slow clients', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS), HTTP_HEADERS_TIMEOUT_MS: '500', POLL_INTERVAL_MS: '100' },
      emulator: { phaseDurationsMs: { pending: 500, queuing: 500, running: 1_200 } },
    });
  });
  afterAll(() => stack?.close());

  it('cuts a client that trickles its body a byte at a time after the request timeout (408)', async () => {
    const connection = await rawSocket(stack.url);
    const body = JSON.stringify({ query: '{ __typename }' });
    connection.socket.write(
      `POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    const started = Date.now();
    let sent = 0;
    const trickle = setInterval(() => {
      // Never the whole body: the client stays "slow" until the server gives up on it.
      if (sent < body.length - 1 && !connection.socket.destroyed) connection.socket.write(body[sent++]!);
    }, 50);
    try {
      await connection.closed;
    } finally {
      clearInterval(trickle);
    }
    const elapsed = Date.now() - started;
    expect(connection.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(elapsed).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 100);
    expect(elapsed).toBeLessThan(REQUEST_TIMEOUT_MS + 2_000);
  });

  it('cuts a client that never finishes its headers after the headers timeout', async () => {
    const connection = await rawSocket(stack.url);
    connection.socket.write(`GET /health HTTP/1.1\r\nHost: gateway\r\n`);
    const started = Date.now();
    await connection.closed;
    expect(connection.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(Date.now() - started).toBeLessThan(REQUEST_TIMEOUT_MS + 1_000);
  });

  it('keeps streaming an SSE subscription well past the request timeout', async () => {
    const { createFineTuneJob } = await stack.ok<{ createFineTuneJob: { id: string } }>(
      'mutation { createFineTuneJob(input: { model: "qwen3-8b", trainingFileIds: ["file-ft-demo"], hyperParameters: { nEpochs: 1, batchSize: 8, maxLength: 2048 } }) { id } }',
    );
    const started = Date.now();
    const stream = await openSse(stack.url, 'subscription($id: ID!) { fineTuneJobUpdated(id: $id) { status } }', {
      id: createFineTuneJob.id,
    });
    const statuses = (await stream.rest()).map((payload) => payload.data?.fineTuneJobUpdated?.status);
    expect(statuses.at(-1)).toBe('SUCCEEDED');
    expect(Date.now() - started).toBeGreaterThan(REQUEST_TIMEOUT_MS * 1.5);
  });
});

describe('connection cap', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { HTTP_MAX_CONNECTIONS: '2' } });
  });
  afterAll(() => stack?.close());

  it('closes connections over HTTP_MAX_CONNECTIONS at once and keeps serving the others', async () => {
    const first = await rawSocket(stack.url);
    const second = await rawSocket(stack.url);
    expect(await health(first)).toMatch(/^HTTP\/1\.1 200 /);
    expect(await health(second)).toMatch(/^HTTP\/1\.1 200 /);

    const third = await rawSocket(stack.url);
    third.socket.write(`GET /health HTTP/1.1\r\nHost: gateway\r\n\r\n`);
    await third.closed;
    expect(third.received()).toBe('');

    // The connections within the cap are still served.
    expect(await health(first)).toMatch(/^HTTP\/1\.1 200 /);
    second.socket.destroy();
    await second.closed;
    // Once one closes, a new connection is served again (the server counts the close asynchronously).
    await expect
      .poll(async () => {
        const next = await rawSocket(stack.url);
        next.socket.write(`GET /health HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n`);
        await next.closed;
        return next.received().slice(0, 15);
      })
      .toBe('HTTP/1.1 200 OK');
    first.socket.destroy();
  });
});

describe('HTTP server limits config', () => {
  it('has sane defaults and refuses a headers timeout longer than the request timeout', () => {
    expect(loadConfig({}).http).toEqual({
      requestTimeoutMs: 30_000,
      headersTimeoutMs: 10_000,
      keepAliveTimeoutMs: 5_000,
      maxConnections: 2_048,
    });
    expect(loadConfig({ HTTP_REQUEST_TIMEOUT_MS: '2000' }).http.headersTimeoutMs).toBe(2_000);
    expect(() => loadConfig({ HTTP_REQUEST_TIMEOUT_MS: '2000', HTTP_HEADERS_TIMEOUT_MS: '3000' })).toThrow(/HTTP_HEADERS_TIMEOUT_MS/);
  });
});
