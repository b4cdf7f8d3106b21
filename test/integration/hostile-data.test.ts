import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEMO_ACCOUNT } from '../../src/emulator/index.js';
import { SEED_JOB_IDS } from '../../src/emulator/seed.js';
import { captureLogs } from '../support/logs.js';
import { startStack, type GraphQLResponse, type Stack } from '../support/stack.js';

/* Hostile or odd data from clients and from the upstream: each gets a clear error or a sane value, never a crash. */

const logs = captureLogs();
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { NODE_ENV: 'production', LOG_LEVEL: 'warn' }, logs });
});
afterAll(() => stack.close());
beforeEach(() => {
  logs.clear();
  stack.emulator.clearFaults();
  stack.emulator.resetStats();
});

/** POSTs a body built by hand: a JSON nested 20,000 deep is beyond what JSON.stringify in this process may take. */
async function post(body: string): Promise<GraphQLResponse> {
  const response = await fetch(`${stack.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body,
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as GraphQLResponse['body'] };
}

const CREATE = `mutation($input: CreateFineTuneJobInput!) { createFineTuneJob(input: $input) { id hyperParameters { raw } } }`;
const arrays = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const objects = (depth: number) => '{a:'.repeat(depth - 1) + '{}' + '}'.repeat(depth - 1);
const createWithExtra = (extraJson: string) =>
  post(`{"query":${JSON.stringify(CREATE)},"variables":{"input":{"model":"qwen3-8b","trainingFileIds":["file-ft-0001"],
    "hyperParameters":{"nEpochs":1,"batchSize":8,"maxLength":2048,"extra":${extraJson}}}}}`);
const depthError = { code: 'BAD_USER_INPUT', limit: 'jsonDepth' };

describe('deeply nested JSON input', () => {
  it('refuses a variable nested 20,000 deep with BAD_USER_INPUT and no upstream call', async () => {
    const { body } = await createWithExtra(`{"deep":${arrays(20_000)}}`);
    expect(body.errors?.[0]?.extensions).toMatchObject(depthError);
    expect(body.errors?.[0]?.message).toContain('at most 32 levels');
    expect(stack.upstreamCalls()).toBe(0);
  });

  it('takes 32 levels and refuses 33, as a variable', async () => {
    const ok = await createWithExtra(`{"deep":${arrays(31)}}`);
    expect(ok.body.errors).toBeUndefined();
    expect(stack.upstreamCalls('create')).toBe(1);
    const { body } = await createWithExtra(`{"deep":${arrays(32)}}`);
    expect(body.errors?.[0]?.extensions).toMatchObject(depthError);
    expect(stack.upstreamCalls('create')).toBe(1);
  });

  it.each([
    ['arrays', `{ deep: ${arrays(500)} }`],
    ['objects', `{ deep: ${objects(100)} }`],
    ['33 levels', `{ deep: ${arrays(32)} }`],
  ])('refuses an inline literal nested too deep (%s) with BAD_USER_INPUT and no upstream call', async (_name, extra) => {
    const { body } = await stack.gql(`mutation {
      createFineTuneJob(input: { model: "qwen3-8b", trainingFileIds: ["file-ft-0001"], hyperParameters: { nEpochs: 1, batchSize: 8, maxLength: 2048, extra: ${extra} } }) { id }
    }`);
    expect(body.errors?.[0]?.extensions).toMatchObject(depthError);
    expect(stack.upstreamCalls()).toBe(0);
  });

  it('keeps a __proto__ key of a JSON literal as data', async () => {
    const { createFineTuneJob } = await stack.ok(`mutation {
      createFineTuneJob(input: { model: "qwen3-8b", trainingFileIds: ["file-ft-0001"],
        hyperParameters: { nEpochs: 1, batchSize: 8, maxLength: 2048, extra: { opts: { __proto__: { polluted: true }, kept: 1 } } } }) { hyperParameters { raw } }
    }`);
    expect(JSON.stringify(createFineTuneJob.hyperParameters.raw.opts)).toBe('{"__proto__":{"polluted":true},"kept":1}');
  });
});

describe('a model named like an Object property', () => {
  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty'])(
    'prices a job of model %j as unknown, with no error',
    async (model) => {
      const id = `ft-odd-${model.replace(/_/g, 'u')}`;
      stack.emulator.putRawJob(DEMO_ACCOUNT.apiKey, { job_id: id, status: 'SUCCEEDED', model, base_model: model, usage: 1000 });
      const { fineTuneJob } = await stack.ok(`query($id: ID!) { fineTuneJob(id: $id) { model costEstimate { amount } } }`, { id });
      expect(fineTuneJob).toEqual({ model, costEstimate: null });
      expect(logs.records().filter((record) => record.level === 'error')).toEqual([]);
    },
  );
});

describe('internal errors', () => {
  it('reach the log, while the client sees only INTERNAL_SERVER_ERROR', async () => {
    // An output count beyond 2^31 cannot be an Int: an internal error, masked.
    stack.emulator.putRawJob(DEMO_ACCOUNT.apiKey, { job_id: 'ft-odd-count', status: 'SUCCEEDED', model: 'qwen3-8b', output_cnt: 2 ** 40 });
    const { body } = await stack.gql(`{ fineTuneJob(id: "ft-odd-count") { outputCount } }`);
    expect(body.errors?.[0]).toMatchObject({ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    const errors = logs.records().filter((record) => record.level === 'error');
    expect(errors).toHaveLength(1);
    expect(JSON.stringify(errors[0])).toContain('Int cannot represent non 32-bit signed integer value: 1099511627776');
  });
});

describe('a CR/LF in text that reaches the log', () => {
  it('is refused in a model name before anything goes upstream', async () => {
    stack.emulator.resetStats();
    const { body } = await stack.gql(CREATE, {
      input: {
        model: 'qwen3-8b\r\nERROR forged line',
        trainingFileIds: ['file-ft-0001'],
        hyperParameters: { nEpochs: 1, batchSize: 8, maxLength: 2048 },
      },
    });
    expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName: 'input.model' });
    expect(stack.upstreamCalls('create')).toBe(0);
  });

  it("stays escaped in the log line quoting an upstream 5xx's message", async () => {
    stack.emulator.injectFault({
      match: { route: 'create' },
      times: 1,
      fault: { kind: 'status', status: 500, message: 'boom\r\nERROR forged line' },
    });
    const { body } = await stack.gql(CREATE, {
      input: { model: 'qwen3-8b', trainingFileIds: ['file-ft-0001'], hyperParameters: { nEpochs: 1, batchSize: 8, maxLength: 2048 } },
    });
    expect(body.errors?.[0]?.extensions?.code).toBe('UPSTREAM_ERROR');
    // One JSON line, DashScope's text a field of it, the CR/LF escaped inside the string.
    const warning = logs.lines.find((line) => line.includes('forged line'));
    expect(warning).toContain('"upstreamMessage":"boom\\r\\nERROR forged line"');
    expect(logs.records().find((record) => record.event === 'upstream.fault')?.upstreamMessage).toBe('boom\r\nERROR forged line');
    expect(logs.lines.some((line) => /[\r\n]/.test(line))).toBe(false);
  });
});

describe('an upstream answer about another job', () => {
  const JOB = `query($id: ID!) { fineTuneJob(id: $id) { id status } }`;

  it('is UPSTREAM_BAD_RESPONSE and never cached under the id asked for', async () => {
    const other = await fetch(`${stack.emulator.url}/api/v1/fine-tunes/${SEED_JOB_IDS.failed}`, {
      headers: { authorization: `Bearer ${DEMO_ACCOUNT.apiKey}` },
    });
    stack.emulator.injectFault({
      match: { route: 'get', jobId: SEED_JOB_IDS.contractExample },
      times: 1,
      fault: { kind: 'body', body: await other.json() },
    });
    stack.emulator.resetStats();
    const { body } = await stack.gql(JOB, { id: SEED_JOB_IDS.contractExample });
    expect(body.data).toEqual({ fineTuneJob: null });
    expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'UPSTREAM_BAD_RESPONSE', retryable: false });
    // The next read asks again and gets the right job (a finished one, which is cached from then on).
    const data = await stack.ok(JOB, { id: SEED_JOB_IDS.contractExample });
    expect(data.fineTuneJob).toEqual({ id: SEED_JOB_IDS.contractExample, status: 'SUCCEEDED' });
    expect(stack.upstreamCalls('get')).toBe(2);
  });
});

describe('job ids that are other DashScope endpoints', () => {
  it.each(['outputs', 'compress', 'OUTPUTS'])('refuses %j everywhere an id is taken, with no upstream call', async (id) => {
    const operations = [
      `query($id: ID!) { fineTuneJob(id: $id) { id } }`,
      `query($id: ID!) { fineTuneJobsByIds(ids: [$id]) { id } }`,
      `mutation($id: ID!) { cancelFineTuneJob(id: $id) { id } }`,
      `mutation($id: ID!) { deleteFineTuneJob(id: $id) { id } }`,
    ];
    for (const operation of operations) {
      const { body } = await stack.gql(operation, { id });
      expect(body.errors?.[0]?.extensions?.code, operation).toBe('BAD_USER_INPUT');
      expect(body.errors?.[0]?.message).toContain('another DashScope endpoint');
    }
    expect(stack.upstreamCalls()).toBe(0);
  });
});

describe('x-dashscope-workspace in forward mode', () => {
  let forward: Stack;
  beforeAll(async () => {
    forward = await startStack({ env: { AUTH_MODE: 'forward' } });
  });
  afterAll(() => forward.close());
  beforeEach(() => forward.emulator.resetStats());

  const as = (workspace?: string) => ({
    authorization: `Bearer ${DEMO_ACCOUNT.apiKey}`,
    ...(workspace !== undefined && { 'x-dashscope-workspace': workspace }),
  });
  const JOB = `query($id: ID!) { fineTuneJob(id: $id) { id } }`;

  it.each(['bad workspace!', '..', '', 'x'.repeat(129), 'ws/../other'])(
    'refuses a malformed one (%j) with BAD_USER_INPUT',
    async (workspace) => {
      const { body } = await forward.gql(JOB, { id: SEED_JOB_IDS.contractExample }, as(workspace));
      expect(body.data).toEqual({ fineTuneJob: null });
      expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', retryable: false });
      expect(body.errors?.[0]?.message).toContain('x-dashscope-workspace');
      expect(forward.upstreamCalls()).toBe(0);
    },
  );

  it('refuses a create with a malformed one, with no upstream call', async () => {
    const { body } = await forward.gql(
      CREATE,
      { input: { model: 'qwen3-8b', trainingFileIds: ['file-ft-0001'], hyperParameters: { nEpochs: 1, batchSize: 8, maxLength: 2048 } } },
      as('a b'),
    );
    expect(body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(forward.upstreamCalls()).toBe(0);
  });

  it('passes a well-formed one on, and acts without one when none is sent', async () => {
    await forward.ok(JOB, { id: SEED_JOB_IDS.contractExample }, as(DEMO_ACCOUNT.workspaceId));
    await forward.ok(JOB, { id: SEED_JOB_IDS.contractExample }, as());
    const wrong = await forward.gql(JOB, { id: SEED_JOB_IDS.running }, as('llm-other'));
    expect(wrong.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });
});
