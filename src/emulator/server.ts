import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  buildJob,
  cancelJob,
  checkpointViews,
  findCheckpoint,
  haltJob,
  jobCreateTime,
  jobStatus,
  jobView,
  KNOWN_BASE_MODELS,
  logLines,
  NON_TERMINAL,
  TERMINAL,
  type StoredJob,
} from './jobs.js';
import { seedJobs } from './seed.js';
import { NaiveClock } from './time.js';
import {
  DEMO_ACCOUNT,
  type Emulator,
  type EmulatorAccount,
  type EmulatorOptions,
  type EmulatorStats,
  type Fault,
  type FaultRule,
  type Route,
  type StatsRequest,
} from './types.js';

const API_PATH = '/api/v1/fine-tunes';
const CONTROL_PREFIX = '/__emulator/';
const MAX_STATS_REQUESTS = 10_000;
const MAX_BODY_BYTES = 1_000_000;
const JSON_TYPE = 'application/json; charset=utf-8';

interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

interface AccountState {
  account: EmulatorAccount;
  jobs: Map<string, StoredJob>;
}

interface Target {
  route: Route;
  underApi: boolean;
  /** the decoded job id; undefined when the path segment is not a valid escape */
  jobId?: string;
  rawJobId?: string;
  checkpoint?: string;
  badEscape: boolean;
}

const MESSAGES = {
  notFound: 'Not Found!',
  cancelTerminal: 'The fine-tuning job cannot be canceled because it has already succeeded, failed, or been canceled.',
  // Upstream's wording, even though it is returned for jobs that are *not* finished (see contract §5).
  deleteBlocked: 'The fine-tune job can not be deleted because it is succeeded,failed or canceled',
  quota: 'Only 20 fine-tune job in running or succeeded allowed per user.',
};

const DEFAULT_ERRORS: Record<number, [string, string]> = {
  400: ['InvalidParameter', 'Invalid parameter.'],
  401: ['InvalidApiKey', 'Invalid API-key provided.'],
  403: ['AccessDenied', 'Access denied.'],
  404: ['NotFound', MESSAGES.notFound],
  409: ['Conflict', 'Model instance already exists, please specify a suffix'],
  429: ['Throttling', 'Too many fine-tune job in running, please retry later.'],
  500: ['InternalError', 'Internal server error!'],
};

function errorReply(status: number, code?: string, message?: string, headers?: Record<string, string>): Reply {
  const [defaultCode, defaultMessage] =
    DEFAULT_ERRORS[status] ?? (status >= 500 ? DEFAULT_ERRORS[500]! : ['UnknownError', 'Unknown error.']);
  // Upstream mixes upper- and lower-case request ids; errors use the upper-case form of its examples.
  const body = { code: code ?? defaultCode, request_id: randomUUID().toUpperCase(), message: message ?? defaultMessage };
  return { status, body, ...(headers && { headers }) };
}

function ok(output: unknown): Reply {
  return { status: 200, body: { request_id: randomUUID(), output } };
}

const invalid = (message: string) => errorReply(400, 'InvalidParameter', message);
const notFound = () => errorReply(404, 'NotFound', MESSAGES.notFound);

function classify(method: string, path: string): Target {
  if (path === API_PATH) {
    const route = method === 'POST' ? 'create' : method === 'GET' ? 'list' : 'unknown';
    return { route, underApi: true, badEscape: false };
  }
  if (!path.startsWith(`${API_PATH}/`)) return { route: 'unknown', underApi: false, badEscape: false };
  // Split before decoding so an encoded "/" stays inside the id.
  const [rawJobId = '', action, extra, ...more] = path.slice(API_PATH.length + 1).split('/');
  let route: Route = 'unknown';
  if (rawJobId !== '' && more.length === 0) {
    if (action === undefined) route = method === 'GET' ? 'get' : method === 'DELETE' ? 'delete' : 'unknown';
    else if (extra === undefined && action === 'cancel' && method === 'POST') route = 'cancel';
    else if (extra === undefined && action === 'logs' && method === 'GET') route = 'logs';
    else if (extra === undefined && action === 'checkpoints' && method === 'GET') route = 'checkpoints';
    else if (action === 'export' && extra && method === 'GET') route = 'export';
  }
  const jobId = safeDecode(rawJobId);
  const checkpoint = route === 'export' && extra !== undefined ? safeDecode(extra) : undefined;
  return {
    route,
    underApi: true,
    rawJobId,
    ...(jobId !== undefined && { jobId }),
    ...(checkpoint !== undefined && { checkpoint }),
    badEscape: jobId === undefined || (route === 'export' && checkpoint === undefined),
  };
}

function safeDecode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function bearerKey(req: IncomingMessage): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return match?.[1];
}

function keyHash(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 12);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isStringArray = (value: unknown): value is string[] => Array.isArray(value) && value.every((v) => typeof v === 'string');

/** Strict non-negative integer query parameter: the fallback when absent, NaN when malformed. */
function intParam(query: URLSearchParams, name: string, fallback: number): number {
  const value = query.get(name);
  if (value === null || value === '') return fallback;
  return /^\d+$/.test(value) ? Number(value) : NaN;
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const now = options.now ?? Date.now;
  const clock = new NaiveClock(options.timeZoneOffsetMinutes ?? 480);
  const phases = options.phaseDurationsMs ?? { pending: 5000, queuing: 10_000, running: 45_000 };
  const jobQuota = options.jobQuota ?? 20;
  const latencyMs = options.latencyMs ?? 0;
  const accounts = options.accounts ?? [DEMO_ACCOUNT];
  const firstAccount = accounts[0];
  if (!firstAccount) throw new Error('startEmulator: at least one account is required');

  const startMs = now();
  const byKey = new Map<string, AccountState>();
  for (const account of accounts) {
    const jobs = new Map<string, StoredJob>();
    if (account.seed) for (const job of seedJobs(account, startMs, clock, phases)) jobs.set(job.id, job);
    byKey.set(account.apiKey, { account, jobs });
  }

  let stats: EmulatorStats = { total: 0, byRoute: {}, requests: [], inFlight: 0, maxInFlight: 0 };
  let faults: Array<FaultRule & { remaining: number }> = [];
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;

  // Timers are cleared on close(); the waiting handler is then simply abandoned with its socket.
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (closed) return;
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  function accountOf(apiKey: string): AccountState {
    const state = byKey.get(apiKey);
    if (!state) throw new Error(`emulator: unknown api key (hash ${keyHash(apiKey)})`);
    return state;
  }

  function record(entry: StatsRequest): void {
    stats.total++;
    stats.byRoute[entry.route] = (stats.byRoute[entry.route] ?? 0) + 1;
    stats.requests.push(entry);
    if (stats.requests.length > MAX_STATS_REQUESTS) stats.requests.splice(0, stats.requests.length - MAX_STATS_REQUESTS);
  }

  function takeFault(method: string, target: Target, apiKey: string | undefined): Fault | undefined {
    for (const rule of faults) {
      const m = rule.match ?? {};
      if (m.route !== undefined && m.route !== target.route) continue;
      if (m.method !== undefined && m.method.toUpperCase() !== method) continue;
      if (m.jobId !== undefined && m.jobId !== target.jobId) continue;
      if (m.apiKey !== undefined && m.apiKey !== apiKey) continue;
      if (rule.probability !== undefined && Math.random() >= rule.probability) continue;
      rule.remaining--;
      if (rule.remaining <= 0) faults = faults.filter((r) => r !== rule);
      return rule.fault;
    }
    return undefined;
  }

  function resolveBaseModel(state: AccountState, model: string): string {
    if (KNOWN_BASE_MODELS.includes(model)) return model;
    for (const job of state.jobs.values()) {
      if (job.kind === 'modelled' && job.finetunedOutput === model) return job.baseModel;
    }
    const prefix = KNOWN_BASE_MODELS.filter((base) => model.startsWith(`${base}-`)).sort((a, b) => b.length - a.length)[0];
    return prefix ?? model.split('-ft-')[0] ?? model;
  }

  function newJobId(state: AccountState, createdAtMs: number): string {
    for (;;) {
      const id = `ft-${clock.idMinute(createdAtMs)}-${randomBytes(2).toString('hex')}`;
      if (!state.jobs.has(id)) return id;
    }
  }

  function create(state: AccountState, text: string): Reply {
    const body = parseJson(text);
    if (!isRecord(body)) return invalid('Request body must be a JSON object');
    const { model, training_file_ids, validation_file_ids, training_datasets, validation_datasets } = body;
    const { hyper_parameters, training_type, job_name, model_name, finetuned_output_suffix } = body;
    if (typeof model !== 'string' || model === '') return invalid('Missing model');
    if (training_file_ids != null && !isStringArray(training_file_ids)) return invalid('Invalid parameter: training_file_ids');
    if (validation_file_ids != null && !isStringArray(validation_file_ids)) return invalid('Invalid parameter: validation_file_ids');
    if (training_datasets != null && !Array.isArray(training_datasets)) return invalid('Invalid parameter: training_datasets');
    if (validation_datasets != null && !Array.isArray(validation_datasets)) return invalid('Invalid parameter: validation_datasets');
    if (!training_file_ids?.length && !training_datasets?.length) return invalid('Missing training files');
    if (hyper_parameters != null && !isRecord(hyper_parameters)) return invalid('Invalid parameter: hyper_parameters');
    for (const [name, value] of Object.entries({ training_type, job_name, model_name, finetuned_output_suffix })) {
      if (value != null && typeof value !== 'string') return invalid(`Invalid parameter: ${name}`);
    }
    const trainingType = (training_type as string | undefined) ?? 'sft';
    const baseModel = resolveBaseModel(state, model);
    if (/^(cosyvoice|wan)/.test(baseModel) && trainingType !== 'efficient_sft') {
      return invalid(`The model ${model} does not support training_type: ${trainingType}`);
    }
    const t = now();
    const used = [...state.jobs.values()].filter((job) => ['RUNNING', 'SUCCEEDED'].includes(jobStatus(job, t))).length;
    if (used >= jobQuota) return errorReply(429, 'Throttling', MESSAGES.quota);
    const id = newJobId(state, t);
    const job = buildJob(
      {
        id,
        createdAtMs: t,
        account: state.account,
        model,
        baseModel,
        trainingType,
        hyper: hyper_parameters ?? {},
        trainingFileIds: training_file_ids ?? [],
        validationFileIds: validation_file_ids ?? [],
        ...(training_datasets != null && { trainingDatasets: training_datasets }),
        ...(validation_datasets != null && { validationDatasets: validation_datasets }),
        ...(typeof job_name === 'string' && { jobName: job_name }),
        ...(typeof model_name === 'string' && { modelName: model_name }),
        ...(typeof finetuned_output_suffix === 'string' && finetuned_output_suffix !== '' && { suffix: finetuned_output_suffix }),
        timeline: { pendingMs: phases.pending, queuingMs: phases.queuing, runningMs: phases.running },
      },
      clock,
    );
    state.jobs.set(id, job);
    return ok(jobView(job, t, clock));
  }

  function list(state: AccountState, query: URLSearchParams): Reply {
    const pageNo = intParam(query, 'page_no', 1);
    const pageSize = intParam(query, 'page_size', 10);
    if (!(pageNo >= 1)) return invalid('Invalid parameter: page_no');
    if (!(pageSize >= 1 && pageSize <= 100)) return invalid('Invalid parameter: page_size must be between 1 and 100');
    const model = query.get('model');
    const t = now();
    const matches = [...state.jobs.values()]
      .map((job, index) => ({ job, index, createTime: jobCreateTime(job) }))
      .filter(({ job }) => !model || (job.kind === 'raw' ? job.raw.model : job.fields.model) === model)
      .sort((a, b) => (a.createTime < b.createTime ? 1 : a.createTime > b.createTime ? -1 : b.index - a.index));
    const page = matches.slice((pageNo - 1) * pageSize, pageNo * pageSize);
    return ok({ page_no: pageNo, page_size: pageSize, total: matches.length, jobs: page.map(({ job }) => jobView(job, t, clock)) });
  }

  function onJob(state: AccountState, target: Target, query: URLSearchParams): Reply {
    const job = target.jobId === undefined || target.badEscape ? undefined : state.jobs.get(target.jobId);
    if (!job) return notFound();
    const t = now();
    switch (target.route) {
      case 'get':
        return ok(jobView(job, t, clock));
      case 'cancel': {
        const status = jobStatus(job, t);
        if (TERMINAL.has(status)) return errorReply(400, 'UnsupportedOperation', MESSAGES.cancelTerminal);
        if (status === 'CANCELING') return ok({ status: 'success' });
        if (job.kind === 'raw') job.raw.status = 'CANCELED';
        else {
          cancelJob(job, t);
          job.fields.modifier = state.account.userId;
        }
        return ok({ status: 'success' });
      }
      case 'delete':
        if (NON_TERMINAL.has(jobStatus(job, t)) && !options.deleteNonTerminal) {
          return errorReply(400, 'UnsupportedOperation', MESSAGES.deleteBlocked);
        }
        state.jobs.delete(job.id);
        return ok({ status: 'success' });
      case 'logs': {
        const offset = intParam(query, 'offset', 0);
        const line = intParam(query, 'line', 100);
        if (!(offset >= 0)) return invalid('Invalid parameter: offset');
        if (!(line >= 1 && line <= 1000)) return invalid('Invalid parameter: line must be between 1 and 1000');
        const lines = logLines(job, t, clock);
        return ok({ total: lines.length, logs: lines.slice(offset, offset + line) });
      }
      case 'checkpoints':
        return ok(job.kind === 'raw' ? [] : checkpointViews(job, t, clock));
      case 'export': {
        const modelName = query.get('model_name');
        if (!modelName) return invalid('Missing model_name');
        const checkpoint = job.kind === 'modelled' && target.checkpoint ? findCheckpoint(job, t, target.checkpoint) : undefined;
        if (job.kind === 'raw' || !checkpoint) return notFound();
        if (!job.exports.has(checkpoint.checkpoint)) job.exports.set(checkpoint.checkpoint, { displayName: modelName, atMs: t });
        return ok(true);
      }
      default:
        return notFound();
    }
  }

  function api(req: IncomingMessage, target: Target, query: URLSearchParams, body: string, apiKey?: string): Reply {
    const state = apiKey === undefined ? undefined : byKey.get(apiKey);
    if (!state) return errorReply(401, 'InvalidApiKey', 'Invalid API-key provided.');
    const workspace = req.headers['x-dashscope-workspace'];
    if (workspace !== undefined && workspace !== state.account.workspaceId) {
      return errorReply(404, 'WorkSpaceNotFound', 'WorkSpace can not be found.');
    }
    if (target.route === 'create') return create(state, body);
    if (target.route === 'list') return list(state, query);
    if (target.route === 'unknown') return notFound();
    return onJob(state, target, query);
  }

  function control(method: string, path: string, body: string): Reply {
    const json = parseJson(body);
    const done = { status: 200, body: { ok: true } };
    if (method === 'GET' && path === 'stats') return { status: 200, body: stats };
    if (method === 'POST' && path === 'stats/reset') {
      handle.resetStats();
      return done;
    }
    if (method === 'DELETE' && path === 'faults') {
      faults = [];
      return done;
    }
    if (method === 'POST' && path === 'faults') {
      if (!isRecord(json) || !isRecord(json.fault) || typeof json.fault.kind !== 'string') {
        return { status: 400, body: { error: 'body must be a FaultRule' } };
      }
      handle.injectFault(json as unknown as FaultRule);
      return done;
    }
    if (method === 'POST' && path === 'jobs') {
      if (!isRecord(json) || !isRecord(json.job)) return { status: 400, body: { error: 'body must be {apiKey?, job}' } };
      const apiKey = typeof json.apiKey === 'string' ? json.apiKey : firstAccount!.apiKey;
      if (!byKey.has(apiKey)) return { status: 400, body: { error: 'unknown apiKey' } };
      handle.putRawJob(apiKey, json.job);
      return done;
    }
    return { status: 404, body: { error: 'unknown control endpoint' } };
  }

  function send(res: ServerResponse, reply: Reply): void {
    if (res.destroyed || res.writableEnded) return;
    const text = JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      'content-type': JSON_TYPE,
      'content-length': Buffer.byteLength(text),
      ...reply.headers,
    });
    res.end(text);
  }

  async function deliver(res: ServerResponse, fault: Fault, normal: () => Reply): Promise<void> {
    switch (fault.kind) {
      case 'status':
        return send(
          res,
          errorReply(fault.status, fault.code, fault.message, fault.retryAfter ? { 'retry-after': fault.retryAfter } : undefined),
        );
      case 'delay':
        await sleep(fault.ms);
        return send(res, normal());
      case 'hang':
        return; // answered never; close() or the client ends it
      case 'reset':
        res.socket?.resetAndDestroy();
        return;
      case 'truncated-json': {
        const text = JSON.stringify(normal().body);
        res.writeHead(200, { 'content-type': JSON_TYPE });
        res.end(text.slice(0, Math.max(1, Math.floor(text.length / 2))));
        return;
      }
      case 'html': {
        const status = fault.status ?? 502;
        res.writeHead(status, { 'content-type': 'text/html' });
        res.end(
          `<html><head><title>${status} Bad Gateway</title></head><body><center><h1>${status} Bad Gateway</h1></center><hr><center>Tengine</center></body></html>`,
        );
        return;
      }
      case 'not-json':
        res.writeHead(200, { 'content-type': JSON_TYPE, 'content-length': 8 });
        res.end('not json');
        return;
      case 'slow-body': {
        const reply = normal();
        const bytes = Buffer.from(JSON.stringify(reply.body));
        const half = Math.floor(bytes.length / 2);
        res.writeHead(reply.status, { 'content-type': JSON_TYPE, 'content-length': bytes.length });
        res.write(bytes.subarray(0, half));
        await sleep(fault.ms);
        if (!res.destroyed) res.end(bytes.subarray(half));
        return;
      }
      case 'body':
        return send(res, { status: fault.status ?? 200, body: fault.body });
    }
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const method = (req.method ?? 'GET').toUpperCase();
    const url = req.url ?? '/';
    const queryAt = url.indexOf('?');
    const path = queryAt === -1 ? url : url.slice(0, queryAt);
    const query = new URLSearchParams(queryAt === -1 ? '' : url.slice(queryAt + 1));
    if (path.startsWith(CONTROL_PREFIX)) return send(res, control(method, path.slice(CONTROL_PREFIX.length), body));

    const target = classify(method, path);
    const apiKey = bearerKey(req);
    record({
      method,
      url,
      route: target.route,
      ...(target.underApi && target.rawJobId !== undefined && { jobId: target.jobId ?? target.rawJobId }),
      ...(apiKey !== undefined && { apiKeyHash: keyHash(apiKey) }),
    });
    stats.inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    res.once('close', () => stats.inFlight--);
    if (!target.underApi) return send(res, notFound());

    if (latencyMs > 0) await sleep(latencyMs);
    const normal = () => api(req, target, query, body, apiKey);
    const fault = takeFault(method, target, apiKey);
    if (fault?.processed) {
      const reply = normal();
      return deliver(res, fault, () => reply);
    }
    if (fault) return deliver(res, fault, normal);
    send(res, normal());
  }

  const server = createServer((req, res) => {
    onRequest(req, res).catch(() => send(res, errorReply(500, 'InternalError', 'Internal server error!')));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  const handle: Emulator = {
    url: `http://${host}:${address.port}`,
    demoApiKey: firstAccount.apiKey,
    stats: () => structuredClone(stats),
    resetStats: () => {
      stats = { total: 0, byRoute: {}, requests: [], inFlight: stats.inFlight, maxInFlight: stats.inFlight };
    },
    injectFault: (rule) => {
      faults.push({ ...rule, remaining: rule.times ?? Infinity });
    },
    clearFaults: () => {
      faults = [];
    },
    putRawJob: (apiKey, raw) => {
      const state = accountOf(apiKey);
      const id = typeof raw.job_id === 'string' ? raw.job_id : `raw-${randomBytes(4).toString('hex')}`;
      state.jobs.set(id, { kind: 'raw', id, raw: structuredClone(raw) });
    },
    setJobStatus: (apiKey, jobId, status) => {
      const job = accountOf(apiKey).jobs.get(jobId);
      if (!job) throw new Error(`emulator: no job ${jobId} for that account`);
      if (job.kind === 'raw') job.raw.status = status;
      else haltJob(job, now(), status);
    },
    close: async () => {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await done;
    },
  };
  return handle;
}
