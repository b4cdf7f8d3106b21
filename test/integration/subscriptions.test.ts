import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { DEMO_ACCOUNT } from '../../src/emulator/index.js';
import { SEED_JOB_IDS } from '../../src/emulator/seed.js';
import { openSse, type SseStream, type StreamPayload } from '../support/sse.js';
import { startStack, type Stack } from '../support/stack.js';

const WATCH = `subscription($id: ID!) { fineTuneJobUpdated(id: $id) { id status outputCount } }`;
const LOGS = `subscription($id: ID!, $from: Int! = 0) { fineTuneJobLogLines(id: $id, fromLine: $from) { jobId lineNumber text } }`;
const CREATE = `mutation($input: CreateFineTuneJobInput!) { createFineTuneJob(input: $input) { id status } }`;
const KEY = DEMO_ACCOUNT.apiKey;

/** A job of 10 checkpoints: in the ticking emulator below it changes at every read until SUCCEEDED. */
const TEN_CHECKPOINTS = {
  model: 'qwen3-8b',
  trainingFileIds: ['file-ft-0001'],
  hyperParameters: { nEpochs: 1, batchSize: 8, maxLength: 2048, saveStrategy: 'steps', saveSteps: 10, saveTotalLimit: 100 },
};

const statuses = (payloads: StreamPayload[]) => payloads.map((p) => p.data?.fineTuneJobUpdated?.status);
const getsOf = (stack: Stack, id: string) => stack.emulator.stats().requests.filter((r) => r.route === 'get' && r.jobId === id).length;

async function firstEvent(stream: SseStream): Promise<StreamPayload> {
  const payload = await stream.next();
  if (!payload) throw new Error('the stream ended before its first event');
  return payload;
}

describe('fineTuneJobUpdated over SSE, one poller per job', () => {
  // Every upstream call moves the emulator's clock one step on, so each poll finds the job changed: events count
  // poll ticks exactly, whatever the wall-clock timing. A job runs 10 steps after 1 step PENDING and 1 QUEUING.
  const STEP = 1_000;
  let t = Date.parse('2026-11-27T08:00:00Z');
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { POLL_INTERVAL_MS: '60' },
      // The jobs made here all finish; the RUNNING+SUCCEEDED quota (seeded jobs count too) is not what this file tests.
      emulator: { now: () => (t += STEP), phaseDurationsMs: { pending: STEP, queuing: STEP, running: 10 * STEP }, jobQuota: 1000 },
    });
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.emulator.resetStats());

  const createJob = async () => (await stack.ok(CREATE, { input: TEN_CHECKPOINTS })).createFineTuneJob.id as string;

  it('sends the current state at once, then each change, and completes after the terminal state', async () => {
    const id = await createJob();
    const stream = await openSse(stack.url, WATCH, { id });
    expect(stream.status).toBe(200);
    const payloads = await stream.rest();
    expect(payloads.every((p) => !p.errors)).toBe(true);
    expect(statuses(payloads)).toEqual(['QUEUING', ...Array<string>(10).fill('RUNNING'), 'SUCCEEDED']);
    expect(payloads.map((p) => p.data!.fineTuneJobUpdated.outputCount)).toEqual([0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // One upstream read per tick, none after the terminal state.
    expect(getsOf(stack, id)).toBe(12);
  });

  it('serves 10 concurrent subscribers with the upstream reads of one', async () => {
    const id = await createJob();
    const streams = await Promise.all(Array.from({ length: 10 }, () => openSse(stack.url, WATCH, { id })));
    const all = await Promise.all(streams.map((s) => s.rest()));
    for (const payloads of all) expect(statuses(payloads).at(-1)).toBe('SUCCEEDED');
    expect(Math.max(...all.map((p) => p.length))).toBe(12);
    expect(getsOf(stack, id)).toBe(12);
  });

  it('works over GET with Accept: text/event-stream too', async () => {
    const id = await createJob();
    const stream = await openSse(stack.url, WATCH, { id }, { method: 'GET' });
    expect(statuses(await stream.rest()).at(-1)).toBe('SUCCEEDED');
  });

  it('reads nested fields afresh for every event', async () => {
    const id = await createJob();
    const stream = await openSse(stack.url, `subscription($id: ID!) { fineTuneJobUpdated(id: $id) { status checkpoints { name } } }`, {
      id,
    });
    const last = (await stream.rest()).at(-1)!.data!.fineTuneJobUpdated;
    expect(last.status).toBe('SUCCEEDED');
    expect(last.checkpoints).toHaveLength(10);
  });

  it('stops polling once the last subscriber disconnects', async () => {
    const watched = SEED_JOB_IDS.running;
    const first = await openSse(stack.url, WATCH, { id: watched });
    const second = await openSse(stack.url, WATCH, { id: watched });
    await firstEvent(first);
    await firstEvent(second);
    first.close();
    // Another job's events tick at the same interval: they are the clock of this test.
    const ticker = await openSse(stack.url, WATCH, { id: await createJob() });
    await firstEvent(ticker);
    const whileWatched = getsOf(stack, watched);
    await firstEvent(ticker);
    await firstEvent(ticker);
    expect(getsOf(stack, watched)).toBeGreaterThan(whileWatched); // still one subscriber: still polled
    second.close();
    await firstEvent(ticker);
    const afterLast = getsOf(stack, watched);
    await firstEvent(ticker);
    await firstEvent(ticker);
    await firstEvent(ticker);
    expect(getsOf(stack, watched)).toBe(afterLast);
    ticker.close();
  });

  it('streams every log line once, in order, and completes when the job is terminal', async () => {
    const id = await createJob();
    const stream = await openSse(stack.url, LOGS, { id });
    const lines = (await stream.rest()).map((p) => p.data!.fineTuneJobLogLines);
    const { fineTuneJob } = await stack.ok(`query($id: ID!) { fineTuneJob(id: $id) { status logs(limit: 1000) { total lines } } }`, { id });
    expect(fineTuneJob.status).toBe('SUCCEEDED');
    expect(lines.map((l) => l.text)).toEqual(fineTuneJob.logs.lines);
    expect(lines.map((l) => l.lineNumber)).toEqual(fineTuneJob.logs.lines.map((_: string, i: number) => i));
    expect(lines.at(-1).text).toContain('##FT_COMPLETE##');
    expect(lines.every((l) => l.jobId === id)).toBe(true);
  });

  it('starts at fromLine, and gives a late subscriber the lines it missed', async () => {
    const id = await createJob();
    const early = await openSse(stack.url, LOGS, { id, from: 0 });
    const earlyLines = [await firstEvent(early), await firstEvent(early), await firstEvent(early)];
    const late = await openSse(stack.url, LOGS, { id, from: 0 });
    const skipping = await openSse(stack.url, LOGS, { id, from: 2 });
    const [earlyRest, lateAll, skipped] = await Promise.all([early.rest(), late.rest(), skipping.rest()]);
    const numbers = (payloads: StreamPayload[]) => payloads.map((p) => p.data!.fineTuneJobLogLines.lineNumber);
    const all = numbers([...earlyLines, ...earlyRest]);
    expect(all).toEqual(all.map((_, i) => i));
    expect(numbers(lateAll)).toEqual(all);
    expect(numbers(skipped)).toEqual(all.slice(2));
  });
});

describe('subscription failures and validation', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { POLL_INTERVAL_MS: '20', OPERATION_DEADLINE_MS: '200' } });
  });
  afterAll(() => stack.close());
  beforeEach(() => {
    stack.emulator.clearFaults();
    stack.emulator.resetStats();
  });

  it.each([
    ['an invalid id', WATCH, { id: 'a/b' }, 'id'],
    ['an invalid id for logs', LOGS, { id: '..' }, 'id'],
    ['a negative fromLine', LOGS, { id: SEED_JOB_IDS.running, from: -1 }, 'fromLine'],
  ])('refuses %s before anything goes upstream', async (_name, query, variables, argumentName) => {
    const payloads = await (await openSse(stack.url, query, variables)).rest();
    expect(payloads).toHaveLength(1);
    expect(payloads[0]!.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName });
    expect(stack.upstreamCalls()).toBe(0);
  });

  it('keeps the subscription alive through transient upstream errors', async () => {
    const id = 'ft-202611270800-0a0a';
    stack.emulator.putRawJob(KEY, { job_id: id, status: 'RUNNING', model: 'qwen3-8b' });
    const stream = await openSse(stack.url, WATCH, { id });
    expect(statuses([await firstEvent(stream)])).toEqual(['RUNNING']);
    const before = getsOf(stack, id);
    stack.emulator.injectFault({ match: { route: 'get', jobId: id }, times: 3, fault: { kind: 'status', status: 503 } });
    await vi.waitFor(() => expect(getsOf(stack, id)).toBeGreaterThanOrEqual(before + 4), { timeout: 5_000, interval: 10 });
    stack.emulator.setJobStatus(KEY, id, 'SUCCEEDED');
    const rest = await stream.rest();
    expect(rest.every((p) => !p.errors)).toBe(true);
    expect(statuses(rest)).toEqual(['SUCCEEDED']);
  });

  it('reads nested fields of events long after the operation deadline', async () => {
    const id = 'ft-202611270800-0f0f';
    stack.emulator.putRawJob(KEY, { job_id: id, status: 'RUNNING', model: 'qwen3-8b' });
    const stream = await openSse(stack.url, `subscription($id: ID!) { fineTuneJobUpdated(id: $id) { status checkpoints { name } } }`, {
      id,
    });
    await firstEvent(stream);
    // 20 polls of 20 ms: well past the 200 ms deadline of a query.
    await vi.waitFor(() => expect(getsOf(stack, id)).toBeGreaterThan(20), { timeout: 5_000, interval: 20 });
    stack.emulator.setJobStatus(KEY, id, 'SUCCEEDED');
    expect(await stream.rest()).toEqual([{ data: { fineTuneJobUpdated: { status: 'SUCCEEDED', checkpoints: [] } } }]);
  });

  it('ends the stream with a NOT_FOUND error when the job disappears', async () => {
    const id = 'ft-202611270800-0b0b';
    stack.emulator.putRawJob(KEY, { job_id: id, status: 'RUNNING', model: 'qwen3-8b' });
    const stream = await openSse(stack.url, WATCH, { id });
    await firstEvent(stream);
    stack.emulator.injectFault({
      match: { route: 'get', jobId: id },
      fault: { kind: 'status', status: 404, code: 'NotFound', message: 'Not Found!' },
    });
    const rest = await stream.rest();
    expect(rest).toHaveLength(1);
    expect(rest[0]!.errors?.[0]).toMatchObject({ path: ['fineTuneJobUpdated'], extensions: { code: 'NOT_FOUND' } });
  });

  it('ends the stream with NOT_FOUND for a job that does not exist', async () => {
    for (const query of [WATCH, LOGS]) {
      const payloads = await (await openSse(stack.url, query, { id: 'ft-209901010000-ffff' })).rest();
      expect(payloads).toHaveLength(1);
      expect(payloads[0]!.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND' });
    }
  });

  it('completes at once for a job already finished', async () => {
    const payloads = await (await openSse(stack.url, WATCH, { id: SEED_JOB_IDS.contractExample })).rest();
    expect(statuses(payloads)).toEqual(['SUCCEEDED']);
    expect(stack.upstreamCalls('get')).toBe(1);
  });
});

describe('subscriptions in forward mode, over SSE and graphql-ws', () => {
  const A = { apiKey: 'sk-forward-team-a', workspaceId: 'llm-teama001', userId: '1000000000000001' };
  const B = { apiKey: 'sk-forward-team-b', workspaceId: 'llm-teamb001', userId: '1000000000000002' };
  const SHARED = 'ft-202611270800-0c0c';
  const ONLY_A = 'ft-202611270800-0d0d';
  const as = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { AUTH_MODE: 'forward', POLL_INTERVAL_MS: '20' }, emulator: { accounts: [A, B] } });
    // The same job id in both accounts, in different states: a poller shared across keys would show one to the other.
    stack.emulator.putRawJob(A.apiKey, { job_id: SHARED, status: 'RUNNING', model: 'qwen3-8b' });
    stack.emulator.putRawJob(B.apiKey, { job_id: SHARED, status: 'PENDING', model: 'qwen3-8b' });
    stack.emulator.putRawJob(A.apiKey, { job_id: ONLY_A, status: 'RUNNING', model: 'qwen3-8b' });
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.emulator.resetStats());

  it('gives each subscriber what its own key sees', async () => {
    const a = await openSse(stack.url, WATCH, { id: SHARED }, as(A.apiKey));
    expect(statuses([await firstEvent(a)])).toEqual(['RUNNING']);
    const b = await openSse(stack.url, WATCH, { id: SHARED }, as(B.apiKey));
    expect(statuses([await firstEvent(b)])).toEqual(['PENDING']);
    const stranger = await (await openSse(stack.url, WATCH, { id: ONLY_A }, as(B.apiKey))).rest();
    expect(stranger[0]!.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND' });
    a.close();
    b.close();
  });

  it('refuses a subscriber without a key, sending nothing upstream', async () => {
    const payloads = await (await openSse(stack.url, WATCH, { id: ONLY_A })).rest();
    expect(payloads[0]!.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(getsOf(stack, ONLY_A)).toBe(0);
  });

  it('serves graphql-ws, with the key in connectionParams', async () => {
    const id = 'ft-202611270800-0e0e';
    stack.emulator.putRawJob(A.apiKey, { job_id: id, status: 'RUNNING', model: 'qwen3-8b' });
    const client = createClient({
      url: stack.url.replace('http', 'ws') + '/graphql',
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${A.apiKey}` },
      retryAttempts: 0,
    });
    try {
      const events = client.iterate<{ fineTuneJobUpdated: { status: string } }>({ query: WATCH, variables: { id } });
      const first = await events.next();
      expect(first.value?.data?.fineTuneJobUpdated.status).toBe('RUNNING');
      stack.emulator.setJobStatus(A.apiKey, id, 'CANCELED');
      const seen: string[] = [];
      for await (const event of events) seen.push(event.data!.fineTuneJobUpdated.status);
      expect(seen).toEqual(['CANCELED']);

      const without = createClient({ url: stack.url.replace('http', 'ws') + '/graphql', webSocketImpl: WebSocket, retryAttempts: 0 });
      const unauthenticated = await without.iterate({ query: WATCH, variables: { id } }).next();
      expect(unauthenticated.value?.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
      await without.dispose();
    } finally {
      await client.dispose();
    }
  });

  it('refuses a WebSocket opened by a page of another origin', async () => {
    const socket = new WebSocket(stack.url.replace('http', 'ws') + '/graphql', 'graphql-transport-ws', {
      headers: { origin: 'https://evil.example' },
    });
    const status = await new Promise<number | undefined>((resolve) => {
      socket.on('unexpected-response', (_req, res) => resolve(res.statusCode));
      socket.on('open', () => resolve(101));
      socket.on('error', () => resolve(undefined));
    });
    expect(status).toBe(401);
  });
});

describe('closing the gateway', () => {
  it('ends open streams', async () => {
    const stack = await startStack({ env: { POLL_INTERVAL_MS: '20' } });
    try {
      const stream = await openSse(stack.url, WATCH, { id: SEED_JOB_IDS.running });
      await firstEvent(stream);
      const ended = stream.rest();
      await stack.gateway.close();
      expect(await ended).toEqual([]);
    } finally {
      await stack.emulator.close();
    }
  });
});
