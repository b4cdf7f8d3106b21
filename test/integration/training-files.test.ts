import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEMO_ACCOUNT, SEED_FILE_IDS, SEED_JOB_IDS, startEmulator, type Emulator, type EmulatorAccount } from '../../src/emulator/index.js';
import { startStack, type Stack } from '../support/stack.js';

/*
 * Training files (docs/upstream.md §6.12, DashScope's OpenAI-compatible `/compatible-mode/v1/files`) through the
 * gateway, over HTTP, against the emulator: list, get, delete, and `FineTuneJob.trainingFiles`.
 */

const FIELDS = 'id filename bytes purpose status createdAt';
const GET = `query($id: ID!) { trainingFile(id: $id) { ${FIELDS} } }`;
const LIST = `query($page: Int, $pageSize: Int) { trainingFiles(page: $page, pageSize: $pageSize) { items { ${FIELDS} } total hasNextPage page pageSize } }`;
const DELETE = `mutation($id: ID!) { deleteTrainingFile(id: $id) }`;
/** The file of the seeded CANCELED job: deleted by one test only. */
const CANCELED_JOB_FILE = 'file-ft-9a4c2e6b8d0f4c1a9e3b5d7f1a2c4e68';

type Response = Awaited<ReturnType<Stack['gql']>>;
function errorOf(response: Response) {
  expect(response.body.errors, JSON.stringify(response.body)).toHaveLength(1);
  return response.body.errors![0]!;
}
const fileCalls = (stack: Stack) =>
  Object.entries(stack.emulator.stats().byRoute)
    .filter(([route]) => route.startsWith('file-'))
    .reduce((sum, [, n]) => sum + n, 0);

describe('training files against the emulator', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { UPSTREAM_BREAKER_FAILURES: '1000', CACHE_ENABLED: 'false' } });
  });
  afterAll(() => stack.close());
  beforeEach(() => {
    stack.emulator.clearFaults();
    stack.emulator.resetStats();
  });

  it('reads one file in its documented shape, and null for an unknown id', async () => {
    const file = (await stack.ok(GET, { id: SEED_FILE_IDS.demo })).trainingFile;
    expect(file).toMatchObject({ id: SEED_FILE_IDS.demo, filename: 'demo-train.jsonl', purpose: 'fine-tune', status: 'processed' });
    expect(file.bytes).toBeGreaterThan(0);
    expect(file.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    expect((await stack.ok(GET, { id: 'file-ft-nope' })).trainingFile).toBeNull();
    expect(stack.upstreamCalls('file-get')).toBe(2);
  });

  it('pages the list itself from one upstream call, newest first, the seeded files included', async () => {
    const all = (await stack.ok(LIST, { page: 1, pageSize: 100 })).trainingFiles;
    expect(all.items.map((f: { id: string }) => f.id)).toEqual(expect.arrayContaining([SEED_FILE_IDS.demo, SEED_FILE_IDS.first]));
    expect(all).toMatchObject({ total: all.items.length, hasNextPage: false, page: 1, pageSize: 100 });
    const times = all.items.map((f: { createdAt: string }) => Date.parse(f.createdAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    const second = (await stack.ok(LIST, { page: 2, pageSize: 3 })).trainingFiles;
    expect(second).toMatchObject({ total: all.total, page: 2, pageSize: 3, hasNextPage: all.total > 6 });
    expect(second.items).toEqual(all.items.slice(3, 6));
    expect(stack.upstreamCalls('file-list')).toBe(2);
  });

  it('tolerates a list with has_more and without paging fields, and leaves out elements without an id', async () => {
    const one = {
      id: 'file-ft-x',
      object: 'file',
      bytes: 3_000_000_000,
      filename: 'big.zip',
      purpose: 'fine-tune',
      created_at: 1_700_000_000,
    };
    stack.emulator.injectFault({
      match: { route: 'file-list' },
      times: 1,
      fault: { kind: 'body', body: { data: [one, { nope: 1 }], has_more: true } },
    });
    expect((await stack.ok(LIST, {})).trainingFiles).toMatchObject({
      total: 1,
      hasNextPage: true,
      items: [{ id: 'file-ft-x', bytes: 3_000_000_000, createdAt: '2023-11-14T22:13:20.000Z', status: null }],
    });
    stack.emulator.injectFault({ match: { route: 'file-list' }, times: 1, fault: { kind: 'body', body: { data: [one] } } });
    expect((await stack.ok(LIST, {})).trainingFiles).toMatchObject({ total: 1, hasNextPage: false });
  });

  it('deletes a file: then it is gone, a second delete is NOT_FOUND, and the job that named it leaves it out', async () => {
    expect((await stack.ok(DELETE, { id: CANCELED_JOB_FILE })).deleteTrainingFile).toBe(true);
    expect((await stack.ok(GET, { id: CANCELED_JOB_FILE })).trainingFile).toBeNull();
    const again = errorOf(await stack.gql(DELETE, { id: CANCELED_JOB_FILE }));
    expect(again.extensions).toMatchObject({ code: 'NOT_FOUND', upstream: { httpStatus: 404 } });
    const job = (await stack.ok(`{ fineTuneJob(id: "${SEED_JOB_IDS.canceled}") { trainingFileIds trainingFiles { id } } }`)).fineTuneJob;
    expect(job).toEqual({ trainingFileIds: [CANCELED_JOB_FILE], trainingFiles: [] });
  });

  it('refuses bad ids and pages with BAD_USER_INPUT, and calls nothing upstream', async () => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      [GET, { id: '../fine-tunes' }, 'id'],
      [GET, { id: 'a/b' }, 'id'],
      [DELETE, { id: '..' }, 'id'],
      [DELETE, { id: 'x'.repeat(200) }, 'id'],
      [LIST, { pageSize: 0 }, 'pageSize'],
      [LIST, { pageSize: 101 }, 'pageSize'],
      [LIST, { page: 0 }, 'page'],
    ];
    for (const [query, variables, argument] of cases) {
      const error = errorOf(await stack.gql(query, variables));
      expect(error.extensions, JSON.stringify(variables)).toMatchObject({ code: 'BAD_USER_INPUT', argumentName: argument });
    }
    expect(stack.upstreamCalls()).toBe(0);
  });

  it("maps upstream failures, in OpenAI's error shape or DashScope's, through the error table", async () => {
    const openAi = { error: { message: 'The server had an error', type: 'server_error', code: null } };
    stack.emulator.injectFault({ match: { route: 'file-list' }, fault: { kind: 'body', status: 500, body: openAi } });
    const failed = errorOf(await stack.gql(LIST, {}));
    expect(failed.extensions).toMatchObject({ code: 'UPSTREAM_ERROR', upstream: { httpStatus: 500, code: 'server_error' } });
    stack.emulator.clearFaults();
    stack.emulator.injectFault({ match: { route: 'file-get' }, fault: { kind: 'status', status: 429, code: 'Throttling.RateQuota' } });
    expect(errorOf(await stack.gql(GET, { id: SEED_FILE_IDS.first })).extensions).toMatchObject({ code: 'RATE_LIMITED', retryable: true });
    stack.emulator.clearFaults();
    // A delete is never retried: a reset is one call, reported as the connection failure it is; the file stays.
    stack.emulator.injectFault({ match: { route: 'file-delete' }, times: 1, fault: { kind: 'reset' } });
    expect(errorOf(await stack.gql(DELETE, { id: SEED_FILE_IDS.first })).extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    expect(stack.upstreamCalls('file-delete')).toBe(1);
    expect((await stack.ok(GET, { id: SEED_FILE_IDS.first })).trainingFile).toMatchObject({ id: SEED_FILE_IDS.first });
  });

  it('FineTuneJob.trainingFiles reads each distinct file once per operation', async () => {
    const create = `mutation { createFineTuneJob(input: { model: "qwen3-8b", trainingFileIds: ["${SEED_FILE_IDS.first}"], hyperParameters: { nEpochs: 1, batchSize: 8, maxLength: 2048 } }) { id } }`;
    const a = (await stack.ok(create)).createFineTuneJob.id as string;
    const b = (await stack.ok(create)).createFineTuneJob.id as string;
    stack.emulator.resetStats();
    const { fineTuneJobsByIds } = await stack.ok(
      `query($ids: [ID!]!) { fineTuneJobsByIds(ids: $ids) { id trainingFiles { id filename } } }`,
      {
        ids: [a, b],
      },
    );
    expect(fineTuneJobsByIds).toEqual([
      { id: a, trainingFiles: [{ id: SEED_FILE_IDS.first, filename: expect.any(String) }] },
      { id: b, trainingFiles: [{ id: SEED_FILE_IDS.first, filename: expect.any(String) }] },
    ]);
    expect(stack.upstreamCalls('file-get')).toBe(1);
    expect(fileCalls(stack)).toBe(1);
  });
});

describe('training files in forward mode: each key sees only its own', () => {
  const A: EmulatorAccount = { ...DEMO_ACCOUNT };
  const B: EmulatorAccount = { apiKey: 'sk-files-b', workspaceId: 'llm-b', userId: '2', seed: false };
  const as = (account: EmulatorAccount) => ({ authorization: `Bearer ${account.apiKey}` });
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { AUTH_MODE: 'forward' }, emulator: { accounts: [A, B] } });
  });
  afterAll(() => stack.close());

  it("one key's files are invisible to another, which cannot delete them", async () => {
    expect((await stack.ok(GET, { id: SEED_FILE_IDS.demo }, as(B))).trainingFile).toBeNull();
    expect((await stack.ok(LIST, {}, as(B))).trainingFiles).toMatchObject({ total: 0, items: [], hasNextPage: false });
    expect(errorOf(await stack.gql(DELETE, { id: SEED_FILE_IDS.demo }, as(B))).extensions).toMatchObject({ code: 'NOT_FOUND' });
    expect((await stack.ok(GET, { id: SEED_FILE_IDS.demo }, as(A))).trainingFile).toMatchObject({ id: SEED_FILE_IDS.demo });
  });

  it('without a key: UNAUTHENTICATED, nothing sent', async () => {
    stack.emulator.resetStats();
    expect(errorOf(await stack.gql(LIST, {})).extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(stack.upstreamCalls()).toBe(0);
  });
});

describe('the emulator serves training files in the OpenAI shapes', () => {
  let emulator: Emulator;
  const call = async (path: string, init: { method?: string; key?: string | null } = {}) => {
    const key = init.key === undefined ? DEMO_ACCOUNT.apiKey : init.key;
    const response = await fetch(`${emulator.url}/compatible-mode/v1/files${path}`, {
      method: init.method ?? 'GET',
      headers: key === null ? {} : { authorization: `Bearer ${key}` },
    });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };
  beforeAll(async () => {
    emulator = await startEmulator({
      accounts: [DEMO_ACCOUNT, { apiKey: 'sk-files-other', workspaceId: 'llm-o', userId: '9', seed: false }],
    });
  });
  afterAll(() => emulator.close());

  it('lists, reads and deletes as OpenAI does, each account its own files', async () => {
    const list = await call('');
    expect(list).toMatchObject({ status: 200, body: { object: 'list', has_more: false } });
    expect(list.body.data).toContainEqual({
      id: SEED_FILE_IDS.demo,
      object: 'file',
      bytes: expect.any(Number),
      filename: 'demo-train.jsonl',
      purpose: 'fine-tune',
      status: 'processed',
      created_at: expect.any(Number),
    });
    // Every file a seeded job names exists.
    const ids = new Set(list.body.data.map((f: { id: string }) => f.id));
    for (const id of ['file-ft-b2416bacc4d742f2a1a7bd5e0c9ad9c3', 'file-ft-7c1d9e0a4b5f4e26a3c8d1f0b2e4a6c8', SEED_FILE_IDS.first])
      expect(ids).toContain(id);
    expect(await call(`/${SEED_FILE_IDS.first}`)).toMatchObject({ status: 200, body: { id: SEED_FILE_IDS.first, object: 'file' } });
    expect(await call('', { key: 'sk-files-other' })).toMatchObject({ status: 200, body: { object: 'list', data: [] } });
    expect(await call(`/${SEED_FILE_IDS.first}`, { key: 'sk-files-other', method: 'DELETE' })).toMatchObject({
      status: 404,
      body: { error: { type: 'invalid_request_error', code: 'NotFound' } },
    });
    expect(await call(`/${SEED_FILE_IDS.first}`, { method: 'DELETE' })).toEqual({
      status: 200,
      body: { id: SEED_FILE_IDS.first, object: 'file', deleted: true },
    });
    expect(await call(`/${SEED_FILE_IDS.first}`)).toMatchObject({
      status: 404,
      body: { error: { message: expect.stringContaining('No such File') } },
    });
  });

  it("answers a missing key in OpenAI's shape, as DashScope's compatible mode does", async () => {
    expect(await call('', { key: null })).toMatchObject({
      status: 401,
      body: { error: { type: 'invalid_request_error', code: 'invalid_api_key' } },
    });
    expect(emulator.stats().byRoute['file-list']).toBeGreaterThan(0);
  });
});
