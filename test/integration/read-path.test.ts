import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SEED_JOB_IDS } from '../../src/emulator/seed.js';
import { startStack, type Stack } from '../support/stack.js';

const JOB_FIELDS = `
  id name status upstreamStatus fineTunedModel model baseModel trainingType trainingFileIds validationFileIds
  hyperParameters { nEpochs batchSize maxLength learningRate lrSchedulerType split warmupRatio weightDecay evalSteps
    loraRank loraAlpha loraDropout saveStrategy saveSteps saveTotalLimit raw }
  createdAt endedAt workspaceId userIdentity creator modifier group usageTokens outputCount maxOutputCount
  failure { code message } isTerminal durationSeconds costEstimate { amount currency unitPricePer1kTokens billedTokens pricedModel isFinal }
`;

let stack: Stack;
beforeAll(async () => {
  // These count the upstream calls of one operation; the cross-request cache has its own tests (cache.test.ts).
  stack = await startStack({ env: { CACHE_ENABLED: 'false' } });
});
afterAll(() => stack.close());
beforeEach(() => stack.emulator.resetStats());

describe('the acceptance query', () => {
  it('returns the contract example: SUCCEEDED, 1053 s, about 0.4477 USD', async () => {
    const data = await stack.ok(`{ fineTuneJob(id: "ft-202410291653-1c7f") { status durationSeconds costEstimate { amount currency } } }`);
    expect(data.fineTuneJob.status).toBe('SUCCEEDED');
    expect(data.fineTuneJob.durationSeconds).toBe(1053);
    expect(data.fineTuneJob.costEstimate.currency).toBe('USD');
    expect(data.fineTuneJob.costEstimate.amount).toBeCloseTo(0.4477, 4);
  });
});

describe('fineTuneJob', () => {
  it('resolves every field of the contract example from the upstream payload', async () => {
    const { fineTuneJob: job } = await stack.ok(`query($id: ID!) { fineTuneJob(id: $id) { ${JOB_FIELDS} } }`, {
      id: SEED_JOB_IDS.contractExample,
    });
    expect(job).toMatchObject({
      id: 'ft-202410291653-1c7f',
      name: 'ft-202410291653-1c7f',
      status: 'SUCCEEDED',
      upstreamStatus: 'SUCCEEDED',
      fineTunedModel: 'qwen3-14b-suffix-ft-202410291653-1c7f',
      model: 'qwen3-14b',
      baseModel: 'qwen3-14b',
      trainingType: 'sft',
      createdAt: '2024-10-29T16:53:53+08:00',
      endedAt: '2024-10-29T17:11:26+08:00',
      usageTokens: 279808,
      isTerminal: true,
      failure: null,
      group: 'llm',
      costEstimate: { unitPricePer1kTokens: 0.0016, billedTokens: 279808, pricedModel: 'qwen3-14b', isFinal: true },
    });
    expect(job.hyperParameters).toMatchObject({
      nEpochs: 1,
      batchSize: 16,
      learningRate: 1.6e-5,
      raw: { n_epochs: 1, batch_size: 16, learning_rate: '1.6e-5' },
    });
    expect(job.trainingFileIds).toHaveLength(1);
    expect(stack.upstreamCalls()).toBe(1);
  });

  it('serves a usage above 2^31 as SafeInt', async () => {
    const data = await stack.ok(
      `query($id: ID!) { fineTuneJob(id: $id) { usageTokens costEstimate { billedTokens amount } hyperParameters { learningRate loraRank } } }`,
      {
        id: SEED_JOB_IDS.bigUsage,
      },
    );
    expect(data.fineTuneJob.usageTokens).toBeGreaterThan(2 ** 31);
    expect(data.fineTuneJob.costEstimate.billedTokens).toBe(data.fineTuneJob.usageTokens);
    expect(data.fineTuneJob.hyperParameters.learningRate).toBe(2e-5);
  });

  it('tolerates drift: unknown status, unknown keys, numeric learning rate', async () => {
    const data = await stack.ok(
      `query($id: ID!) { fineTuneJob(id: $id) { status upstreamStatus isTerminal hyperParameters { learningRate raw } } }`,
      {
        id: SEED_JOB_IDS.drift,
      },
    );
    expect(data.fineTuneJob.status).toBe('UNKNOWN');
    expect(data.fineTuneJob.upstreamStatus).not.toBe('UNKNOWN');
    expect(data.fineTuneJob.hyperParameters.learningRate).toBe(0.0001);
    expect(Object.keys(data.fineTuneJob.hyperParameters.raw).length).toBeGreaterThan(1);
  });

  it('reports the failure of a failed job and none for a canceled one', async () => {
    const data = await stack.ok(
      `query($ids: [ID!]!) { fineTuneJobsByIds(ids: $ids) { status failure { code message } usageTokens costEstimate { amount } } }`,
      {
        ids: [SEED_JOB_IDS.failed, SEED_JOB_IDS.canceled],
      },
    );
    const [failed, canceled] = data.fineTuneJobsByIds;
    expect(failed.status).toBe('FAILED');
    expect(failed.failure.code).toBeTruthy();
    expect(failed.failure.message).toBeTruthy();
    expect(canceled).toMatchObject({ status: 'CANCELED', failure: null, usageTokens: 0, costEstimate: { amount: 0 } });
  });

  it('counts a running job from its creation to now', async () => {
    const data = await stack.ok(
      `query($id: ID!) { fineTuneJob(id: $id) { status isTerminal endedAt durationSeconds costEstimate { isFinal } } }`,
      {
        id: SEED_JOB_IDS.running,
      },
    );
    expect(data.fineTuneJob).toMatchObject({ status: 'RUNNING', isTerminal: false, endedAt: null });
    expect(data.fineTuneJob.durationSeconds).toBeGreaterThan(0);
  });

  it('answers NOT_FOUND with the upstream details for an unknown id', async () => {
    const { body } = await stack.gql(`{ fineTuneJob(id: "ft-209901010000-ffff") { id } }`);
    expect(body.data).toEqual({ fineTuneJob: null });
    expect(body.errors?.[0]?.message).toContain('ft-209901010000-ffff');
    expect(body.errors?.[0]?.extensions).toMatchObject({
      code: 'NOT_FOUND',
      retryable: false,
      upstream: { code: 'NotFound', httpStatus: 404 },
    });
    expect(typeof (body.errors?.[0]?.extensions?.upstream as { requestId: unknown }).requestId).toBe('string');
  });
});

describe('batching', () => {
  it('costs one upstream call per distinct id, however often and wherever it is asked', async () => {
    const data = await stack.ok(
      `query($a: ID!, $b: ID!) {
        one: fineTuneJob(id: $a) { id status }
        again: fineTuneJob(id: $a) { id costEstimate { amount } }
        many: fineTuneJobsByIds(ids: [$a, $b, $a, $b]) { id }
      }`,
      { a: SEED_JOB_IDS.contractExample, b: SEED_JOB_IDS.failed },
    );
    expect(data.many.map((j: { id: string }) => j.id)).toEqual([
      SEED_JOB_IDS.contractExample,
      SEED_JOB_IDS.failed,
      SEED_JOB_IDS.contractExample,
      SEED_JOB_IDS.failed,
    ]);
    expect(stack.upstreamCalls('get')).toBe(2);
    expect(stack.upstreamCalls()).toBe(2);
  });

  it('keeps the order asked and puts null plus an error at each failed index', async () => {
    const ids = [SEED_JOB_IDS.failed, 'ft-209901010000-0000', SEED_JOB_IDS.contractExample, '../files', SEED_JOB_IDS.canceled];
    const { body } = await stack.gql(`query($ids: [ID!]!) { fineTuneJobsByIds(ids: $ids) { id } }`, { ids });
    expect(body.data?.fineTuneJobsByIds).toEqual([{ id: ids[0] }, null, { id: ids[2] }, null, { id: ids[4] }]);
    const byIndex = Object.fromEntries(body.errors!.map((e) => [e.path?.[1], e.extensions?.code]));
    expect(byIndex).toEqual({ 1: 'NOT_FOUND', 3: 'BAD_USER_INPUT' });
    expect(stack.upstreamCalls('get')).toBe(4);
  });

  it('serves a page from one upstream call and primes the detail loader', async () => {
    const data = await stack.ok(
      `query($id: ID!) {
        fineTuneJobs(page: 1, pageSize: 40) { total hasNextPage page pageSize items { ${JOB_FIELDS} } }
        fineTuneJob(id: $id) { id status }
      }`,
      { id: SEED_JOB_IDS.contractExample },
    );
    expect(data.fineTuneJobs.items).toHaveLength(40);
    expect(data.fineTuneJobs.total).toBeGreaterThan(40);
    expect(data.fineTuneJobs.hasNextPage).toBe(true);
    // The detail query may run alongside the list; either way no more than list + that one id.
    expect(stack.upstreamCalls('list')).toBe(1);
    expect(stack.upstreamCalls('get')).toBeLessThanOrEqual(1);
  });

  it('reuses a job from a page in a later detail read of the same operation', async () => {
    const data = await stack.ok(`{ fineTuneJobs(pageSize: 5) { items { id } } }`);
    const first = data.fineTuneJobs.items[0].id as string;
    stack.emulator.resetStats();
    // Nested: the page resolves first, then the detail read.
    await stack.ok(`query($id: ID!) { fineTuneJobs(pageSize: 5) { items { id } } later: fineTuneJobsByIds(ids: [$id]) { id } }`, {
      id: first,
    });
    expect(stack.upstreamCalls('list')).toBe(1);
  });

  it('pages newest first and reports the last page', async () => {
    const data = await stack.ok(`{ fineTuneJobs(page: 1, pageSize: 100) { total hasNextPage items { createdAt } } }`);
    const times = data.fineTuneJobs.items.map((j: { createdAt: string }) => Date.parse(j.createdAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(data.fineTuneJobs.hasNextPage).toBe(data.fineTuneJobs.total > 100);
    const past = await stack.ok(`{ fineTuneJobs(page: 1000, pageSize: 10) { items { id } hasNextPage } }`);
    expect(past.fineTuneJobs).toEqual({ items: [], hasNextPage: false });
  });

  it('filters by model', async () => {
    const data = await stack.ok(`{ fineTuneJobs(pageSize: 100, model: "qwen3-14b") { total items { model } } }`);
    expect(data.fineTuneJobs.total).toBeGreaterThan(0);
    expect(new Set(data.fineTuneJobs.items.map((j: { model: string }) => j.model))).toEqual(new Set(['qwen3-14b']));
  });
});

describe('checkpoints and logs', () => {
  it('lists checkpoints, highest step first, through their own batched loader', async () => {
    const data = await stack.ok(
      `query($a: ID!, $b: ID!) {
        a: fineTuneJob(id: $a) { checkpoints { id name jobId step status modelName modelDisplayName createdAt expiresAt } }
        b: fineTuneJob(id: $a) { checkpoints { id } }
        c: fineTuneJob(id: $b) { checkpoints { id } }
      }`,
      { a: SEED_JOB_IDS.cosyVoice, b: SEED_JOB_IDS.contractExample },
    );
    const checkpoints = data.a.checkpoints as Array<{
      step: number;
      status: string;
      modelName: string | null;
      jobId: string;
      id: string;
      createdAt: string;
    }>;
    expect(checkpoints.length).toBeGreaterThan(1);
    expect(checkpoints.every((c) => c.jobId === SEED_JOB_IDS.cosyVoice && c.id.startsWith(`${SEED_JOB_IDS.cosyVoice}:`))).toBe(true);
    expect(checkpoints.some((c) => c.status === 'SUCCEEDED' && c.modelName)).toBe(true);
    expect(checkpoints[0]!.createdAt).toMatch(/\+08:00$/);
    expect(stack.upstreamCalls('checkpoints')).toBe(2);
    expect(stack.upstreamCalls('get')).toBe(2);
  });

  it('reads a window of the log', async () => {
    const data = await stack.ok(
      `query($id: ID!) { fineTuneJob(id: $id) { all: logs { total offset lines } tail: logs(offset: 2, limit: 3) { offset lines } } }`,
      {
        id: SEED_JOB_IDS.contractExample,
      },
    );
    const { all, tail } = data.fineTuneJob;
    expect(all.total).toBe(all.lines.length);
    expect(all.lines.at(-1)).toContain('##FT_COMPLETE##');
    expect(tail).toEqual({ offset: 2, lines: all.lines.slice(2, 5) });
  });

  it('nulls only checkpoints or logs when they fail, not the job', async () => {
    // Three times: the first attempt and the two retries of a read.
    stack.emulator.injectFault({
      match: { route: 'checkpoints' },
      times: 3,
      fault: { kind: 'status', status: 500, code: 'InternalError', message: 'Internal server error!' },
    });
    stack.emulator.injectFault({ match: { route: 'logs' }, times: 3, fault: { kind: 'status', status: 503 } });
    const { body } = await stack.gql(`query($id: ID!) { fineTuneJob(id: $id) { id status checkpoints { id } logs { total } } }`, {
      id: SEED_JOB_IDS.contractExample,
    });
    expect(body.data?.fineTuneJob).toEqual({ id: SEED_JOB_IDS.contractExample, status: 'SUCCEEDED', checkpoints: null, logs: null });
    expect(body.errors?.map((e) => [e.path?.join('.'), e.extensions?.code]).sort()).toEqual([
      ['fineTuneJob.checkpoints', 'UPSTREAM_ERROR'],
      ['fineTuneJob.logs', 'UPSTREAM_ERROR'],
    ]);
  });
});

describe('argument checks happen before any upstream call', () => {
  it.each([
    ['pageSize 0', `{ fineTuneJobs(pageSize: 0) { total } }`, 'pageSize'],
    ['pageSize 101', `{ fineTuneJobs(pageSize: 101) { total } }`, 'pageSize'],
    ['page 0', `{ fineTuneJobs(page: 0) { total } }`, 'page'],
    ['empty model', `{ fineTuneJobs(model: "") { total } }`, 'model'],
    ['limit 0', `{ fineTuneJob(id: "ft-202410291653-1c7f") { logs(limit: 0) { total } } }`, 'limit'],
    ['limit 1001', `{ fineTuneJob(id: "ft-202410291653-1c7f") { logs(limit: 1001) { total } } }`, 'limit'],
    ['offset -1', `{ fineTuneJob(id: "ft-202410291653-1c7f") { logs(offset: -1) { total } } }`, 'offset'],
  ])('%s → BAD_USER_INPUT naming the argument', async (_name, query, argumentName) => {
    const { body } = await stack.gql(query);
    expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName });
    const upstreamForArgument = query.includes('logs') ? stack.upstreamCalls('logs') : stack.upstreamCalls();
    expect(upstreamForArgument).toBe(0);
  });

  it('refuses more than 100 ids', async () => {
    const ids = Array.from({ length: 101 }, (_, i) => `ft-202410291653-${String(i).padStart(4, '0')}`);
    const { body } = await stack.gql(`query($ids: [ID!]!) { fineTuneJobsByIds(ids: $ids) { id } }`, { ids });
    expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName: 'ids' });
    expect(stack.upstreamCalls()).toBe(0);
  });

  it.each(['', '.', '..', '../files', '%2e%2e', 'a/b', '//evil', 'http://evil', '?x', '#x', 'a\r\nb', 'x'.repeat(129), 'x'.repeat(10_000)])(
    'refuses the id %j with no upstream call',
    async (id) => {
      const { body } = await stack.gql(`query($id: ID!) { fineTuneJob(id: $id) { id } }`, { id });
      expect(body.data).toEqual({ fineTuneJob: null });
      expect(body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(stack.upstreamCalls()).toBe(0);
    },
  );

  it('path-encodes valid ids', async () => {
    await stack.gql(`{ fineTuneJob(id: "a:b") { id } }`);
    expect(stack.emulator.stats().requests.map((r) => r.url)).toEqual(['/api/v1/fine-tunes/a%3Ab']);
  });
});

describe('derived fields remembered per job record', () => {
  // A clock that moves 10 s at every read: a running job's duration must follow it even within one operation (where
  // the loader hands both aliases the same record), while a finished job's stays fixed.
  let ticking: Stack;
  let clock = Date.now();
  beforeAll(async () => {
    ticking = await startStack({ now: () => (clock += 10_000) });
  });
  afterAll(() => ticking.close());

  it("a running job's duration is read from the clock each time; a finished job's does not move", async () => {
    const data = await ticking.ok(
      `query($running: ID!, $done: ID!) {
        a: fineTuneJob(id: $running) { durationSeconds } b: fineTuneJob(id: $running) { durationSeconds }
        c: fineTuneJob(id: $done) { durationSeconds costEstimate { amount } } d: fineTuneJob(id: $done) { durationSeconds costEstimate { amount } }
      }`,
      { running: SEED_JOB_IDS.running, done: SEED_JOB_IDS.contractExample },
    );
    expect(data.b.durationSeconds - data.a.durationSeconds).toBeGreaterThanOrEqual(10);
    expect(data.c).toEqual({ durationSeconds: 1053, costEstimate: { amount: expect.closeTo(0.4477, 4) } });
    expect(data.d).toEqual(data.c);
  });
});
