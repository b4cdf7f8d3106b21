import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveSeedJobIds, SEED_JOB_IDS, startEmulator, type Emulator, type EmulatorAccount } from '../../src/emulator/index.js';
import { ROUTES } from '../../src/emulator/router.js';

const ALICE: EmulatorAccount = { apiKey: 'sk-alice', workspaceId: 'llm-alice001', userId: '1111111111111111', seed: true };
const BOB: EmulatorAccount = { apiKey: 'sk-bob', workspaceId: 'llm-bob00001', userId: '2222222222222222' };
const START = Date.parse('2026-12-01T02:00:00Z'); // 10:00 in UTC+8
const API = '/api/v1/fine-tunes';

let clock = START;
let emulator: Emulator;

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

/** Loose view of a job or checkpoint: tests only read a few fields. */
interface Row {
  [key: string]: unknown;
  job_id: string;
  status: string;
  create_time: string;
  hyper_parameters: Record<string, unknown>;
  step: number;
  checkpoint: string;
}
interface Page {
  page_no: number;
  page_size: number;
  total: number;
  jobs: Row[];
}
interface Logs {
  total: number;
  logs: string[];
}
interface ErrorBody {
  code: string;
  message: string;
  request_id: string;
}

async function call(
  path: string,
  init: { method?: string; key?: string | null; body?: unknown; headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<Answer> {
  const key = init.key === undefined ? ALICE.apiKey : init.key;
  const response = await fetch(`${emulator.url}${path}`, {
    method: init.method ?? 'GET',
    headers: {
      ...(key !== null && { authorization: `Bearer ${key}` }),
      ...(init.body !== undefined && { 'content-type': 'application/json' }),
      ...init.headers,
    },
    ...(init.body !== undefined && { body: JSON.stringify(init.body) }),
    ...(init.signal && { signal: init.signal }),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

async function out<T = Row>(...args: Parameters<typeof call>): Promise<T> {
  const answer = await call(...args);
  expect(answer.status, answer.text).toBe(200);
  return (answer.json as { output: T }).output;
}

function expectError(answer: Answer, status: number, code: string, message?: string): void {
  expect(answer.status, answer.text).toBe(status);
  const body = answer.json as ErrorBody;
  expect(Object.keys(body).sort()).toEqual(['code', 'message', 'request_id']);
  expect(body.code).toBe(code);
  if (message !== undefined) expect(body.message).toBe(message);
  expect(body.request_id).toMatch(/^[0-9a-f-]{36}$/i);
}

const createBody = {
  model: 'qwen3-8b',
  training_file_ids: ['file-ft-a', 'file-ft-b'],
  hyper_parameters: {
    n_epochs: 2,
    batch_size: 8,
    max_length: 2048,
    learning_rate: '1.6e-5',
    save_strategy: 'steps',
    save_steps: 50,
    save_total_limit: 2,
  },
  finetuned_output_suffix: 'demo',
};

beforeAll(async () => {
  emulator = await startEmulator({
    accounts: [ALICE, BOB],
    now: () => clock,
    phaseDurationsMs: { pending: 1000, queuing: 1000, running: 10_000 },
  });
});

afterAll(async () => {
  await emulator.close();
});

describe('auth and isolation', () => {
  it('rejects a missing or unknown key with the InvalidApiKey envelope', async () => {
    expectError(await call(API, { key: null }), 401, 'InvalidApiKey', 'Invalid API-key provided.');
    expectError(await call(`${API}/${SEED_JOB_IDS.contractExample}`, { key: 'sk-nope' }), 401, 'InvalidApiKey');
  });

  it('checks the workspace header against the account', async () => {
    const wrong = await call(API, { headers: { 'X-DashScope-WorkSpace': 'llm-other' } });
    expectError(wrong, 404, 'WorkSpaceNotFound', 'WorkSpace can not be found.');
    expect((await call(API, { headers: { 'X-DashScope-WorkSpace': ALICE.workspaceId } })).status).toBe(200);
  });

  it('shows each account only its own jobs', async () => {
    expectError(await call(`${API}/${SEED_JOB_IDS.contractExample}`, { key: BOB.apiKey }), 404, 'NotFound', 'Not Found!');
    // Other tests add jobs to Bob's account too: count from what it holds now.
    const before = (await out<Page>(`${API}?page_size=100`, { key: BOB.apiKey })).total;
    const created = await call(API, { method: 'POST', key: BOB.apiKey, body: createBody });
    expect(created.status).toBe(200);
    expect((created.json as { output: Row }).output.workspace_id).toBe(BOB.workspaceId);
    expect((await out<Page>(`${API}?page_size=100`, { key: BOB.apiKey })).total).toBe(before + 1);
    expect((await call(`${API}/${(created.json as { output: Row }).output.job_id}`)).status).toBe(404);
  });
});

describe('seed data', () => {
  it('serves the contract example job', async () => {
    const answer = await call(`${API}/${SEED_JOB_IDS.contractExample}`);
    expect(answer.status).toBe(200);
    const body = answer.json as { request_id: string; output: Row };
    expect(body.request_id).toMatch(/^[0-9a-f-]{36}$/i);
    expect(body.output).toEqual({
      job_id: 'ft-202410291653-1c7f',
      job_name: 'ft-202410291653-1c7f',
      status: 'SUCCEEDED',
      finetuned_output: 'qwen3-14b-suffix-ft-202410291653-1c7f',
      model: 'qwen3-14b',
      base_model: 'qwen3-14b',
      training_file_ids: ['file-ft-b2416bacc4d742f2a1a7bd5e0c9ad9c3'],
      validation_file_ids: [],
      hyper_parameters: { n_epochs: 1, batch_size: 16, learning_rate: '1.6e-5' },
      training_type: 'sft',
      create_time: '2024-10-29 16:53:53',
      end_time: '2024-10-29 17:11:26',
      workspace_id: ALICE.workspaceId,
      user_identity: ALICE.userId,
      creator: ALICE.userId,
      modifier: ALICE.userId,
      group: 'llm',
      model_name: 'ft-202410291653-1c7f',
      usage: 279808,
    });
  });

  it('has the special jobs the gateway tests rely on', async () => {
    const get = async (id: string) => await out(`${API}/${id}`);
    expect(await get(SEED_JOB_IDS.failed)).toMatchObject({ status: 'FAILED', code: 'InvalidDataset' });
    expect((await get(SEED_JOB_IDS.failed)).end_time).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect((await get(SEED_JOB_IDS.failed)).usage).toBeUndefined();
    const canceled = await get(SEED_JOB_IDS.canceled);
    expect(canceled).toMatchObject({ status: 'CANCELED', usage: 0, code: '1' });
    expect(canceled.modifier).not.toBe(canceled.creator);
    const big = await get(SEED_JOB_IDS.bigUsage);
    expect(big.usage).toBeGreaterThan(2 ** 31);
    expect(big.hyper_parameters.learning_rate).toBe('2.0E-5');
    const drift = await get(SEED_JOB_IDS.drift);
    expect(drift).toMatchObject({ status: 'SUSPENDED', resource_config: { gpu_type: 'H800' } });
    expect(drift.hyper_parameters.learning_rate).toBe(0.0001);
    expect((await get(SEED_JOB_IDS.pending)).status).toBe('PENDING');
    expect((await get(SEED_JOB_IDS.queuing)).status).toBe('QUEUING');
    expect((await get(SEED_JOB_IDS.running)).status).toBe('RUNNING');
    expect((await get(SEED_JOB_IDS.cosyVoice)).output_cnt).toBe(4);
  });

  it('walks the live jobs and keeps the pinned ones where they are', async () => {
    const [live] = liveSeedJobIds(START);
    clock = START + 29 * 86_400_000;
    try {
      expect((await out(`${API}/${live}`)).status).toBe('SUCCEEDED');
      expect((await out(`${API}/${SEED_JOB_IDS.running}`)).status).toBe('RUNNING');
      expect((await out(`${API}/${SEED_JOB_IDS.pending}`)).status).toBe('PENDING');
    } finally {
      clock = START;
    }
    expect((await out(`${API}/${live}`)).status).toBe('PENDING');
  });
});

describe('list', () => {
  it('pages newest first with a total of all matches', async () => {
    const first = await out<Page>(`${API}?page_no=1&page_size=40`);
    expect(first.page_no).toBe(1);
    expect(first.page_size).toBe(40);
    expect(first.total).toBeGreaterThanOrEqual(45);
    expect(first.jobs).toHaveLength(40);
    const second = await out<Page>(`${API}?page_no=2&page_size=40`);
    expect(second.jobs).toHaveLength(first.total - 40);
    const times = [...first.jobs, ...second.jobs].map((job) => job.create_time);
    expect(times).toEqual([...times].sort().reverse());
    expect(await out<Page>(`${API}?page_no=99&page_size=40`)).toMatchObject({ total: first.total, jobs: [] });
    expect((await out<Page>(API)).jobs).toHaveLength(10);
  });

  it('filters by model and validates page_size', async () => {
    const cosy = await out<Page>(`${API}?model=cosyvoice-v3-flash`);
    expect(cosy.total).toBe(1);
    expect(cosy.jobs[0]?.job_id).toBe(SEED_JOB_IDS.cosyVoice);
    expectError(await call(`${API}?page_size=0`), 400, 'InvalidParameter');
    expectError(await call(`${API}?page_size=101`), 400, 'InvalidParameter');
  });
});

describe('job lifecycle', () => {
  it('creates a job that echoes its input and walks the timeline with the clock', async () => {
    const created = await call(API, { method: 'POST', body: createBody });
    expect(created.status).toBe(200);
    const job = (created.json as { output: Row }).output;
    expect(job.job_id).toMatch(/^ft-202612011000-[0-9a-f]{4}$/);
    expect(job).toMatchObject({
      status: 'PENDING',
      job_name: job.job_id,
      model_name: job.job_id,
      base_model: 'qwen3-8b',
      training_type: 'sft',
      create_time: '2026-12-01 10:00:00',
      hyper_parameters: createBody.hyper_parameters,
      creator: ALICE.userId,
    });
    expect(job.end_time).toBeUndefined();
    // §6.14: the output model's id is there from PENDING on.
    expect(job.finetuned_output).toBe(`qwen3-8b-demo-${job.job_id}`);

    const statusAt = async (ms: number) => {
      clock = START + ms;
      return await out(`${API}/${job.job_id}`);
    };
    expect((await statusAt(1500)).status).toBe('QUEUING');
    expect((await statusAt(7000)).status).toBe('RUNNING');
    const checkpoints = await out<Row[]>(`${API}/${job.job_id}/checkpoints`);
    expect(checkpoints.map((c) => c.step)).toEqual([100, 50]);
    const done = await statusAt(12_000);
    clock = START;
    expect(done).toMatchObject({ status: 'SUCCEEDED', end_time: '2026-12-01 10:00:12', finetuned_output: `qwen3-8b-demo-${job.job_id}` });
    expect(done.usage).toBeGreaterThan(0);
    clock = START + 12_000;
    const logs = (await out<Logs>(`${API}/${job.job_id}/logs`)).logs;
    clock = START;
    expect(logs.at(-1)).toMatch(/^2026-12-01 10:00:11,\d{3} - INFO - ##FT_COMPLETE##$/);
    expect(logs).toContain(` Actual number of consumed tokens is ${Number(done.usage)}!`);
  });

  it('validates create bodies', async () => {
    expectError(await call(API, { method: 'POST', body: { training_file_ids: ['f'] } }), 400, 'InvalidParameter', 'Missing model');
    expectError(await call(API, { method: 'POST', body: { model: 'qwen3-8b' } }), 400, 'InvalidParameter', 'Missing training files');
    expectError(
      await call(API, { method: 'POST', body: { model: 'cosyvoice-v3-flash', training_file_ids: ['f'], training_type: 'full_sft' } }),
      400,
      'InvalidParameter',
      'The model cosyvoice-v3-flash does not support training_type: full_sft',
    );
  });

  it('enforces the RUNNING+SUCCEEDED quota', async () => {
    const small = await startEmulator({
      accounts: [BOB],
      jobQuota: 1,
      now: () => clock,
      phaseDurationsMs: { pending: 0, queuing: 0, running: 1000 },
    });
    try {
      const post = () =>
        fetch(`${small.url}${API}`, { method: 'POST', headers: { authorization: 'Bearer sk-bob' }, body: JSON.stringify(createBody) });
      expect((await post()).status).toBe(200);
      const refused = await post();
      expect(refused.status).toBe(429);
      expect(await refused.json()).toMatchObject({
        code: 'Throttling',
        message: 'Only 20 fine-tune job in running or succeeded allowed per user.',
      });
    } finally {
      await small.close();
    }
  });

  it('cancels through CANCELING to CANCELED, then allows delete', async () => {
    const id = (await out(API, { method: 'POST', body: createBody, key: BOB.apiKey })).job_id;
    expectError(await call(`${API}/${id}`, { method: 'DELETE', key: BOB.apiKey }), 400, 'UnsupportedOperation');
    const cancel = await call(`${API}/${id}/cancel`, { method: 'POST', key: BOB.apiKey });
    expect(cancel.json).toMatchObject({ output: { status: 'success' } });
    expect((await out(`${API}/${id}`, { key: BOB.apiKey })).status).toBe('CANCELING');
    clock = START + 2500;
    const canceled = await out(`${API}/${id}`, { key: BOB.apiKey });
    clock = START;
    expect(canceled).toMatchObject({ status: 'CANCELED', modifier: BOB.userId, usage: 0 });
    clock = START + 2500;
    expectError(await call(`${API}/${id}/cancel`, { method: 'POST', key: BOB.apiKey }), 400, 'UnsupportedOperation');
    expect(await out(`${API}/${id}`, { method: 'DELETE', key: BOB.apiKey })).toEqual({ status: 'success' });
    clock = START;
    expectError(await call(`${API}/${id}`, { key: BOB.apiKey }), 404, 'NotFound');
    const ids = (await out<Page>(`${API}?page_size=100`, { key: BOB.apiKey })).jobs.map((j) => j.job_id);
    expect(ids).not.toContain(id);
  });

  it('forces statuses and serves raw jobs verbatim', async () => {
    const raw = { job_id: 'ft-202612010959-beef', status: 42, hyper_parameters: 'not-an-object', create_time: '2099-01-01 00:00:00' };
    emulator.putRawJob(BOB.apiKey, raw);
    expect(await out(`${API}/${raw.job_id}`, { key: BOB.apiKey })).toEqual(raw);
    expect((await out<Page>(API, { key: BOB.apiKey })).jobs[0]).toEqual(raw);
    emulator.setJobStatus(BOB.apiKey, raw.job_id, 'FAILED');
    expect((await out(`${API}/${raw.job_id}`, { key: BOB.apiKey })).status).toBe('FAILED');
    emulator.setJobStatus(ALICE.apiKey, SEED_JOB_IDS.queuing, 'RUNNING');
    expect((await out(`${API}/${SEED_JOB_IDS.queuing}`)).status).toBe('RUNNING');
    emulator.setJobStatus(ALICE.apiKey, SEED_JOB_IDS.queuing, 'QUEUING');
  });
});

describe('logs and checkpoints', () => {
  it('pages logs with offset and line', async () => {
    const all = await out<Logs>(`${API}/${SEED_JOB_IDS.contractExample}/logs`);
    expect(all.total).toBe(all.logs.length);
    expect(all.logs.at(-1)).toBe('2024-10-29 17:11:25,175 - INFO - ##FT_COMPLETE##');
    expect(all.logs.at(-2)).toBe('2024-10-29 17:11:25,130 - INFO - training usage 279808');
    const page = await out<Logs>(`${API}/${SEED_JOB_IDS.contractExample}/logs?offset=2&line=3`);
    expect(page).toEqual({ total: all.total, logs: all.logs.slice(2, 5) });
    expect((await out<Logs>(`${API}/${SEED_JOB_IDS.contractExample}/logs?offset=500`)).logs).toEqual([]);
    expectError(await call(`${API}/${SEED_JOB_IDS.contractExample}/logs?line=1001`), 400, 'InvalidParameter');
  });

  it('lists CosyVoice checkpoints in contract order and exports one', async () => {
    const path = `${API}/${SEED_JOB_IDS.cosyVoice}/checkpoints`;
    const before = await out<Row[]>(path);
    expect(before.map((c) => c.step)).toEqual([30003, 20002, 20001, 10001]);
    expect(before[0]).toMatchObject({
      checkpoint_id: `${SEED_JOB_IDS.cosyVoice}:checkpoint-30003`,
      full_name: `${SEED_JOB_IDS.cosyVoice}:checkpoint-30003`,
      checkpoint: 'checkpoint-00030003',
      status: 'SUCCEEDED',
      create_time: '2026-05-27T18:07:16',
      expire_time: '2026-06-11T18:07:16',
    });
    const pending = before[2]!;
    expect(pending.status).toBe('PENDING');
    expect(pending.model_name).toBeUndefined();

    const exported = await call(`${API}/${SEED_JOB_IDS.cosyVoice}/export/${pending.checkpoint}?model_name=my-voice`);
    expect(exported.json).toMatchObject({ output: true });
    expect((await out<Row[]>(path))[2]?.status).toBe('PROCESSING');
    clock = START + 5000;
    const after = (await out<Row[]>(path))[2];
    clock = START;
    expect(after).toMatchObject({ status: 'SUCCEEDED', model_display_name: 'my-voice' });
    expect(after?.model_name).toBe(`cosyvoice-v3-flash-${SEED_JOB_IDS.cosyVoice}-c20001`);
    expectError(await call(`${API}/${SEED_JOB_IDS.cosyVoice}/export/checkpoint-9?model_name=x`), 404, 'NotFound');
  });

  it('lists Wan checkpoints without checkpoint_id, step or expire_time (the contract §6.14)', async () => {
    const list = await out<Row[]>(`${API}/${SEED_JOB_IDS.wanVideo}/checkpoints`);
    expect(list.map((c) => c.checkpoint)).toEqual(['checkpoint-240', 'checkpoint-160', 'checkpoint-80']);
    expect(list[0]).toEqual({
      full_name: `${SEED_JOB_IDS.wanVideo}-checkpoint-240`,
      checkpoint: 'checkpoint-240',
      status: 'SUCCEEDED',
      create_time: '2026-11-11T14:32:05',
      model_name: `wan2.5-i2v-preview-${SEED_JOB_IDS.wanVideo}-c240`,
      model_display_name: 'paper-boat-v1',
    });
  });

  it('export: a model name in use anywhere is 409 Conflict; a checkpoint already exported is 400 UnsupportedOperation', async () => {
    const wan = `${API}/${SEED_JOB_IDS.wanVideo}/export`;
    expectError(await call(`${wan}/checkpoint-160?model_name=narrator-v1`), 409, 'Conflict');
    expectError(await call(`${wan}/checkpoint-240?model_name=a-new-name`), 400, 'UnsupportedOperation');
    expectError(await call(`${wan}/checkpoint-160`), 400, 'InvalidParameter');
    expect((await call(`${wan}/${SEED_JOB_IDS.wanVideo}-checkpoint-80?model_name=boat-by-full-name`)).json).toMatchObject({ output: true });
    expectError(await call(`${wan}/checkpoint-80?model_name=boat-by-full-name`), 409, 'Conflict');
  });

  it('serves validation results and paged details for a finished Wan job only (the contract §6.11)', async () => {
    const wan = `${API}/${SEED_JOB_IDS.wanVideo}`;
    expect(await out(`${wan}/validation-results`)).toEqual([
      { checkpoint: 'checkpoint-240' },
      { checkpoint: 'checkpoint-160' },
      { checkpoint: 'checkpoint-80' },
    ]);
    const page = await out<{ page_no: number; page_size: number; total: number; list: Row[] }>(
      `${wan}/validation-details/checkpoint-160?page_no=2&page_size=5`,
    );
    expect(page).toMatchObject({ page_no: 2, page_size: 5, total: 12 });
    expect(page.list).toHaveLength(5);
    expect(Object.keys(page.list[0]!).sort()).toEqual(['first_frame_path', 'prompt', 'video_path']);
    expect(page.list[0]!.video_path).toContain('/checkpoint-160/sample-6.mp4?Expires=');
    expectError(await call(`${wan}/validation-details/checkpoint-9`), 404, 'NotFound');
    expectError(await call(`${wan}/validation-details/checkpoint-160?page_size=101`), 400, 'InvalidParameter');
    expect(await out(`${API}/${SEED_JOB_IDS.cosyVoice}/validation-results`)).toEqual([]);
  });
});

describe('not found', () => {
  it('answers unknown ids, paths, methods and bad escapes with the NotFound envelope', async () => {
    expectError(await call(`${API}/ft-202001010000-0000`), 404, 'NotFound', 'Not Found!');
    expectError(await call(`${API}/${SEED_JOB_IDS.contractExample}/nope`), 404, 'NotFound');
    expectError(await call(`${API}/${SEED_JOB_IDS.contractExample}`, { method: 'PUT', body: {} }), 404, 'NotFound');
    expectError(await call(`${API}/%E0%A4%A`), 404, 'NotFound');
  });
});

describe('faults and stats', () => {
  const getPath = `${API}/${SEED_JOB_IDS.contractExample}`;

  it('answers with a status fault once, then normally', async () => {
    emulator.injectFault({
      match: { route: 'get' },
      times: 1,
      fault: { kind: 'status', status: 429, code: 'Throttling.RateQuota', retryAfter: '2' },
    });
    const faulted = await call(getPath);
    expectError(faulted, 429, 'Throttling.RateQuota');
    expect(faulted.headers.get('retry-after')).toBe('2');
    expect((await call(getPath)).status).toBe(200);
  });

  it('matches on job id and api key', async () => {
    emulator.injectFault({ match: { jobId: SEED_JOB_IDS.failed, apiKey: ALICE.apiKey }, fault: { kind: 'status', status: 500 } });
    try {
      expectError(await call(`${API}/${SEED_JOB_IDS.failed}`), 500, 'InternalError');
      expect((await call(getPath)).status).toBe(200);
    } finally {
      emulator.clearFaults();
    }
  });

  it('matches on any unknown key: a made-up key gets the fault (then its 401), an account does not', async () => {
    emulator.injectFault({ match: { unknownKey: true }, fault: { kind: 'status', status: 503 } });
    try {
      expectError(await call(getPath, { key: 'sk-made-up' }), 503, 'InternalError');
      expectError(await call(getPath, { key: null }), 503, 'InternalError');
      expect((await call(getPath)).status).toBe(200);
      expect((await call(getPath, { key: BOB.apiKey })).status).toBe(404);
    } finally {
      emulator.clearFaults();
    }
  });

  it('serves broken bodies', async () => {
    const once = (fault: Parameters<Emulator['injectFault']>[0]['fault']) => emulator.injectFault({ times: 1, fault });

    once({ kind: 'truncated-json' });
    const truncated = await call(getPath);
    expect(truncated.status).toBe(200);
    expect(truncated.headers.get('content-type')).toContain('application/json');
    expect(truncated.json).toBeUndefined();
    expect(truncated.text.length).toBeGreaterThan(10);

    once({ kind: 'html' });
    const html = await call(getPath);
    expect(html.status).toBe(502);
    expect(html.headers.get('content-type')).toContain('text/html');

    once({ kind: 'not-json' });
    const notJson = await call(getPath);
    expect([notJson.status, notJson.text]).toEqual([200, 'not json']);

    once({ kind: 'body', status: 200, body: { request_id: 'x', output: { job_id: 7 } } });
    expect((await call(getPath)).json).toEqual({ request_id: 'x', output: { job_id: 7 } });

    once({ kind: 'slow-body', ms: 30 });
    const slow = await call(getPath);
    expect((slow.json as { output: Row }).output.job_id).toBe(SEED_JOB_IDS.contractExample);

    once({ kind: 'delay', ms: 30 });
    const started = performance.now();
    expect((await call(getPath)).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
  });

  it('resets and hangs connections', async () => {
    emulator.injectFault({ times: 1, fault: { kind: 'reset' } });
    await expect(call(getPath)).rejects.toThrow();
    emulator.injectFault({ times: 1, fault: { kind: 'hang' } });
    await expect(call(getPath, { signal: AbortSignal.timeout(100) })).rejects.toThrow();
    expect((await call(getPath)).status).toBe(200);
  });

  it('counts every API request with its raw url and never the key', async () => {
    emulator.resetStats();
    const hostile = '..%2F..%2Fetc%2Fpasswd%00';
    await call(`${API}/${hostile}`);
    await call(`${API}?page_no=1`, { key: null });
    await call('/not-the-api');
    emulator.injectFault({ times: 1, fault: { kind: 'status', status: 503 } });
    await call(`${API}/${SEED_JOB_IDS.running}/logs?offset=1&line=2`);
    await fetch(`${emulator.url}/__emulator/stats`);

    const stats = emulator.stats();
    expect(stats.total).toBe(4);
    expect(stats.byRoute).toEqual({ get: 1, list: 1, unknown: 1, logs: 1 });
    expect(stats.requests.map((r) => r.url)).toEqual([
      `${API}/${hostile}`,
      `${API}?page_no=1`,
      '/not-the-api',
      `${API}/${SEED_JOB_IDS.running}/logs?offset=1&line=2`,
    ]);
    expect(stats.requests[0]).toMatchObject({ method: 'GET', route: 'get', jobId: '../../etc/passwd\u0000' });
    expect(stats.requests[1]?.apiKeyHash).toBeUndefined();
    expect(stats.requests[3]?.apiKeyHash).toMatch(/^[0-9a-f]{12}$/);
    expect(JSON.stringify(stats)).not.toContain(ALICE.apiKey);
  });

  it('offers the same control surface over HTTP', async () => {
    const control = (path: string, method: string, body?: unknown) =>
      fetch(`${emulator.url}/__emulator/${path}`, { method, ...(body !== undefined && { body: JSON.stringify(body) }) });
    await control('stats/reset', 'POST');
    await control('faults', 'POST', { match: { route: 'list' }, fault: { kind: 'status', status: 500 } });
    expect((await call(API)).status).toBe(500);
    await control('faults', 'DELETE');
    expect((await call(API)).status).toBe(200);
    await control('jobs', 'POST', { apiKey: BOB.apiKey, job: { job_id: 'ft-x', status: 'WEIRD' } });
    expect(await out(`${API}/ft-x`, { key: BOB.apiKey })).toEqual({ job_id: 'ft-x', status: 'WEIRD' });
    const stats = (await (await control('stats', 'GET')).json()) as { total: number };
    expect(stats.total).toBe(3);
  });

  it('puts every route of the table behind the same key check, stats and faults', async () => {
    emulator.resetStats();
    for (const route of ROUTES) {
      const path = route.path.replace(/:(\w+)/g, '$1-1');
      const refused = await call(path, { method: route.method, key: null });
      // The OpenAI-compatible routes answer in OpenAI's shape (§6.12), the others in DashScope's envelope.
      if (route.path.startsWith('/compatible-mode/'))
        expect([refused.status, refused.json]).toEqual([401, { error: expect.objectContaining({ code: 'invalid_api_key' }) }]);
      else expectError(refused, 401, 'InvalidApiKey');
      emulator.injectFault({ match: { route: route.name }, times: 1, fault: { kind: 'status', status: 503, code: 'Faulted' } });
      expectError(await call(path, { method: route.method }), 503, 'Faulted');
    }
    expect(emulator.stats().byRoute).toEqual(Object.fromEntries(ROUTES.map((route) => [route.name, 2])));
    const unknownControl = await fetch(`${emulator.url}/__emulator/nope`, { method: 'POST' });
    expect([unknownControl.status, await unknownControl.json()]).toEqual([404, { error: 'unknown control endpoint' }]);
  });

  it('close() ends hung requests', async () => {
    const other = await startEmulator({ accounts: [BOB] });
    other.injectFault({ fault: { kind: 'hang' } });
    const hung = fetch(`${other.url}${API}`, { headers: { authorization: 'Bearer sk-bob' } });
    await new Promise<void>((resolve) => {
      const poll = () => (other.stats().total > 0 ? resolve() : setImmediate(poll));
      poll();
    });
    await other.close();
    await expect(hung).rejects.toThrow();
  });
});
