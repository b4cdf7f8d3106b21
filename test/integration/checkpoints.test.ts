import { parse } from 'graphql';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEMO_ACCOUNT, SEED_JOB_IDS, type EmulatorAccount } from '../../src/emulator/index.js';
import { fieldCosts } from '../../src/modules/index.js';
import { estimateUpstreamCalls } from '../../src/plugins/use-fan-out-budget.js';
import { buildSchema } from '../../src/schema.js';
import { startStack, type Stack } from '../support/stack.js';

/*
 * Checkpoints of every family, their export (the contract §6.9, §6.10, §6.14) and the validation artifacts of image
 * and video jobs (§6.11), over HTTP against the emulator. The emulator's clock is the test's, so that an export's
 * PROCESSING → SUCCEEDED happens when the test moves it.
 */
const { wanVideo: WAN, cosyVoice: COSY, contractExample: TEXT, bigUsage: TEXT_WITH_CHECKPOINTS } = SEED_JOB_IDS;
const START = Date.parse('2026-11-27T04:00:00Z');
let clock = START;

const CHECKPOINTS = `query ($id: ID!) { fineTuneJob(id: $id) { id checkpoints { id name jobId step status modelName modelDisplayName createdAt expiresAt } } }`;
const EXPORT = `mutation ($jobId: ID!, $checkpointId: ID!, $modelName: String!) {
  exportCheckpoint(jobId: $jobId, checkpointId: $checkpointId, modelName: $modelName) { id name status modelName modelDisplayName }
}`;
const VALIDATION = `query ($id: ID!, $page: Int!, $pageSize: Int!) {
  fineTuneJob(id: $id) { validationResults { checkpoint details(page: $page, pageSize: $pageSize) { page pageSize total hasNextPage items { videoPath prompt firstFramePath } } } }
}`;

type Checkpoint = Record<string, unknown> & { name: string; status: string };
const codeOf = (body: { errors?: Array<{ extensions?: Record<string, unknown> }> }) => body.errors?.[0]?.extensions?.code;

let stack: Stack;
const startOwnStack = () => startStack({ env: { CACHE_ENABLED: 'false' }, emulator: { now: () => clock } });
beforeAll(async () => {
  stack = await startOwnStack();
});
afterAll(() => stack.close());
beforeEach(() => {
  clock = START;
  stack.emulator.clearFaults();
  stack.emulator.resetStats();
});

const checkpointsOf = async (id: string) =>
  (await stack.ok<{ fineTuneJob: { checkpoints: Checkpoint[] } }>(CHECKPOINTS, { id })).fineTuneJob.checkpoints;

describe('checkpoints of each family', () => {
  it('CosyVoice: checkpoint_id, step and expire_time, highest rank first', async () => {
    const list = await checkpointsOf(COSY);
    expect(list.map((c) => c.step)).toEqual([30003, 20002, 20001, 10001]);
    expect(list[0]).toEqual({
      id: `${COSY}:checkpoint-30003`,
      name: 'checkpoint-00030003',
      jobId: COSY,
      step: 30003,
      status: 'SUCCEEDED',
      modelName: `cosyvoice-v3-flash-${COSY}-c30003`,
      modelDisplayName: 'narrator-v3',
      createdAt: '2026-05-27T18:07:16+08:00',
      expiresAt: '2026-06-11T18:07:16+08:00',
    });
  });

  it('Wan: no checkpoint_id, step or expire_time, ids like {job}-checkpoint-160', async () => {
    const list = await checkpointsOf(WAN);
    expect(list.map((c) => [c.id, c.name, c.step, c.status, c.expiresAt])).toEqual([
      [`${WAN}-checkpoint-240`, 'checkpoint-240', null, 'SUCCEEDED', null],
      [`${WAN}-checkpoint-160`, 'checkpoint-160', null, 'PENDING', null],
      [`${WAN}-checkpoint-80`, 'checkpoint-80', null, 'PENDING', null],
    ]);
    expect(list[0]).toMatchObject({ jobId: WAN, modelName: `wan2.5-i2v-preview-${WAN}-c240`, modelDisplayName: 'paper-boat-v1' });
  });

  it('a checkpoint with only its name and a status DashScope adds later: identified by the name, status UNKNOWN', async () => {
    stack.emulator.injectFault({
      match: { route: 'checkpoints' },
      fault: { kind: 'body', body: { request_id: 'r', output: [{ checkpoint: 'checkpoint-7', status: 'ARCHIVED' }] } },
    });
    expect(await checkpointsOf(TEXT)).toEqual([
      expect.objectContaining({ id: `${TEXT}:checkpoint-7`, name: 'checkpoint-7', status: 'UNKNOWN', step: null }),
    ]);
  });

  it('a text job without checkpoints: an empty list, and a 400 from DashScope for one reads as an empty list too', async () => {
    expect(await checkpointsOf(TEXT)).toEqual([]);
    stack.emulator.injectFault({ match: { route: 'checkpoints' }, fault: { kind: 'status', status: 400, code: 'InvalidParameter' } });
    expect(await checkpointsOf(TEXT)).toEqual([]);
    expect(stack.upstreamCalls('checkpoints')).toBe(2);
  });

  it('a 400 for a family that has checkpoints, and a 404 for any, stay errors', async () => {
    stack.emulator.injectFault({
      match: { route: 'checkpoints' },
      times: 1,
      fault: { kind: 'status', status: 400, code: 'InvalidParameter' },
    });
    const cosy = await stack.gql(CHECKPOINTS, { id: COSY });
    expect(codeOf(cosy.body)).toBe('BAD_USER_INPUT');
    expect(cosy.body.data).toEqual({ fineTuneJob: { id: COSY, checkpoints: null } });
    stack.emulator.injectFault({ match: { route: 'checkpoints' }, fault: { kind: 'status', status: 404, code: 'NotFound' } });
    expect(codeOf((await stack.gql(CHECKPOINTS, { id: TEXT })).body)).toBe('NOT_FOUND');
  });
});

describe('exportCheckpoint', () => {
  // Exports move checkpoints on for good: whatever runs after them (in any order) starts from the seeded states again.
  afterAll(async () => {
    await stack.close();
    stack = await startOwnStack();
  });

  it('exports a PENDING checkpoint: PROCESSING at once, SUCCEEDED with its modelName on the emulator clock', async () => {
    const exported = await stack.ok(EXPORT, { jobId: WAN, checkpointId: `${WAN}-checkpoint-160`, modelName: 'paper-boat-v2' });
    expect(exported.exportCheckpoint).toEqual({
      id: `${WAN}-checkpoint-160`,
      name: 'checkpoint-160',
      status: 'PROCESSING',
      modelName: null,
      modelDisplayName: null,
    });
    expect(stack.upstreamCalls('export')).toBe(1);
    expect(stack.upstreamCalls('checkpoints')).toBe(1);
    clock = START + 5000;
    const after = (await checkpointsOf(WAN)).find((c) => c.name === 'checkpoint-160');
    expect(after).toMatchObject({ status: 'SUCCEEDED', modelName: `wan2.5-i2v-preview-${WAN}-c160`, modelDisplayName: 'paper-boat-v2' });
  });

  it('takes the checkpoint by name or by CosyVoice id; a checkpoint already exported is UNSUPPORTED_OPERATION', async () => {
    const query = `mutation ($m: String!) {
      before: exportCheckpoint(jobId: "${COSY}", checkpointId: "checkpoint-00020001", modelName: $m) { status }
    }`;
    expect((await stack.ok(query, { m: 'narrator-v2-1' })).before.status).toBe('PROCESSING');
    const again = await stack.gql(EXPORT, { jobId: COSY, checkpointId: `${COSY}:checkpoint-20001`, modelName: 'narrator-other' });
    expect(codeOf(again.body)).toBe('UNSUPPORTED_OPERATION');
  });

  it('a modelName already in use (a repeated export too) is CONFLICT; unknown checkpoint or job NOT_FOUND', async () => {
    const taken = await stack.gql(EXPORT, { jobId: WAN, checkpointId: 'checkpoint-80', modelName: 'narrator-v1' });
    expect(codeOf(taken.body)).toBe('CONFLICT');
    expect(taken.body.errors?.[0]?.extensions).toMatchObject({ retryable: false, upstream: { httpStatus: 409, code: 'Conflict' } });
    expect(codeOf((await stack.gql(EXPORT, { jobId: WAN, checkpointId: 'checkpoint-9', modelName: 'x1' })).body)).toBe('NOT_FOUND');
    expect(codeOf((await stack.gql(EXPORT, { jobId: 'ft-202001010000-0000', checkpointId: 'checkpoint-9', modelName: 'x1' })).body)).toBe(
      'NOT_FOUND',
    );
    // None of these was read back: an export that failed is not followed by a read.
    expect(stack.upstreamCalls('checkpoints')).toBe(0);
  });

  it.each([
    ['an empty modelName', { modelName: '' }, 'modelName'],
    ['a modelName over 64 characters', { modelName: 'm'.repeat(65) }, 'modelName'],
    ['a modelName with a space', { modelName: 'my model' }, 'modelName'],
    ['a modelName starting with "-"', { modelName: '-model' }, 'modelName'],
    ['a modelName with a "/"', { modelName: 'a/../b' }, 'modelName'],
    ['a checkpoint id with a path', { checkpointId: '../checkpoint-80' }, 'checkpointId'],
    ["another job's checkpoint id", { checkpointId: `${COSY}:checkpoint-20001` }, 'checkpointId'],
    ['a bad job id', { jobId: 'ft-1/../x' }, 'jobId'],
  ])('refuses %s with BAD_USER_INPUT and no upstream call', async (_name, bad, argumentName) => {
    const { body } = await stack.gql(EXPORT, { jobId: WAN, checkpointId: 'checkpoint-80', modelName: 'fine-name', ...bad });
    expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName });
    expect(stack.upstreamCalls()).toBe(0);
  });

  it('DashScope answering false: a retryable UPSTREAM_ERROR, and nothing exported', async () => {
    stack.emulator.injectFault({ match: { route: 'export' }, times: 1, fault: { kind: 'body', body: { request_id: 'r', output: false } } });
    const failed = await stack.gql(EXPORT, { jobId: WAN, checkpointId: 'checkpoint-80', modelName: 'boat-retry' });
    expect(failed.body.errors?.[0]?.extensions).toMatchObject({ code: 'UPSTREAM_ERROR', retryable: true });
    expect((await checkpointsOf(WAN)).find((c) => c.name === 'checkpoint-80')?.status).toBe('PENDING');
  });

  it('is never retried automatically: a 500 or a reset is one call, with its code', async () => {
    stack.emulator.injectFault({ match: { route: 'export' }, times: 1, fault: { kind: 'status', status: 500, code: 'InternalError' } });
    const failed = await stack.gql(EXPORT, { jobId: WAN, checkpointId: 'checkpoint-80', modelName: 'boat-500' });
    expect(failed.body.errors?.[0]?.extensions).toMatchObject({ code: 'UPSTREAM_ERROR', retryable: true });
    stack.emulator.injectFault({ match: { route: 'export' }, times: 1, fault: { kind: 'reset' } });
    expect(codeOf((await stack.gql(EXPORT, { jobId: WAN, checkpointId: 'checkpoint-80', modelName: 'boat-reset' })).body)).toBe(
      'UPSTREAM_UNAVAILABLE',
    );
    stack.emulator.injectFault({
      match: { route: 'export' },
      times: 1,
      fault: { kind: 'status', status: 429, code: 'Throttling.RateQuota' },
    });
    expect(codeOf((await stack.gql(EXPORT, { jobId: WAN, checkpointId: 'checkpoint-80', modelName: 'boat-429' })).body)).toBe(
      'RATE_LIMITED',
    );
    expect(stack.upstreamCalls('export')).toBe(3);
  });
});

describe('validation results', () => {
  type Page = { page: number; pageSize: number; total: number | null; hasNextPage: boolean; items: Array<Record<string, string>> };
  const read = async (id: string, page = 1, pageSize = 10) =>
    (
      await stack.ok<{ fineTuneJob: { validationResults: Array<{ checkpoint: string; details: Page }> } }>(VALIDATION, {
        id,
        page,
        pageSize,
      })
    ).fineTuneJob.validationResults;

  it('a finished Wan job: one entry per checkpoint, each with pages of samples', async () => {
    const results = await read(WAN);
    expect(results.map((r) => r.checkpoint)).toEqual(['checkpoint-240', 'checkpoint-160', 'checkpoint-80']);
    const first = results[0]!.details;
    expect(first).toMatchObject({ page: 1, pageSize: 10, total: 12, hasNextPage: true });
    expect(first.items).toHaveLength(10);
    expect(first.items[0]).toEqual({
      videoPath: expect.stringMatching(new RegExp(`^https://.+/validation/${WAN}/checkpoint-240/sample-1\\.mp4\\?Expires=`)),
      prompt: expect.stringContaining('Validation prompt 1'),
      firstFramePath: expect.stringContaining('sample-1.png'),
    });
    // One call for the list, one per checkpoint's page.
    expect(stack.upstreamCalls('validation-results')).toBe(1);
    expect(stack.upstreamCalls('validation-details')).toBe(3);
    const last = (await read(WAN, 2, 10))[0]!.details;
    expect(last).toMatchObject({ page: 2, total: 12, hasNextPage: false });
    expect(last.items).toHaveLength(2);
  });

  it('tolerates a page without its paging fields, or a bare list', async () => {
    const items = Array.from({ length: 3 }, (_, i) => ({ video_path: `v${i}`, prompt: `p${i}`, first_frame_path: `f${i}` }));
    stack.emulator.injectFault({
      match: { route: 'validation-details' },
      fault: { kind: 'body', body: { request_id: 'r', output: { list: items } } },
    });
    const page = (await read(WAN, 1, 3))[0]!.details;
    expect(page).toMatchObject({ page: 1, pageSize: 3, total: null, hasNextPage: true });
    expect(page.items[2]).toEqual({ videoPath: 'v2', prompt: 'p2', firstFramePath: 'f2' });
    stack.emulator.clearFaults();
    stack.emulator.injectFault({
      match: { route: 'validation-details' },
      fault: { kind: 'body', body: { request_id: 'r', output: items.slice(0, 2) } },
    });
    expect((await read(WAN, 1, 3))[0]!.details).toMatchObject({ total: null, hasNextPage: false });
  });

  it('empty until the job finishes; text and CosyVoice jobs answer an empty list without an upstream call', async () => {
    expect(await read(TEXT)).toEqual([]);
    expect(await read(COSY)).toEqual([]);
    expect(await read(TEXT_WITH_CHECKPOINTS)).toEqual([]);
    expect(stack.upstreamCalls('validation-results')).toBe(0);
    const created = await stack.ok(
      `mutation { createFineTuneJob(input: { model: "wan2.2-i2v-flash", trainingType: "efficient_sft", trainingFileIds: ["file-ft-1"], hyperParameters: { nEpochs: 1, batchSize: 1, maxLength: 1 } }) { id } }`,
    );
    expect(await read(created.createFineTuneJob.id)).toEqual([]);
    expect(stack.upstreamCalls('validation-results')).toBe(1);
  });

  it('refuses a bad page or pageSize with BAD_USER_INPUT and no details call', async () => {
    for (const [page, pageSize, argumentName] of [
      [0, 10, 'page'],
      [1, 0, 'pageSize'],
      [1, 101, 'pageSize'],
    ] as const) {
      const { body } = await stack.gql(VALIDATION, { id: WAN, page, pageSize });
      expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName });
    }
    expect(stack.upstreamCalls('validation-details')).toBe(0);
  });

  it('a failing details page: validationResults null with the code; the job still resolves', async () => {
    // Not limited in times: a GET's 500 is retried.
    stack.emulator.injectFault({
      match: { route: 'validation-details', jobId: WAN },
      fault: { kind: 'status', status: 500, code: 'InternalError' },
    });
    const { body } = await stack.gql(VALIDATION, { id: WAN, page: 1, pageSize: 1 });
    expect(codeOf(body)).toBe('UPSTREAM_ERROR');
    expect(body.data).toEqual({ fineTuneJob: { validationResults: null } });
  });
});

describe('declared costs', () => {
  const schema = buildSchema();
  const estimate = (query: string) => estimateUpstreamCalls(fieldCosts, schema, parse(query), undefined, {});

  it('an export costs what it declares: the export and the re-read', async () => {
    const query = `mutation { exportCheckpoint(jobId: "${COSY}", checkpointId: "checkpoint-00010001x", modelName: "cost-check") { status } }`;
    await stack.gql(query);
    // A NOT_FOUND export: one call, within its declared two.
    expect(stack.upstreamCalls()).toBe(1);
    expect(estimate(query)).toBe(2);
  });

  it('validation results cost at most what they declare: one list call, one call per checkpoint page', async () => {
    const query = `{ fineTuneJob(id: "${WAN}") { validationResults { details { total } } } }`;
    await stack.ok(query);
    expect(stack.upstreamCalls()).toBe(1 + 1 + 3);
    expect(estimate(query)).toBe(1 + 1 + 10);
  });
});

describe('forward mode', () => {
  const other: EmulatorAccount = { apiKey: 'sk-emulator-other', workspaceId: 'llm-other0001', userId: '2234567890123456', seed: true };
  const as = (apiKey: string) => ({ authorization: `Bearer ${apiKey}` });
  let forward: Stack;
  beforeAll(async () => {
    forward = await startStack({ env: { AUTH_MODE: 'forward' }, emulator: { accounts: [DEMO_ACCOUNT, other] } });
  });
  afterAll(() => forward.close());

  it("one key's export changes only its own checkpoint; the name is then taken for every key", async () => {
    const mine = await forward.ok(EXPORT, { jobId: WAN, checkpointId: 'checkpoint-80', modelName: 'only-mine' }, as(other.apiKey));
    expect(mine.exportCheckpoint.status).toBe('PROCESSING');
    const demo = await forward.ok<{ fineTuneJob: { checkpoints: Checkpoint[] } }>(CHECKPOINTS, { id: WAN }, as(DEMO_ACCOUNT.apiKey));
    expect(demo.fineTuneJob.checkpoints.find((c) => c.name === 'checkpoint-80')?.status).toBe('PENDING');
    const again = await forward.gql(EXPORT, { jobId: WAN, checkpointId: 'checkpoint-80', modelName: 'only-mine' }, as(DEMO_ACCOUNT.apiKey));
    expect(codeOf(again.body)).toBe('CONFLICT');
    const requests = forward.emulator.stats().requests.filter((r) => r.route === 'export');
    expect(new Set(requests.map((r) => r.apiKeyHash)).size).toBe(2);
  });

  it('without a key: UNAUTHENTICATED, nothing sent', async () => {
    forward.emulator.resetStats();
    const { body } = await forward.gql(EXPORT, { jobId: WAN, checkpointId: 'checkpoint-80', modelName: 'nobody' });
    expect(codeOf(body)).toBe('UNAUTHENTICATED');
    expect(forward.upstreamCalls()).toBe(0);
  });
});
