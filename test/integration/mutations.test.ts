import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEMO_ACCOUNT } from '../../src/emulator/index.js';
import { SEED_JOB_IDS } from '../../src/emulator/seed.js';
import { startStack, type Stack } from '../support/stack.js';

const CREATE = `mutation($input: CreateFineTuneJobInput!, $key: String) {
  createFineTuneJob(input: $input, idempotencyKey: $key) { id status name trainingType model hyperParameters { raw } }
}`;
const CANCEL = `mutation($id: ID!) { cancelFineTuneJob(id: $id) { id status } }`;
const DELETE = `mutation($id: ID!) { deleteFineTuneJob(id: $id) { id deleted } }`;
const READ = `query($id: ID!) { fineTuneJob(id: $id) { id status } }`;
const KEY = DEMO_ACCOUNT.apiKey;

/** Text models need these three (§6.1). */
const REQUIRED = { nEpochs: 1, batchSize: 8, maxLength: 2048 };
const validInput = { model: 'qwen3-8b', trainingFileIds: ['file-ft-0001'], hyperParameters: REQUIRED };

// The emulator's clock: still unless a test makes each upstream call move it on.
let t = Date.now();
let step = 0;
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { POLL_INTERVAL_MS: '1000' }, emulator: { now: () => (t += step) } });
});
afterAll(() => stack.close());
beforeEach(() => {
  step = 0;
  stack.emulator.clearFaults();
  stack.emulator.resetStats();
});

async function createJob(input: Record<string, unknown> = validInput, key?: string): Promise<string> {
  const data = await stack.ok(CREATE, { input, key });
  return data.createFineTuneJob.id;
}

describe('createFineTuneJob input validation: BAD_USER_INPUT naming the field, nothing sent upstream', () => {
  const hyper = (hyperParameters: Record<string, unknown>) => ({ ...validInput, hyperParameters: { ...REQUIRED, ...hyperParameters } });
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['an empty model', { ...validInput, model: '' }, 'input.model'],
    ['a blank model', { ...validInput, model: '   ' }, 'input.model'],
    ['no training files', { ...validInput, trainingFileIds: [] }, 'input.trainingDatasets'],
    ['an invalid training file id', { ...validInput, trainingFileIds: ['file-1', '../x'] }, 'input.trainingFileIds[1]'],
    ['an invalid validation file id', { ...validInput, validationFileIds: ['a b'] }, 'input.validationFileIds[0]'],
    ['a training type that is not a safe name', { ...validInput, trainingType: 'full sft' }, 'input.trainingType'],
    ['nEpochs below 1', hyper({ nEpochs: 0 }), 'input.hyperParameters.nEpochs'],
    ['batchSize below 1', hyper({ batchSize: 0 }), 'input.hyperParameters.batchSize'],
    ['maxLength below 1', hyper({ maxLength: -5 }), 'input.hyperParameters.maxLength'],
    ['learningRate 0', hyper({ learningRate: 0 }), 'input.hyperParameters.learningRate'],
    ['a negative learningRate', hyper({ learningRate: -1e-5 }), 'input.hyperParameters.learningRate'],
    ['split 0', hyper({ split: 0 }), 'input.hyperParameters.split'],
    ['split above 1', hyper({ split: 1.2 }), 'input.hyperParameters.split'],
    ['warmupRatio above 1', hyper({ warmupRatio: 1.5 }), 'input.hyperParameters.warmupRatio'],
    ['a negative weightDecay', hyper({ weightDecay: -0.1 }), 'input.hyperParameters.weightDecay'],
    ['evalSteps below 1', hyper({ evalSteps: 0 }), 'input.hyperParameters.evalSteps'],
    ['loraRank below 1', hyper({ loraRank: 0 }), 'input.hyperParameters.loraRank'],
    ['loraAlpha below 1', hyper({ loraAlpha: 0 }), 'input.hyperParameters.loraAlpha'],
    ['loraDropout of 1', hyper({ loraDropout: 1 }), 'input.hyperParameters.loraDropout'],
    ['an unknown saveStrategy', hyper({ saveStrategy: 'hourly' }), 'input.hyperParameters.saveStrategy'],
    ['saveSteps below 1', hyper({ saveSteps: 0 }), 'input.hyperParameters.saveSteps'],
    ['saveTotalLimit below 1', hyper({ saveTotalLimit: 0 }), 'input.hyperParameters.saveTotalLimit'],
    ['an empty lrSchedulerType', hyper({ lrSchedulerType: '' }), 'input.hyperParameters.lrSchedulerType'],
    ['extra that is not an object', hyper({ extra: [1, 2] }), 'input.hyperParameters.extra'],
    ['an extra key that a typed field sets', hyper({ extra: { n_epochs: 0 } }), 'input.hyperParameters.extra.n_epochs'],
    ['an extra key that is not an upstream name', hyper({ extra: { 'bad key': 1 } }), 'input.hyperParameters.extra.bad key'],
    ['an empty jobName', { ...validInput, jobName: '' }, 'input.jobName'],
    ['an empty modelName', { ...validInput, modelName: '' }, 'input.modelName'],
    ['an empty finetunedOutputSuffix', { ...validInput, finetunedOutputSuffix: '' }, 'input.finetunedOutputSuffix'],
    // Never trimmed: a name DashScope matches exactly is refused with surrounding whitespace rather than altered.
    ['a model with a leading space', { ...validInput, model: ' qwen3-8b' }, 'input.model'],
    ['a modelName with a trailing space', { ...validInput, modelName: 'my-model ' }, 'input.modelName'],
    ['a finetunedOutputSuffix with a trailing newline', { ...validInput, finetunedOutputSuffix: 'v2\n' }, 'input.finetunedOutputSuffix'],
    ['an lrSchedulerType with surrounding spaces', hyper({ lrSchedulerType: ' cosine ' }), 'input.hyperParameters.lrSchedulerType'],
    ['a blank jobName', { ...validInput, jobName: '   ' }, 'input.jobName'],
    ['a jobName with a line break', { ...validInput, jobName: 'run\r\nforged log line' }, 'input.jobName'],
  ];

  it.each(cases)('refuses %s', async (_name, input, argumentName) => {
    const { body } = await stack.gql(CREATE, { input });
    expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName });
    expect(body.errors?.[0]?.message).toContain(argumentName);
    expect(stack.upstreamCalls()).toBe(0);
  });

  it('refuses an idempotency key that is empty or has spaces', async () => {
    for (const key of ['', 'a b']) {
      const { body } = await stack.gql(CREATE, { input: validInput, key });
      expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName: 'idempotencyKey' });
    }
    expect(stack.upstreamCalls()).toBe(0);
  });

  it('refuses an invalid id to cancel or delete', async () => {
    for (const operation of [CANCEL, DELETE]) {
      const { body } = await stack.gql(operation, { id: '../ft-1' });
      expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName: 'id' });
    }
    expect(stack.upstreamCalls()).toBe(0);
  });

  it('accepts the bounds themselves: split 1, warmupRatio 0, loraDropout 0, every training type', async () => {
    const data = await stack.ok(CREATE, { input: hyper({ split: 1, warmupRatio: 0, loraDropout: 0 }) });
    expect(data.createFineTuneJob.hyperParameters.raw).toEqual({
      n_epochs: 1,
      batch_size: 8,
      max_length: 2048,
      split: 1,
      warmup_ratio: 0,
      lora_dropout: 0,
    });
    for (const trainingType of ['sft', 'efficient_sft', 'cpt', 'dpo_full', 'dpo_lora', 'reinforcement']) {
      await stack.ok(CREATE, { input: { ...validInput, trainingType } });
    }
    expect(stack.upstreamCalls('create')).toBe(7);
  });
});

describe('createFineTuneJob', () => {
  it('sends only the hyper-parameters the caller set, in upstream names, with extra merged as given', async () => {
    const id = await createJob({
      ...validInput,
      trainingType: 'efficient_sft',
      jobName: 'my-run',
      hyperParameters: {
        ...REQUIRED,
        nEpochs: 3,
        learningRate: 1.6e-5,
        warmupRatio: null,
        loraRank: 64,
        extra: { freeze_vit: true, logging_steps: 5 },
      },
    });
    // What the emulator stored is what it received.
    const { fineTuneJob: job } = await stack.ok(`query($id: ID!) { fineTuneJob(id: $id) { name trainingType hyperParameters { raw } } }`, {
      id,
    });
    expect(job.hyperParameters.raw).toEqual({
      n_epochs: 3,
      batch_size: 8,
      max_length: 2048,
      learning_rate: 1.6e-5,
      lora_rank: 64,
      freeze_vit: true,
      logging_steps: 5,
    });
    expect(job).toMatchObject({ name: 'my-run', trainingType: 'efficient_sft' });
  });

  it('sends no hyper-parameters at all when none is set (a family that requires none)', async () => {
    const input = {
      model: 'wan2.5-i2v-preview',
      trainingType: 'efficient_sft',
      trainingFileIds: ['file-ft-0001'],
      hyperParameters: { nEpochs: null },
    };
    const data = await stack.ok(CREATE, { input });
    expect(data.createFineTuneJob).toMatchObject({ status: 'PENDING', trainingType: 'efficient_sft', hyperParameters: { raw: {} } });
  });

  it('creates one upstream job for a double create with one idempotency key', async () => {
    const first = await createJob(validInput, 'start-training-1');
    const second = await createJob(validInput, 'start-training-1');
    expect(second).toBe(first);
    expect(stack.upstreamCalls('create')).toBe(1);
  });

  it('creates one upstream job for concurrent duplicates (a double click)', async () => {
    const ids = await Promise.all(Array.from({ length: 5 }, () => createJob({ ...validInput, jobName: 'double-click' }, 'double-click')));
    expect(new Set(ids).size).toBe(1);
    expect(stack.upstreamCalls('create')).toBe(1);
  });

  it('answers CONFLICT for the same key with another input, and creates nothing more', async () => {
    await createJob(validInput, 'conflict-key');
    const { body } = await stack.gql(CREATE, {
      input: { ...validInput, hyperParameters: { ...REQUIRED, nEpochs: 2 } },
      key: 'conflict-key',
    });
    expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', retryable: false });
    expect(stack.upstreamCalls('create')).toBe(1);
  });

  it('treats the same input with keys of extra in another order as the same input', async () => {
    const input = (extra: Record<string, unknown>) => ({ ...validInput, hyperParameters: { ...REQUIRED, extra } });
    const first = await createJob(input({ a_b: 1, c_d: 2 }), 'order-key');
    expect(await createJob(input({ c_d: 2, a_b: 1 }), 'order-key')).toBe(first);
  });

  it('creates a new job for a new key', async () => {
    expect(await createJob(validInput, 'key-a')).not.toBe(await createJob(validInput, 'key-b'));
    expect(stack.upstreamCalls('create')).toBe(2);
  });

  it('never retries a failed create, and does not remember it: the same key may try again', async () => {
    stack.emulator.injectFault({ match: { route: 'create' }, times: 1, fault: { kind: 'status', status: 500 } });
    const failed = await stack.gql(CREATE, { input: validInput, key: 'retry-later' });
    expect(failed.body.errors?.[0]?.extensions).toMatchObject({ code: 'UPSTREAM_ERROR' });
    expect(stack.upstreamCalls('create')).toBe(1);
    await createJob(validInput, 'retry-later');
    expect(stack.upstreamCalls('create')).toBe(2);
  });

  it('answers QUOTA_EXCEEDED, not retryable, with the upstream message and the remedy on a 429 quota answer, without retrying', async () => {
    const message = 'Only 20 fine-tune job in running or succeeded allowed per user.';
    stack.emulator.injectFault({
      match: { route: 'create' },
      times: 1,
      fault: { kind: 'status', status: 429, code: 'Throttling', message },
    });
    const { body } = await stack.gql(CREATE, { input: validInput });
    expect(body.errors?.[0]?.extensions).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      retryable: false,
      upstream: { code: 'Throttling', httpStatus: 429 },
    });
    expect(body.errors?.[0]?.message).toContain(message);
    expect(body.errors?.[0]?.message).toMatch(/cancel or delete jobs .* or ask .* for a higher quota/);
    expect(stack.upstreamCalls('create')).toBe(1);
  });

  it('passes an upstream InvalidParameter on as BAD_USER_INPUT', async () => {
    const { body } = await stack.gql(CREATE, { input: { model: 'cosyvoice-v3-flash', trainingFileIds: ['file-1'], trainingType: 'sft' } });
    expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', upstream: { code: 'InvalidParameter' } });
    expect(body.errors?.[0]?.message).toContain('does not support training_type');
  });
});

describe('cancelFineTuneJob', () => {
  it('cancels a running job and returns it as read after the cancel; later reads are not stale', async () => {
    const id = await createJob();
    stack.emulator.setJobStatus(KEY, id, 'RUNNING');
    expect((await stack.ok(READ, { id })).fineTuneJob.status).toBe('RUNNING');
    const data = await stack.ok(CANCEL, { id });
    expect(data.cancelFineTuneJob).toEqual({ id, status: 'CANCELING' });
    expect(stack.upstreamCalls('cancel')).toBe(1);
    t += 2_001; // the emulator's CANCELING lasts 2 s
    expect((await stack.ok(READ, { id })).fineTuneJob.status).toBe('CANCELED');
  });

  it('re-reads after each mutation of the same operation instead of serving the copy read before', async () => {
    const id = await createJob();
    stack.emulator.setJobStatus(KEY, id, 'RUNNING');
    // Every upstream call moves the emulator's clock 700 ms on: the second cancel is still accepted (CANCELING),
    // and the read after it sees CANCELED (2 s after the first cancel).
    step = 700;
    const data = await stack.ok(
      `mutation($id: ID!) { a: cancelFineTuneJob(id: $id) { status } b: cancelFineTuneJob(id: $id) { status } }`,
      {
        id,
      },
    );
    expect(data).toEqual({ a: { status: 'CANCELING' }, b: { status: 'CANCELED' } });
    expect(stack.upstreamCalls('get')).toBe(2);
  });

  it('answers UNSUPPORTED_OPERATION for a finished job, with the upstream message', async () => {
    const { body } = await stack.gql(CANCEL, { id: SEED_JOB_IDS.contractExample });
    expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'UNSUPPORTED_OPERATION', upstream: { code: 'UnsupportedOperation' } });
    expect(body.errors?.[0]?.message).toContain('cannot be canceled');
    expect(stack.upstreamCalls('cancel')).toBe(1);
  });

  it('answers NOT_FOUND for an unknown job', async () => {
    const { body } = await stack.gql(CANCEL, { id: 'ft-209901010000-ffff' });
    expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('deleteFineTuneJob', () => {
  it('answers UNSUPPORTED_OPERATION for a job still running', async () => {
    const id = await createJob();
    stack.emulator.setJobStatus(KEY, id, 'RUNNING');
    const { body } = await stack.gql(DELETE, { id });
    expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'UNSUPPORTED_OPERATION' });
    expect((await stack.ok(READ, { id })).fineTuneJob.status).toBe('RUNNING');
  });

  it('deletes a finished job; reading it afterwards is NOT_FOUND, even right after it was read', async () => {
    const id = await createJob();
    stack.emulator.setJobStatus(KEY, id, 'SUCCEEDED');
    expect((await stack.ok(READ, { id })).fineTuneJob.status).toBe('SUCCEEDED');
    expect((await stack.ok(DELETE, { id })).deleteFineTuneJob).toEqual({ id, deleted: true });
    const { body } = await stack.gql(READ, { id });
    expect(body.data?.fineTuneJob).toBeNull();
    expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND' });
    expect(stack.upstreamCalls('delete')).toBe(1);
  });
});

describe('mutations in forward mode', () => {
  const A = { apiKey: 'sk-forward-team-a', workspaceId: 'llm-teama001', userId: '1000000000000001' };
  const B = { apiKey: 'sk-forward-team-b', workspaceId: 'llm-teamb001', userId: '1000000000000002' };
  let forward: Stack;
  beforeAll(async () => {
    forward = await startStack({ env: { AUTH_MODE: 'forward' }, emulator: { accounts: [A, B] } });
  });
  afterAll(() => forward.close());
  beforeEach(() => forward.emulator.resetStats());

  it('needs a bearer token, and sends nothing upstream without one', async () => {
    const { body } = await forward.gql(CREATE, { input: validInput });
    expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(forward.upstreamCalls()).toBe(0);
  });

  it('scopes idempotency keys to the credential: one key, two callers, two jobs', async () => {
    const as = (key: string) => ({ authorization: `Bearer ${key}` });
    const a = await forward.ok(CREATE, { input: validInput, key: 'shared-key' }, as(A.apiKey));
    const b = await forward.ok(CREATE, { input: validInput, key: 'shared-key' }, as(B.apiKey));
    expect(a.createFineTuneJob.id).not.toBe(b.createFineTuneJob.id);
    expect(forward.upstreamCalls('create')).toBe(2);
    // Each job belongs to its caller only.
    const { body } = await forward.gql(READ, { id: a.createFineTuneJob.id }, as(B.apiKey));
    expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND' });
  });
});
