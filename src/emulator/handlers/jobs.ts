// The fine-tune job endpoints, `/api/v1/fine-tunes[/{job_id}[/…]]`: one handler each.
import { randomBytes } from 'node:crypto';
import { errorReply, intParam, invalid, isRecord, isStringArray, notFound, ok, parseJson, type Reply } from '../http.js';
import { checkpointViews, findCheckpoint, validatedCheckpoints, validationSamples } from '../checkpoints.js';
import { KNOWN_BASE_MODELS } from '../families.js';
import { logLines } from '../job-logs.js';
import { cancelJob, NON_TERMINAL, TERMINAL, type StoredJob } from '../job-timeline.js';
import { buildJob, jobCreateTime, jobStatus, jobView } from '../jobs.js';
import type { AccountState, ApiRequest, EmulatorState, Handler } from '../state.js';

const MESSAGES = {
  cancelTerminal: 'The fine-tuning job cannot be canceled because it has already succeeded, failed, or been canceled.',
  // Upstream's wording, even though it is returned for jobs that are *not* finished (docs/upstream.md §5).
  deleteBlocked: 'The fine-tune job can not be deleted because it is succeeded,failed or canceled',
  alreadyExported: 'The checkpoint has already been exported.',
  quota: 'Only 20 fine-tune job in running or succeeded allowed per user.',
};

type JobHandler = (job: StoredJob, request: ApiRequest, state: EmulatorState, now: number) => Reply;

/** The `:jobId` route's job of the caller's account, or NotFound (another account's job is not found either). */
const withJob =
  (handler: JobHandler): Handler =>
  (request, state) => {
    const job = request.account.jobs.get(request.params.jobId ?? '');
    return job ? handler(job, request, state, state.now()) : notFound();
  };

function resolveBaseModel(account: AccountState, model: string): string {
  if (KNOWN_BASE_MODELS.includes(model)) return model;
  for (const job of account.jobs.values()) {
    if (job.kind === 'modelled' && job.finetunedOutput === model) return job.baseModel;
  }
  const prefix = KNOWN_BASE_MODELS.filter((base) => model.startsWith(`${base}-`)).sort((a, b) => b.length - a.length)[0];
  return prefix ?? model.split('-ft-')[0] ?? model;
}

function newJobId(account: AccountState, state: EmulatorState, createdAtMs: number): string {
  for (;;) {
    const id = `ft-${state.clock.idMinute(createdAtMs)}-${randomBytes(2).toString('hex')}`;
    if (!account.jobs.has(id)) return id;
  }
}

const TEXT_REQUIRED = ['n_epochs', 'batch_size', 'max_length'] as const;
/** The regions DashScope documents for OSS-mounted datasets [D:S10]. */
const OSS_REGIONS = new Set(['cn-beijing', 'ap-southeast-1']);

/** A file id the account does not have (never uploaded, or deleted) [INF: the exact wording is not documented]. */
function unknownFile(account: AccountState, ids: readonly string[]): Reply | undefined {
  const missing = ids.find((id) => !account.files.has(id));
  return missing === undefined ? undefined : invalid(`Invalid parameter: file ${missing} does not exist`);
}

/**
 * `training_datasets` / `validation_datasets` (§6.1): each `{data_source_type: "file_id", file_id}` naming a file of
 * the account, or `{data_source_type: "oss_mount", mount_storage: {region, bucket, file_path}}` in a documented region
 * and not a ZIP file.
 */
function datasetProblem(account: AccountState, field: string, datasets: unknown[]): Reply | undefined {
  for (const [i, dataset] of datasets.entries()) {
    const at = `${field}[${i}]`;
    if (!isRecord(dataset)) return invalid(`Invalid parameter: ${at}`);
    if (dataset.data_source_type === 'file_id') {
      if (typeof dataset.file_id !== 'string' || dataset.file_id === '') return invalid(`Invalid parameter: ${at}.file_id`);
      const missing = unknownFile(account, [dataset.file_id]);
      if (missing) return missing;
    } else if (dataset.data_source_type === 'oss_mount') {
      const mount = dataset.mount_storage;
      if (!isRecord(mount) || ['region', 'bucket', 'file_path'].some((key) => typeof mount[key] !== 'string' || mount[key] === ''))
        return invalid(`Invalid parameter: ${at}.mount_storage`);
      if (!OSS_REGIONS.has(mount.region as string)) return invalid(`Invalid parameter: ${at}.mount_storage.region`);
      if (/\.zip$/i.test(mount.file_path as string)) return invalid(`OSS mount does not support zip files: ${at}.mount_storage.file_path`);
    } else return invalid(`Invalid parameter: ${at}.data_source_type`);
  }
  return undefined;
}

export const create: Handler = ({ account, body: raw }, state) => {
  const body = parseJson(raw);
  if (!isRecord(body)) return invalid('Request body must be a JSON object');
  const { model, training_file_ids, validation_file_ids, training_datasets, validation_datasets } = body;
  const { hyper_parameters, training_type, job_name, model_name, finetuned_output_suffix } = body;
  const { rollout, rewards, resource_config } = body;
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
  for (const [name, value] of Object.entries({ rollout, resource_config })) {
    if (value != null && !isRecord(value)) return invalid(`Invalid parameter: ${name}`);
  }
  if (rewards != null && !isRecord(rewards) && !Array.isArray(rewards)) return invalid('Invalid parameter: rewards');
  const trainingType = (training_type as string | undefined) ?? 'sft';
  const baseModel = resolveBaseModel(account, model);
  if (/^(cosyvoice|wan)/.test(baseModel) && trainingType !== 'efficient_sft') {
    return invalid(`The model ${model} does not support training_type: ${trainingType}`);
  }
  // Text and VL models (§6.1, S2): n_epochs, batch_size and max_length are required; reinforcement is billed otherwise [INF].
  if (/^(qwen|qwq)/.test(baseModel) && trainingType !== 'reinforcement') {
    const missing = TEXT_REQUIRED.find((key) => (hyper_parameters as Record<string, unknown> | undefined)?.[key] == null);
    if (missing) return invalid(`Missing required parameter: hyper_parameters.${missing}`);
  }
  // The data last: the checks of the request itself come before looking files up.
  // Only the datasets' files are looked up: the older `training_file_ids` stay unchecked, as they always were here, so
  // that accounts without uploads (forward-mode tests) can still create with made-up ids [INF: DashScope checks both].
  const dataProblem =
    datasetProblem(account, 'training_datasets', training_datasets ?? []) ??
    datasetProblem(account, 'validation_datasets', validation_datasets ?? []);
  if (dataProblem) return dataProblem;
  const t = state.now();
  const used = [...account.jobs.values()].filter((job) => ['RUNNING', 'SUCCEEDED'].includes(jobStatus(job, t))).length;
  if (used >= state.jobQuota) return errorReply(429, 'Throttling', MESSAGES.quota);
  const id = newJobId(account, state, t);
  const { phases } = state;
  const job = buildJob(
    {
      id,
      createdAtMs: t,
      account: account.account,
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
      // Echoed as sent [INF], as the other create fields are.
      extra: {
        ...(rollout != null && { rollout }),
        ...(rewards != null && { rewards }),
        ...(resource_config != null && { resource_config }),
      },
      timeline: { pendingMs: phases.pending, queuingMs: phases.queuing, runningMs: phases.running },
    },
    state.clock,
  );
  account.jobs.set(id, job);
  return ok(jobView(job, t, state.clock));
};

export const list: Handler = ({ account, query }, state) => {
  const pageNo = intParam(query, 'page_no', 1);
  const pageSize = intParam(query, 'page_size', 10);
  if (!(pageNo >= 1)) return invalid('Invalid parameter: page_no');
  if (!(pageSize >= 1 && pageSize <= 100)) return invalid('Invalid parameter: page_size must be between 1 and 100');
  const model = query.get('model');
  const t = state.now();
  const matches = [...account.jobs.values()]
    .map((job, index) => ({ job, index, createTime: jobCreateTime(job) }))
    .filter(({ job }) => !model || (job.kind === 'raw' ? job.raw.model : job.fields.model) === model)
    .sort((a, b) => (a.createTime < b.createTime ? 1 : a.createTime > b.createTime ? -1 : b.index - a.index));
  const page = matches.slice((pageNo - 1) * pageSize, pageNo * pageSize);
  return ok({ page_no: pageNo, page_size: pageSize, total: matches.length, jobs: page.map(({ job }) => jobView(job, t, state.clock)) });
};

export const get = withJob((job, _request, state, t) => ok(jobView(job, t, state.clock)));

export const cancel = withJob((job, { account }, _state, t) => {
  const status = jobStatus(job, t);
  if (TERMINAL.has(status)) return errorReply(400, 'UnsupportedOperation', MESSAGES.cancelTerminal);
  if (status === 'CANCELING') return ok({ status: 'success' });
  if (job.kind === 'raw') job.raw.status = 'CANCELED';
  else {
    cancelJob(job, t);
    job.fields.modifier = account.account.userId;
  }
  return ok({ status: 'success' });
});

export const remove = withJob((job, { account }, state, t) => {
  if (NON_TERMINAL.has(jobStatus(job, t)) && !state.deleteNonTerminal) {
    return errorReply(400, 'UnsupportedOperation', MESSAGES.deleteBlocked);
  }
  account.jobs.delete(job.id);
  return ok({ status: 'success' });
});

export const logs = withJob((job, { query }, state, t) => {
  const offset = intParam(query, 'offset', 0);
  const line = intParam(query, 'line', 100);
  if (!(offset >= 0)) return invalid('Invalid parameter: offset');
  if (!(line >= 1 && line <= 1000)) return invalid('Invalid parameter: line must be between 1 and 1000');
  const lines = logLines(job, t, state.clock);
  return ok({ total: lines.length, logs: lines.slice(offset, offset + line) });
});

export const checkpoints = withJob((job, _request, state, t) => ok(job.kind === 'raw' ? [] : checkpointViews(job, t, state.clock)));

/**
 * Export (§6.10). A model name is globally unique: one already given to any checkpoint, of any job or account, is a
 * 409 Conflict (so is a repeated export with the same name). A checkpoint holds one model: exporting one already
 * exported (PROCESSING or SUCCEEDED) under another name is a 400 UnsupportedOperation [INF].
 */
export const exportCheckpoint = withJob((job, { params, query }, state, t) => {
  const modelName = query.get('model_name');
  if (!modelName) return invalid('Missing model_name');
  const checkpoint = job.kind === 'modelled' && params.checkpoint ? findCheckpoint(job, t, params.checkpoint) : undefined;
  if (job.kind === 'raw' || !checkpoint) return notFound();
  if (modelNameTaken(state, modelName))
    return errorReply(409, 'Conflict', `Model instance ${modelName} already exists, please specify a suffix`);
  if (job.exports.has(checkpoint.checkpoint)) return errorReply(400, 'UnsupportedOperation', MESSAGES.alreadyExported);
  job.exports.set(checkpoint.checkpoint, { displayName: modelName, atMs: t });
  return ok(true);
});

function modelNameTaken(state: EmulatorState, modelName: string): boolean {
  for (const account of state.accounts.values()) {
    for (const job of account.jobs.values()) {
      if (job.kind === 'modelled' && [...job.exports.values()].some((e) => e.displayName === modelName)) return true;
    }
  }
  return false;
}

/** Validation results (§6.11): the checkpoints of a finished image or video job; empty before, and for other families. */
export const validationResults = withJob((job, _request, _state, t) =>
  ok(job.kind === 'raw' ? [] : validatedCheckpoints(job, t).map((c) => ({ checkpoint: c.checkpoint }))),
);

/** One page of a checkpoint's validation samples (§6.11); a checkpoint without any is NotFound. */
export const validationDetails = withJob((job, { params, query }, _state, t) => {
  const pageNo = intParam(query, 'page_no', 1);
  const pageSize = intParam(query, 'page_size', 10);
  if (!(pageNo >= 1)) return invalid('Invalid parameter: page_no');
  if (!(pageSize >= 1 && pageSize <= 100)) return invalid('Invalid parameter: page_size must be between 1 and 100');
  const checkpoint = job.kind === 'modelled' ? validatedCheckpoints(job, t).find((c) => c.checkpoint === params.checkpoint) : undefined;
  if (job.kind === 'raw' || !checkpoint) return notFound();
  const samples = validationSamples(job, checkpoint, t);
  return ok({
    page_no: pageNo,
    page_size: pageSize,
    total: samples.length,
    list: samples.slice((pageNo - 1) * pageSize, pageNo * pageSize),
  });
});
