import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createClient } from 'graphql-ws';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { SEED_JOB_IDS } from '../../src/emulator/seed.js';
import { startStack } from '../support/stack.js';

/*
 * Graceful shutdown of the real process: `src/main.ts` run by tsx as a child, against an emulator in this process.
 * Every step is awaited on an event (a log line, the emulator's in-flight count, the exit), never on a sleep.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const QUERY = `query($id: ID!) { fineTuneJob(id: $id) { id status } }`;

interface Gateway {
  child: ChildProcess;
  url: string;
  port: number;
  /** Resolves once stdout has printed a line matching `pattern`. */
  logged: (pattern: RegExp) => Promise<string>;
  exited: Promise<number | null>;
}

let emulator: Emulator;
let gateway: Gateway | undefined;
beforeEach(async () => {
  emulator = await startEmulator();
});
afterEach(async () => {
  if (gateway && gateway.child.exitCode === null) gateway.child.kill('SIGKILL');
  gateway = undefined;
  await emulator.close();
});

async function startGateway(env: Record<string, string>): Promise<Gateway> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: '0',
      DASHSCOPE_BASE_URL: emulator.url,
      DASHSCOPE_API_KEY: emulator.demoApiKey,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  const check = () => {
    for (const waiter of [...waiters]) {
      const line = output.split('\n').find((l) => waiter.pattern.test(l));
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  };
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    check();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const logged = (pattern: RegExp) =>
    Promise.race([
      new Promise<string>((resolve) => {
        waiters.push({ pattern, resolve });
        check();
      }),
      exited.then((code) => {
        throw new Error(`the gateway exited (${code}) before logging ${pattern}; its output:\n${output}`);
      }),
    ]);
  const ready = await logged(/finetune-gateway ready/);
  const url = /GraphQL at (http:\/\/\S+)\/graphql/.exec(ready)![1]!.replace('localhost', '127.0.0.1');
  gateway = { child, url, port: Number(new URL(url).port), logged, exited };
  return gateway;
}

function query(url: string, id: string) {
  return fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: QUERY, variables: { id } }),
  });
}

/** Whether a new TCP connection to the port is accepted. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('on SIGTERM', () => {
  it('turns /ready 503 at once, refuses new connections, lets the in-flight operation finish, and exits 0', async () => {
    const { child, url, port, logged, exited } = await startGateway({ SHUTDOWN_READY_DELAY_MS: '1000', SHUTDOWN_GRACE_MS: '10000' });
    expect((await fetch(`${url}/ready`)).status).toBe(200);

    emulator.injectFault({ match: { route: 'get' }, times: 1, fault: { kind: 'delay', ms: 2_500 } });
    const inFlight = query(url, SEED_JOB_IDS.running);
    await vi.waitFor(() => expect(emulator.stats().inFlight).toBe(1));

    child.kill('SIGTERM');
    await logged(/shutdown: not ready/);
    const ready = await fetch(`${url}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ ready: false });

    await logged(/shutdown: listener closed/);
    expect(await accepts(port)).toBe(false);

    const response = await inFlight;
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ data: { fineTuneJob: { id: SEED_JOB_IDS.running, status: 'RUNNING' } } });
    await logged(/shutdown: in-flight operations finished/);
    expect(await exited).toBe(0);
  });

  it('lets a query in flight on a WebSocket answer too, and exits 0', async () => {
    const { child, url, logged, exited } = await startGateway({ SHUTDOWN_GRACE_MS: '10000' });
    const client = createClient({ url: url.replace('http', 'ws') + '/graphql', webSocketImpl: WebSocket, retryAttempts: 0 });
    try {
      emulator.injectFault({ match: { route: 'get' }, times: 1, fault: { kind: 'delay', ms: 1_000 } });
      const inFlight = client.iterate({ query: QUERY, variables: { id: SEED_JOB_IDS.running } }).next();
      await vi.waitFor(() => expect(emulator.stats().inFlight).toBe(1));

      child.kill('SIGTERM');
      expect((await inFlight).value).toEqual({ data: { fineTuneJob: { id: SEED_JOB_IDS.running, status: 'RUNNING' } } });
      await logged(/shutdown: in-flight operations finished/);
      expect(await exited).toBe(0);
    } finally {
      await client.dispose();
    }
  });

  it('after the grace period cuts off what is still in flight with an answer (retryable), closes the rest, and still exits 0', async () => {
    const { child, url, logged, exited } = await startGateway({ SHUTDOWN_GRACE_MS: '200' });
    emulator.injectFault({ match: { route: 'get' }, fault: { kind: 'hang' } });
    // Once the grace is over, the read is cut off like at its deadline: the client hears that it may retry, rather
    // than losing its connection with no answer.
    const stuck = query(url, SEED_JOB_IDS.running).then(
      async (response) => (await response.json()) as { errors?: Array<{ message: string; extensions?: Record<string, unknown> }> },
      () => 'connection closed',
    );
    await vi.waitFor(() => expect(emulator.stats().inFlight).toBe(1));

    child.kill('SIGTERM');
    await logged(/shutdown: grace period over/);
    expect(await stuck).toMatchObject({ errors: [{ extensions: { code: 'UPSTREAM_TIMEOUT', retryable: true } }] });
    expect(await exited).toBe(0);
  });
});

describe('on SIGTERM with an upstream request that hangs', () => {
  it('destroys the upstream pool after the grace period: exits within the grace plus a small margin', async () => {
    const graceMs = 300;
    // Upstream timeouts far beyond the test: closing the pool politely would wait for them.
    const { child, url, logged, exited } = await startGateway({
      SHUTDOWN_GRACE_MS: String(graceMs),
      UPSTREAM_HEADERS_TIMEOUT_MS: '60000',
      UPSTREAM_BODY_TIMEOUT_MS: '60000',
    });
    // A create is not tied to its request: it would go on after the client's connection is closed.
    emulator.injectFault({ match: { route: 'create' }, fault: { kind: 'hang' } });
    const stuck = fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query: `mutation($input: CreateFineTuneJobInput!) { createFineTuneJob(input: $input) { id } }`,
        variables: {
          input: { model: 'qwen3-8b', trainingFileIds: ['file-ft-0001'], hyperParameters: { nEpochs: 1, batchSize: 8, maxLength: 2048 } },
        },
      }),
    }).catch(() => 'connection closed');
    await vi.waitFor(() => expect(emulator.stats().inFlight).toBe(1));

    const signalled = Date.now();
    child.kill('SIGTERM');
    await logged(/shutdown: grace period over/);
    expect(await exited).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(graceMs + 2_500);
    await stuck;
    // The gateway's end closed the hung upstream connection too.
    await vi.waitFor(() => expect(emulator.stats().inFlight).toBe(0));
  });
});

describe('gateway.shutdown()', () => {
  it('gives an open SSE subscription a clean end (a complete event), so that the drain need not force it', async () => {
    const stack = await startStack();
    try {
      const response = await fetch(`${stack.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify({
          query: `subscription($id: ID!) { fineTuneJobUpdated(id: $id) { id status } }`,
          variables: { id: SEED_JOB_IDS.running },
        }),
      });
      expect(response.status).toBe(200);
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      let received = '';
      while (!received.includes('event: next')) received += (await reader.read()).value ?? '';

      const shutdown = stack.gateway.shutdown({ readyDelayMs: 0, graceMs: 10_000 });
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) received += chunk.value;
      expect(received).toContain('event: complete');
      await expect(shutdown).resolves.toEqual({ forced: false });
    } finally {
      await stack.emulator.close();
    }
  });
});
