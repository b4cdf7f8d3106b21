import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Fault } from '../../src/emulator/index.js';
import { SEED_JOB_IDS } from '../../src/emulator/seed.js';
import { DashScopeClient } from '../../src/upstream/dashscope/index.js';
import { captureLogs } from '../support/logs.js';
import { startStack, type Stack } from '../support/stack.js';

/*
 * Upstream faults against the real gateway and the real emulator over HTTP, with the retry policy on. Timeouts are
 * configured short so that every fault ends quickly; the tests assert what the client gets and how many calls the
 * upstream saw, never how long it took. The job read is a RUNNING one, which no cache keeps.
 */

const QUERY = `query($id: ID!) { fineTuneJob(id: $id) { id status } }`;
const ID = SEED_JOB_IDS.running;
const FAST = { UPSTREAM_RETRY_BASE_MS: '1', UPSTREAM_HEADERS_TIMEOUT_MS: '300', UPSTREAM_BODY_TIMEOUT_MS: '300' };

async function firstError(stack: Stack, id: string = ID) {
  const { status, body } = await stack.gql(QUERY, { id });
  expect(status).toBe(200);
  expect(body.data).toEqual({ fineTuneJob: null });
  expect(body.errors).toHaveLength(1);
  return body.errors![0]!;
}

async function expectHealthy(stack: Stack) {
  stack.emulator.clearFaults();
  expect((await fetch(`${stack.url}/health`)).status).toBe(200);
  await expect(stack.ok(QUERY, { id: ID })).resolves.toMatchObject({ fineTuneJob: { id: ID, status: 'RUNNING' } });
}

describe('faults with the retry policy on', () => {
  let stack: Stack;
  beforeAll(async () => {
    // A retry budget and a breaker that never run out here: they have their own tests below.
    stack = await startStack({ env: { ...FAST, UPSTREAM_RETRY_BUDGET_MIN: '1000', UPSTREAM_BREAKER_FAILURES: '1000' } });
  });
  afterAll(() => stack.close());
  beforeEach(() => {
    stack.emulator.clearFaults();
    stack.emulator.resetStats();
  });

  it('a 503 once, then OK: the read succeeds, after 2 upstream calls', async () => {
    stack.emulator.injectFault({ match: { route: 'get' }, times: 1, fault: { kind: 'status', status: 503 } });
    await expect(stack.ok(QUERY, { id: ID })).resolves.toMatchObject({ fineTuneJob: { status: 'RUNNING' } });
    expect(stack.upstreamCalls('get')).toBe(2);
  });

  it('a 503 with Retry-After within the cap is waited for, then retried', async () => {
    stack.emulator.injectFault({ match: { route: 'get' }, times: 1, fault: { kind: 'status', status: 503, retryAfter: '1' } });
    await expect(stack.ok(QUERY, { id: ID })).resolves.toMatchObject({ fineTuneJob: { status: 'RUNNING' } });
    expect(stack.upstreamCalls('get')).toBe(2);
  });

  // Each fault stays for every attempt; `calls` is what the upstream saw: 3 when retried (1 + UPSTREAM_RETRIES).
  it.each<[string, Fault, Record<string, unknown>, number]>([
    ['500', { kind: 'status', status: 500 }, { code: 'UPSTREAM_ERROR', retryable: true }, 3],
    ['503', { kind: 'status', status: 503 }, { code: 'UPSTREAM_ERROR', retryable: true }, 3],
    [
      '503 with a Retry-After beyond the cap',
      { kind: 'status', status: 503, retryAfter: '5' },
      { code: 'UPSTREAM_ERROR', retryable: true, retryAfterSeconds: 5 },
      1,
    ],
    [
      '429 with a long Retry-After',
      { kind: 'status', status: 429, code: 'Throttling', retryAfter: '30' },
      { code: 'RATE_LIMITED', retryable: true, retryAfterSeconds: 30 },
      1,
    ],
    ['429 without Retry-After', { kind: 'status', status: 429, code: 'Throttling' }, { code: 'RATE_LIMITED', retryable: true }, 3],
    ['429 about billing', { kind: 'status', status: 429, code: 'PrepaidBillOverdue' }, { code: 'RATE_LIMITED', retryable: false }, 1],
    ['an HTML error page (502)', { kind: 'html', status: 502 }, { code: 'UPSTREAM_ERROR', retryable: true }, 3],
    ['a reset connection', { kind: 'reset' }, { code: 'UPSTREAM_UNAVAILABLE', retryable: true }, 3],
    ['a hang', { kind: 'hang' }, { code: 'UPSTREAM_TIMEOUT', retryable: true }, 1],
    ['a slow body', { kind: 'slow-body', ms: 5_000 }, { code: 'UPSTREAM_TIMEOUT', retryable: true }, 1],
    ['truncated JSON', { kind: 'truncated-json' }, { code: 'UPSTREAM_BAD_RESPONSE', retryable: false }, 1],
    ['404', { kind: 'status', status: 404, code: 'NotFound' }, { code: 'NOT_FOUND', retryable: false }, 1],
    ['400', { kind: 'status', status: 400, code: 'InvalidParameter' }, { code: 'BAD_USER_INPUT', retryable: false }, 1],
  ])('%s: its code, the upstream calls it cost, and a healthy gateway after', async (_name, fault, extensions, calls) => {
    stack.emulator.injectFault({ match: { route: 'get' }, fault });
    const error = await firstError(stack);
    expect(error.extensions).toMatchObject(extensions);
    if (!('retryAfterSeconds' in extensions)) expect(error.extensions).not.toHaveProperty('retryAfterSeconds');
    expect(stack.upstreamCalls('get')).toBe(calls);
    await expectHealthy(stack);
  });

  it('mutations are never retried: POST and DELETE reach the upstream once, whatever the failure', async () => {
    const client = new DashScopeClient({
      baseUrl: stack.emulator.url,
      timeZoneOffsetMinutes: 480,
      connectTimeoutMs: 1_000,
      headersTimeoutMs: 1_000,
      bodyTimeoutMs: 1_000,
      connections: 4,
      resilience: { retries: 2, retryBaseMs: 1, breakerFailures: 1_000 },
    });
    const credential = { apiKey: stack.emulator.demoApiKey };
    try {
      for (const fault of [{ kind: 'status', status: 503 }, { kind: 'reset' }] as const) {
        stack.emulator.clearFaults();
        stack.emulator.resetStats();
        stack.emulator.injectFault({ fault });
        await expect(client.cancelJob(credential, ID)).rejects.toThrow();
        await expect(client.deleteJob(credential, ID)).rejects.toThrow();
        expect(stack.upstreamCalls('cancel')).toBe(1);
        expect(stack.upstreamCalls('delete')).toBe(1);
        // The same fault on a read is retried: the difference is the method, not the fault.
        await expect(client.getJob(credential, ID)).rejects.toThrow();
        expect(stack.upstreamCalls('get')).toBe(3);
      }
    } finally {
      await client.close();
    }
  });
});

describe('retry budget', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { ...FAST, UPSTREAM_RETRY_BUDGET_RATIO: '0.1', UPSTREAM_RETRY_BUDGET_MIN: '1', UPSTREAM_BREAKER_FAILURES: '1000' },
    });
  });
  afterAll(() => stack.close());

  it('under a sustained outage the upstream sees at most requests × 1.1 (+ the reserve of 1) calls, not × 3', async () => {
    stack.emulator.injectFault({ match: { route: 'get' }, fault: { kind: 'status', status: 503 } });
    const requests = 30;
    for (let i = 0; i < requests; i++) expect((await firstError(stack)).extensions?.code).toBe('UPSTREAM_ERROR');
    const calls = stack.upstreamCalls('get');
    expect(calls).toBeGreaterThan(requests); // retries did happen
    expect(calls).toBeLessThanOrEqual(requests * 1.1 + 1);
    await expectHealthy(stack);
  });
});

describe('circuit breaker', () => {
  const OUTAGE = { match: { route: 'get' }, fault: { kind: 'status', status: 503 } } as const;

  it('after sustained failure it opens: calls fail at once with UPSTREAM_UNAVAILABLE and reach no upstream', async () => {
    const stack = await startStack({
      env: { ...FAST, UPSTREAM_RETRIES: '0', UPSTREAM_BREAKER_FAILURES: '3', UPSTREAM_BREAKER_OPEN_MS: '60000' },
    });
    try {
      stack.emulator.injectFault(OUTAGE);
      for (let i = 0; i < 3; i++) expect((await firstError(stack)).extensions?.code).toBe('UPSTREAM_ERROR');
      expect(stack.upstreamCalls()).toBe(3);
      stack.emulator.clearFaults(); // the upstream has recovered, but the breaker does not know yet
      for (let i = 0; i < 5; i++) {
        const error = await firstError(stack);
        expect(error.extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', retryable: true, retryAfterSeconds: 60 });
      }
      expect(stack.upstreamCalls()).toBe(3);
    } finally {
      await stack.close();
    }
  });

  it('after the open interval one probe goes upstream, and its success closes the breaker', async () => {
    const stack = await startStack({
      env: { ...FAST, UPSTREAM_RETRIES: '0', UPSTREAM_BREAKER_FAILURES: '3', UPSTREAM_BREAKER_OPEN_MS: '200' },
    });
    try {
      stack.emulator.injectFault(OUTAGE);
      for (let i = 0; i < 3; i++) await firstError(stack);
      stack.emulator.clearFaults();
      stack.emulator.resetStats();
      // Until the interval has passed every read is refused locally; the first one after it is the probe.
      await vi.waitFor(() => stack.ok(QUERY, { id: ID }), { timeout: 5_000, interval: 50 });
      expect(stack.upstreamCalls()).toBe(1);
      await stack.ok(QUERY, { id: ID });
      expect(stack.upstreamCalls()).toBe(2);
    } finally {
      await stack.close();
    }
  });
});

describe('bulkhead', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { ...FAST, UPSTREAM_RETRIES: '0', UPSTREAM_MAX_CONCURRENT: '2', UPSTREAM_BREAKER_FAILURES: '1000' } });
  });
  afterAll(() => stack.close());

  it('with the upstream hanging, no more than UPSTREAM_MAX_CONCURRENT requests are ever in flight to it', async () => {
    stack.emulator.injectFault({ match: { route: 'get' }, fault: { kind: 'hang' } });
    // Distinct ids, so that no two operations share one upstream read.
    const operations = Array.from({ length: 5 }, (_, i) => firstError(stack, `ft-bulkhead-${i}`));
    const errors = await Promise.all(operations);
    expect(errors.map((e) => e.extensions?.code)).toEqual(Array(5).fill('UPSTREAM_TIMEOUT'));
    expect(stack.upstreamCalls('get')).toBe(5);
    expect(stack.emulator.stats().maxInFlight).toBe(2);
    await expectHealthy(stack);
  });
});

describe('operation deadline and client disconnects', () => {
  it('a hanging upstream ends at the operation deadline with UPSTREAM_TIMEOUT, its requests aborted', async () => {
    const stack = await startStack({ env: { OPERATION_DEADLINE_MS: '300', UPSTREAM_HEADERS_TIMEOUT_MS: '60000' } });
    try {
      stack.emulator.injectFault({ match: { route: 'get' }, fault: { kind: 'hang' } });
      const { body } = await stack.gql(`query($ids: [ID!]!) { fineTuneJobsByIds(ids: $ids) { id } }`, {
        ids: [SEED_JOB_IDS.running, SEED_JOB_IDS.pending, SEED_JOB_IDS.queuing],
      });
      expect(body.errors?.map((e) => [e.path, e.extensions?.code])).toEqual([
        [['fineTuneJobsByIds', 0], 'UPSTREAM_TIMEOUT'],
        [['fineTuneJobsByIds', 1], 'UPSTREAM_TIMEOUT'],
        [['fineTuneJobsByIds', 2], 'UPSTREAM_TIMEOUT'],
      ]);
      await vi.waitFor(() => expect(stack.emulator.stats().inFlight).toBe(0));
      await expectHealthy(stack);
    } finally {
      await stack.close();
    }
  });

  describe('a client that goes away', () => {
    let stack: Stack;
    beforeAll(async () => {
      stack = await startStack({ env: { OPERATION_DEADLINE_MS: '60000', UPSTREAM_HEADERS_TIMEOUT_MS: '60000' } });
    });
    afterAll(() => stack.close());
    afterEach(() => stack.emulator.clearFaults());

    it('aborts its in-flight upstream requests: the upstream sees the connection closed', async () => {
      stack.emulator.injectFault({ match: { route: 'get' }, fault: { kind: 'hang' } });
      const client = new AbortController();
      const request = fetch(`${stack.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: QUERY, variables: { id: ID } }),
        signal: client.signal,
      });
      await vi.waitFor(() => expect(stack.emulator.stats().inFlight).toBe(1));
      client.abort();
      await expect(request).rejects.toThrow();
      // Without the abort reaching the upstream call, the hang would hold the connection for 60 s.
      await vi.waitFor(() => expect(stack.emulator.stats().inFlight).toBe(0), { timeout: 5_000 });
      await expectHealthy(stack);
    });
  });
});

describe('what operators see in the log', () => {
  let stack: Stack;
  const logs = captureLogs();
  beforeAll(async () => {
    stack = await startStack({
      // A short open interval: the probe that closes the breaker goes out soon after the upstream recovers.
      env: { ...FAST, UPSTREAM_BREAKER_FAILURES: '3', UPSTREAM_BREAKER_OPEN_MS: '200', LOG_LEVEL: 'warn' },
      logs,
    });
  });
  afterAll(() => stack.close());

  it('a warning per upstream fault with DashScope’s request id, and the breaker opening and closing', async () => {
    stack.emulator.injectFault({ match: { route: 'get' }, times: 1, fault: { kind: 'status', status: 503, code: 'ServiceUnavailable' } });
    await stack.ok(QUERY, { id: ID });
    expect(logs.records()).toEqual([
      expect.objectContaining({
        level: 'warn',
        event: 'upstream.fault',
        msg: `DashScope HTTP 503 ServiceUnavailable while reading fine-tune job "${ID}"; retrying`,
        endpoint: 'GET /fine-tunes/{id}',
        status: 503,
        code: 'ServiceUnavailable',
        request_id: expect.stringMatching(/^\S+$/),
        retrying: true,
        requestId: expect.any(String),
      }),
    ]);

    stack.emulator.injectFault({ match: { route: 'get' }, fault: { kind: 'status', status: 500 } });
    await firstError(stack);
    expect(logs.records()).toContainEqual(
      expect.objectContaining({
        event: 'upstream.breaker',
        state: 'open',
        msg: 'DashScope circuit breaker opened: upstream calls fail fast until a probe succeeds',
      }),
    );
    expect(logs.records().at(-1)).toMatchObject({ level: 'warn', status: 500, code: 'InternalError', retrying: false });

    stack.emulator.clearFaults();
    await expect.poll(async () => (await stack.gql(QUERY, { id: ID })).body.errors, { timeout: 5_000 }).toBeUndefined();
    expect(logs.records().at(-1)).toMatchObject({
      level: 'warn',
      event: 'upstream.breaker',
      state: 'closed',
      msg: 'DashScope circuit breaker closed',
    });
  });
});
