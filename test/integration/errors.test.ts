import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FaultRule } from '../../src/emulator/index.js';
import { SEED_JOB_IDS } from '../../src/emulator/seed.js';
import { captureLogs } from '../support/logs.js';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  // Short timeouts so that the hang and slow-body faults end quickly. No retries: each fault is met once, and this
  // file is about how it is mapped (test/integration/resilience.test.ts is about retries and what they cost). No
  // cache (neither the job cache nor the response cache): a finished job one test reads would be served to the next
  // from it, and that test's fault never met.
  stack = await startStack({
    env: {
      UPSTREAM_HEADERS_TIMEOUT_MS: '300',
      UPSTREAM_BODY_TIMEOUT_MS: '300',
      UPSTREAM_RETRIES: '0',
      CACHE_ENABLED: 'false',
      RESPONSE_CACHE_ENABLED: 'false',
    },
  });
});
afterAll(() => stack.close());
beforeEach(() => {
  stack.emulator.clearFaults();
  stack.emulator.resetStats();
});

const QUERY = `query($id: ID!) { fineTuneJob(id: $id) { id status } }`;

async function errorFor(fault: FaultRule['fault']) {
  stack.emulator.injectFault({ match: { route: 'get' }, times: 1, fault });
  const { status, body } = await stack.gql(QUERY, { id: SEED_JOB_IDS.contractExample });
  expect(status).toBe(200);
  expect(body.data).toEqual({ fineTuneJob: null });
  expect(body.errors).toHaveLength(1);
  const error = body.errors![0]!;
  expect(error.path).toEqual(['fineTuneJob']);
  expect(error.message).toContain(SEED_JOB_IDS.contractExample);
  return error;
}

describe('every upstream failure becomes a GraphQL error with stable extensions', () => {
  it.each([
    [400, 'InvalidParameter', 'BAD_USER_INPUT', false],
    [400, 'UnsupportedOperation', 'UNSUPPORTED_OPERATION', false],
    [401, 'InvalidApiKey', 'UNAUTHENTICATED', false],
    [403, 'AccessDenied', 'FORBIDDEN', false],
    [404, 'NotFound', 'NOT_FOUND', false],
    [409, 'Conflict', 'CONFLICT', false],
    [429, 'Throttling', 'RATE_LIMITED', true],
    [500, 'InternalError', 'UPSTREAM_ERROR', true],
    [503, 'ServiceUnavailable', 'UPSTREAM_ERROR', true],
  ])('HTTP %i %s → %s', async (status, code, expected, retryable) => {
    const error = await errorFor({ kind: 'status', status, code, message: `message for ${code}` });
    expect(error.extensions).toMatchObject({ code: expected, retryable, upstream: { code, httpStatus: status } });
    expect(typeof (error.extensions!.upstream as { requestId: unknown }).requestId).toBe('string');
  });

  it('passes Retry-After on as retryAfterSeconds', async () => {
    const error = await errorFor({
      kind: 'status',
      status: 429,
      code: 'Throttling',
      message: 'Too many fine-tune job in running, please retry later.',
      retryAfter: '7',
    });
    expect(error.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 7 });
    expect(error.message).toContain('Too many fine-tune job in running');
  });

  it('an HTML error page is still an UPSTREAM_ERROR with its status', async () => {
    const error = await errorFor({ kind: 'html', status: 502 });
    expect(error.extensions).toMatchObject({ code: 'UPSTREAM_ERROR', retryable: true, upstream: { httpStatus: 502, code: null } });
  });

  it.each([
    ['reset connection', { kind: 'reset' } as const, 'UPSTREAM_UNAVAILABLE'],
    ['hang', { kind: 'hang' } as const, 'UPSTREAM_TIMEOUT'],
    ['slow body', { kind: 'slow-body', ms: 2000 } as const, 'UPSTREAM_TIMEOUT'],
    ['truncated JSON', { kind: 'truncated-json' } as const, 'UPSTREAM_BAD_RESPONSE'],
    ['not JSON', { kind: 'not-json' } as const, 'UPSTREAM_BAD_RESPONSE'],
    ['a job without job_id', { kind: 'body', body: { request_id: 'r', output: { status: 'RUNNING' } } } as const, 'UPSTREAM_BAD_RESPONSE'],
    ['a job without status', { kind: 'body', body: { request_id: 'r', output: { job_id: 'ft-1' } } } as const, 'UPSTREAM_BAD_RESPONSE'],
  ])('%s → %s', async (_name, fault, expected) => {
    const error = await errorFor(fault);
    expect(error.extensions).toMatchObject({ code: expected });
    expect(error.extensions).not.toHaveProperty('upstream');
  });

  it('a malformed job fails alone in a batch', async () => {
    stack.emulator.injectFault({ match: { route: 'get', jobId: SEED_JOB_IDS.failed }, fault: { kind: 'not-json' } });
    const { body } = await stack.gql(`query($ids: [ID!]!) { fineTuneJobsByIds(ids: $ids) { id } }`, {
      ids: [SEED_JOB_IDS.contractExample, SEED_JOB_IDS.failed, SEED_JOB_IDS.canceled],
    });
    expect(body.data?.fineTuneJobsByIds).toEqual([{ id: SEED_JOB_IDS.contractExample }, null, { id: SEED_JOB_IDS.canceled }]);
    expect(body.errors?.map((e) => [e.path, e.extensions?.code])).toEqual([[['fineTuneJobsByIds', 1], 'UPSTREAM_BAD_RESPONSE']]);
  });

  it('an unreachable upstream is UPSTREAM_UNAVAILABLE', async () => {
    const unreachable = await startStack();
    await unreachable.emulator.close();
    try {
      const { body } = await unreachable.gql(QUERY, { id: SEED_JOB_IDS.contractExample });
      expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', retryable: true });
    } finally {
      await unreachable.gateway.close();
    }
  });

  it('the gateway stays healthy after every fault', async () => {
    const health = await fetch(`${stack.url}/health`);
    expect(health.status).toBe(200);
    await expect(stack.ok(QUERY, { id: SEED_JOB_IDS.contractExample })).resolves.toBeTruthy();
  });
});

describe('credentials', () => {
  it('a wrong server key is UNAUTHENTICATED and never echoed', async () => {
    const wrong = await startStack({ env: { DASHSCOPE_API_KEY: 'sk-canary-0123456789abcdef' } });
    try {
      const response = await wrong.gql(QUERY, { id: SEED_JOB_IDS.contractExample });
      expect(response.body.errors?.[0]?.extensions).toMatchObject({
        code: 'UNAUTHENTICATED',
        upstream: { code: 'InvalidApiKey', httpStatus: 401 },
      });
      expect(JSON.stringify(response.body)).not.toContain('sk-canary');
    } finally {
      await wrong.close();
    }
  });

  describe('forward mode', () => {
    let forward: Stack;
    beforeAll(async () => {
      forward = await startStack({
        env: { AUTH_MODE: 'forward' },
        emulator: {
          accounts: [
            { apiKey: 'sk-team-a', workspaceId: 'llm-teama', userId: '1001', seed: true },
            { apiKey: 'sk-team-b', workspaceId: 'llm-teamb', userId: '1002', seed: false },
          ],
        },
      });
    });
    afterAll(() => forward.close());
    beforeEach(() => forward.emulator.resetStats());

    it('without a bearer token is UNAUTHENTICATED with no upstream call', async () => {
      const { body } = await forward.gql(QUERY, { id: SEED_JOB_IDS.contractExample });
      expect(body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(forward.upstreamCalls()).toBe(0);
    });

    it("forwards each caller's key: a team sees only its own jobs", async () => {
      const a = await forward.ok(QUERY, { id: SEED_JOB_IDS.contractExample }, { authorization: 'Bearer sk-team-a' });
      expect(a.fineTuneJob.status).toBe('SUCCEEDED');
      const b = await forward.gql(QUERY, { id: SEED_JOB_IDS.contractExample }, { authorization: 'Bearer sk-team-b' });
      expect(b.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
      const list = await forward.ok(`{ fineTuneJobs { total } }`, {}, { authorization: 'Bearer sk-team-b' });
      expect(list.fineTuneJobs.total).toBe(0);
    });
  });
});

describe('a list page with malformed elements', () => {
  it('serves the valid jobs and tells operators what was left out', async () => {
    const logs = captureLogs();
    const drift = await startStack({ env: { LOG_LEVEL: 'warn' }, logs });
    try {
      // Newest first: both malformed elements land on page 1.
      drift.emulator.putRawJob(drift.emulator.demoApiKey, { job_id: 'ft-209912312359-0001', create_time: '2099-12-31 23:59:00' });
      drift.emulator.putRawJob(drift.emulator.demoApiKey, { status: 'RUNNING', create_time: '2099-12-31 23:58:00' });
      const data = await drift.ok(`{ fineTuneJobs(pageSize: 5) { total items { id } } }`);
      expect(data.fineTuneJobs.items).toHaveLength(3);
      expect(data.fineTuneJobs.items.map((job: { id: string }) => job.id)).not.toContain('ft-209912312359-0001');
      expect(logs.records()).toEqual([
        expect.objectContaining({
          level: 'warn',
          msg: "DashScope's list of fine-tune jobs (page 1) held 2 element(s) without job_id or status; left out",
          requestId: expect.any(String),
        }),
      ]);
    } finally {
      await drift.close();
    }
  });
});
