import { z } from 'zod';

/*
 * zod models of every DashScope fine-tunes payload, and their mapping to the gateway's records.
 * The models are tolerant where the upstream is known to drift (docs/upstream.md §4): unknown keys are kept, a field of
 * an unexpected type becomes null instead of failing the job, numbers may arrive as strings. Only `job_id` and
 * `status` are required of a job.
 */

const NUMERIC_STRING = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const looseNumber = z
  .union([z.number(), z.string().trim().regex(NUMERIC_STRING).transform(Number)])
  .pipe(z.number().finite())
  .nullish()
  .catch(null);
const looseInt = looseNumber.pipe(z.number().int().nullish()).catch(null);
const looseString = z
  .union([z.string(), z.number().transform(String)])
  .nullish()
  .catch(null);
const stringList = z.array(z.string()).nullish().catch(null);
const looseRecord = z.record(z.string(), z.unknown()).nullish().catch(null);

/** One element of `training_datasets` (§6.1); an unknown `data_source_type` is kept as it came. */
const DatasetModel = z.looseObject({
  data_source_type: looseString,
  file_id: looseString,
  mount_storage: z.looseObject({ region: looseString, bucket: looseString, file_path: looseString }).nullish().catch(null),
});
/** Kept as sent (the idempotency search compares them); read element by element in `toDatasets`. */
const datasetList = z.array(z.unknown()).nullish().catch(null);

export const ErrorEnvelopeModel = z.looseObject({
  code: z.string().optional().catch(undefined),
  message: z.string().optional().catch(undefined),
  request_id: z.string().optional().catch(undefined),
});

export const SuccessEnvelopeModel = z.looseObject({ request_id: z.string().optional(), output: z.unknown() });

export const JobModel = z.looseObject({
  job_id: z.string().min(1),
  status: z.string().min(1),
  job_name: looseString,
  finetuned_output: looseString,
  model: looseString,
  base_model: looseString,
  training_type: looseString,
  training_file_ids: stringList,
  validation_file_ids: stringList,
  // [INF] New-style jobs (§6.1): present when the create used them; absent otherwise.
  training_datasets: datasetList,
  validation_datasets: datasetList,
  // Reinforcement jobs [SDK]: echoed as sent [INF]; kept raw for the idempotency search.
  rollout: looseRecord,
  rewards: z
    .union([z.array(z.unknown()), z.record(z.string(), z.unknown())])
    .nullish()
    .catch(null),
  resource_config: looseRecord,
  hyper_parameters: z.record(z.string(), z.unknown()).nullish().catch(null),
  create_time: looseString,
  end_time: looseString,
  workspace_id: looseString,
  user_identity: looseString,
  creator: looseString,
  modifier: looseString,
  group: looseString,
  // A negative count of tokens is no count: it would price as a refund.
  usage: looseInt.pipe(z.number().nonnegative().nullish()).catch(null),
  model_name: looseString,
  output_cnt: looseInt,
  max_output_cnt: looseInt,
  code: looseString,
  message: looseString,
});
export type UpstreamJob = z.infer<typeof JobModel>;

export const HyperParametersModel = z.looseObject({
  n_epochs: looseInt,
  batch_size: looseInt,
  max_length: looseInt,
  learning_rate: looseNumber,
  lr_scheduler_type: looseString,
  split: looseNumber,
  warmup_ratio: looseNumber,
  weight_decay: looseNumber,
  eval_steps: looseInt,
  lora_rank: looseInt,
  lora_alpha: looseInt,
  lora_dropout: looseNumber,
  save_strategy: looseString,
  save_steps: looseInt,
  save_total_limit: looseInt,
});

export const JobListModel = z.looseObject({
  page_no: looseInt,
  page_size: looseInt,
  total: z.number().int().nonnegative(),
  jobs: z.array(z.unknown()),
});

export const LogsModel = z.looseObject({
  total: z.number().int().nonnegative(),
  logs: z.array(z.unknown().transform((line) => (typeof line === 'string' ? line : JSON.stringify(line)))),
});

export const CheckpointModel = z
  .looseObject({
    checkpoint_id: looseString,
    full_name: looseString,
    checkpoint: looseString,
    job_id: looseString,
    step: looseInt,
    status: looseString,
    create_time: looseString,
    expire_time: looseString,
    model_name: looseString,
    model_display_name: looseString,
  })
  // CosyVoice sends checkpoint_id/full_name `{job}:checkpoint-N`; the Wan example only `checkpoint` and ids like
  // `{job}-checkpoint-160` (the contract §6.14): any one of them identifies it.
  .refine((c) => c.checkpoint_id || c.full_name || c.checkpoint, 'a checkpoint needs an id');
export const CheckpointListModel = z.array(CheckpointModel);

export const OperationStatusModel = z.looseObject({ status: z.string() });

// ---- The gateway's records: camelCase, times as RFC 3339, statuses normalised. Resolvers' parents are these. ----

export const JOB_STATUSES = ['PENDING', 'QUEUING', 'RUNNING', 'CANCELING', 'SUCCEEDED', 'FAILED', 'CANCELED'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number] | 'UNKNOWN';
const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['SUCCEEDED', 'FAILED', 'CANCELED']);

export const CHECKPOINT_STATUSES = ['PENDING', 'PROCESSING', 'SUCCEEDED', 'FAILED', 'UNSUPPORTED'] as const;
export type CheckpointStatus = (typeof CHECKPOINT_STATUSES)[number] | 'UNKNOWN';

export interface HyperParametersRecord {
  nEpochs: number | null;
  batchSize: number | null;
  maxLength: number | null;
  learningRate: number | null;
  lrSchedulerType: string | null;
  split: number | null;
  warmupRatio: number | null;
  weightDecay: number | null;
  evalSteps: number | null;
  loraRank: number | null;
  loraAlpha: number | null;
  loraDropout: number | null;
  saveStrategy: string | null;
  saveSteps: number | null;
  saveTotalLimit: number | null;
  raw: Record<string, unknown>;
}

/** A dataset as the job echoes it. */
export interface DatasetRecord {
  /** `file_id`, `oss_mount`, or a kind DashScope adds. */
  sourceType: string | null;
  fileId: string | null;
  ossMount: { region: string | null; bucket: string | null; filePath: string | null } | null;
  /** The element exactly as sent: compared by the idempotency search. */
  raw: Record<string, unknown>;
}

export interface FineTuneJobRecord {
  id: string;
  name: string | null;
  status: JobStatus;
  upstreamStatus: string;
  fineTunedModel: string | null;
  /** The output model's name as DashScope echoes it (the caller's `model_name`, or a default such as the job id). */
  modelName: string | null;
  model: string;
  baseModel: string | null;
  trainingType: string | null;
  trainingFileIds: string[];
  validationFileIds: string[];
  /** `null`: DashScope's answer has no such list (an old-style job, or a shape without it). */
  trainingDatasets: DatasetRecord[] | null;
  validationDatasets: DatasetRecord[] | null;
  /** The reinforcement fields as echoed (`undefined`: absent from the answer). */
  reinforcement: { rollout?: unknown; rewards?: unknown; resourceConfig?: unknown };
  hyperParameters: HyperParametersRecord;
  createdAt: string | null;
  endedAt: string | null;
  workspaceId: string | null;
  userIdentity: string | null;
  creator: string | null;
  modifier: string | null;
  group: string | null;
  usageTokens: number | null;
  outputCount: number | null;
  maxOutputCount: number | null;
  failure: { code: string | null; message: string | null } | null;
  isTerminal: boolean;
}

export interface CheckpointRecord {
  id: string;
  name: string;
  jobId: string;
  step: number | null;
  status: CheckpointStatus;
  modelName: string | null;
  modelDisplayName: string | null;
  createdAt: string | null;
  expiresAt: string | null;
}

export interface JobPageRecord {
  total: number;
  jobs: FineTuneJobRecord[];
  /** Elements of the upstream's `jobs` array that were not jobs (no `job_id`/`status`): left out of `jobs`. */
  invalidJobs: number;
}

export interface JobLogsRecord {
  total: number;
  lines: string[];
}

function knownOr<T extends string>(known: readonly T[], value: string | null | undefined): T | 'UNKNOWN' {
  const upper = value?.toUpperCase();
  return (known as readonly string[]).includes(upper ?? '') ? (upper as T) : 'UNKNOWN';
}

export function toHyperParameters(raw: Record<string, unknown> | null | undefined): HyperParametersRecord {
  const h = HyperParametersModel.parse(raw ?? {});
  return {
    nEpochs: h.n_epochs ?? null,
    batchSize: h.batch_size ?? null,
    maxLength: h.max_length ?? null,
    learningRate: h.learning_rate ?? null,
    lrSchedulerType: h.lr_scheduler_type ?? null,
    split: h.split ?? null,
    warmupRatio: h.warmup_ratio ?? null,
    weightDecay: h.weight_decay ?? null,
    evalSteps: h.eval_steps ?? null,
    loraRank: h.lora_rank ?? null,
    loraAlpha: h.lora_alpha ?? null,
    loraDropout: h.lora_dropout ?? null,
    saveStrategy: h.save_strategy ?? null,
    saveSteps: h.save_steps ?? null,
    saveTotalLimit: h.save_total_limit ?? null,
    raw: raw ?? {},
  };
}

function toDatasets(list: unknown[] | null | undefined): DatasetRecord[] | null {
  if (!list) return null;
  // An element that is not an object is left out rather than failing the job.
  return list
    .flatMap((item) => {
      const parsed = DatasetModel.safeParse(item);
      return parsed.success ? [{ d: parsed.data, raw: item as Record<string, unknown> }] : [];
    })
    .map(({ d, raw }) => ({
      sourceType: d.data_source_type ?? null,
      fileId: d.file_id ?? null,
      ossMount: d.mount_storage
        ? { region: d.mount_storage.region ?? null, bucket: d.mount_storage.bucket ?? null, filePath: d.mount_storage.file_path ?? null }
        : null,
      raw,
    }));
}

export function toJobRecord(job: UpstreamJob, timeZoneOffsetMinutes: number): FineTuneJobRecord {
  const status = knownOr(JOB_STATUSES, job.status);
  const hasFailure = status === 'FAILED' && (job.code != null || job.message != null);
  return {
    id: job.job_id,
    name: job.job_name ?? null,
    status,
    upstreamStatus: job.status,
    fineTunedModel: job.finetuned_output ?? null,
    modelName: job.model_name ?? null,
    model: job.model ?? job.base_model ?? '',
    baseModel: job.base_model ?? null,
    trainingType: job.training_type ?? null,
    trainingFileIds: job.training_file_ids ?? [],
    validationFileIds: job.validation_file_ids ?? [],
    trainingDatasets: toDatasets(job.training_datasets),
    validationDatasets: toDatasets(job.validation_datasets),
    reinforcement: {
      ...(job.rollout != null && { rollout: job.rollout }),
      ...(job.rewards != null && { rewards: job.rewards }),
      ...(job.resource_config != null && { resourceConfig: job.resource_config }),
    },
    hyperParameters: toHyperParameters(job.hyper_parameters),
    createdAt: toRfc3339(job.create_time, timeZoneOffsetMinutes),
    endedAt: toRfc3339(job.end_time, timeZoneOffsetMinutes),
    workspaceId: job.workspace_id ?? null,
    userIdentity: job.user_identity ?? null,
    creator: job.creator ?? null,
    modifier: job.modifier ?? null,
    group: job.group ?? null,
    usageTokens: job.usage ?? null,
    outputCount: job.output_cnt ?? null,
    maxOutputCount: job.max_output_cnt ?? null,
    failure: hasFailure ? { code: job.code ?? null, message: job.message ?? null } : null,
    isTerminal: TERMINAL_STATUSES.has(status),
  };
}

export function toCheckpointRecord(c: z.infer<typeof CheckpointModel>, jobId: string, timeZoneOffsetMinutes: number): CheckpointRecord {
  const id = c.checkpoint_id ?? c.full_name ?? `${c.job_id ?? jobId}:${c.checkpoint}`;
  return {
    id,
    name: c.checkpoint ?? checkpointNameOf(id),
    jobId: c.job_id ?? jobId,
    step: c.step ?? null,
    status: knownOr(CHECKPOINT_STATUSES, c.status),
    modelName: c.model_name ?? null,
    modelDisplayName: c.model_display_name ?? null,
    createdAt: toRfc3339(c.create_time, timeZoneOffsetMinutes),
    expiresAt: toRfc3339(c.expire_time, timeZoneOffsetMinutes),
  };
}

const NAIVE_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?$/;
const ZONED_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;

export function formatOffset(offsetMinutes: number): string {
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/**
 * The upstream sends naive local times (`2024-10-29 16:53:53`, `2026-05-27T18:07:16`, sometimes with milliseconds)
 * in its own time zone. They are served as RFC 3339 in that zone's offset, so the wall-clock reading is unchanged.
 * A time that already has an offset is kept; anything unreadable becomes null rather than failing the job.
 */
export function toRfc3339(value: string | null | undefined, offsetMinutes: number): string | null {
  if (!value) return null;
  const trimmed = value.trim();
  if (ZONED_TIME.test(trimmed)) {
    const normalised = trimmed.replace(' ', 'T').replace(/z$/, 'Z');
    return Number.isNaN(Date.parse(normalised)) ? null : normalised;
  }
  const m = NAIVE_TIME.exec(trimmed);
  if (!m) return null;
  const [, y, mo, d, h, mi, s, frac = ''] = m;
  const iso = `${y}-${mo}-${d}T${h}:${mi}:${s}${frac}${formatOffset(offsetMinutes)}`;
  const parsed = new Date(iso);
  // Date.parse accepts 2024-02-31; a round trip through UTC catches impossible dates.
  const local = new Date(parsed.getTime() + offsetMinutes * 60_000);
  return Number.isNaN(parsed.getTime()) || local.getUTCDate() !== Number(d) ? null : iso;
}

/** `checkpoint-160` from `{job}:checkpoint-160` (CosyVoice) or `{job}-checkpoint-160` (Wan); the id itself otherwise. */
export function checkpointNameOf(id: string): string {
  return /(checkpoint-[^:]*)$/.exec(id)?.[1] ?? id.slice(id.lastIndexOf(':') + 1);
}

// ---- Checkpoint export and validation artifacts (the contract §6.10, §6.11) ----

/** The export's answer: `true` = submitted; `false` = the submission failed and may be retried (§6.10). */
export const ExportModel = z.boolean();

/** `output: [{checkpoint}]`; an element without a checkpoint name is left out. */
export const ValidationResultListModel = z.array(z.unknown());
const ValidationResultModel = z.looseObject({ checkpoint: z.string().min(1) });

const ValidationDetailModel = z.looseObject({
  video_path: looseString,
  prompt: looseString,
  first_frame_path: looseString,
});
/** `output: {page_no?, page_size?, total?, list}`; the paging fields are [INF], so tolerated absent; a bare list too. */
export const ValidationDetailPageModel = z.union([
  z.looseObject({ page_no: looseInt, page_size: looseInt, total: looseInt, list: z.array(ValidationDetailModel).nullish() }),
  z.array(ValidationDetailModel).transform((list) => ({ list, total: null })),
]);

export interface ValidationResultRecord {
  jobId: string;
  /** the checkpoint's name, e.g. `checkpoint-160` */
  checkpoint: string;
}

export interface ValidationDetailRecord {
  videoPath: string | null;
  prompt: string | null;
  firstFramePath: string | null;
}

export interface ValidationDetailPageRecord {
  /** null when the upstream sent no `total` */
  total: number | null;
  items: ValidationDetailRecord[];
}

export function toValidationResults(output: unknown[], jobId: string): ValidationResultRecord[] {
  const results: ValidationResultRecord[] = [];
  for (const element of output) {
    const parsed = ValidationResultModel.safeParse(element);
    if (parsed.success) results.push({ jobId, checkpoint: parsed.data.checkpoint });
  }
  return results;
}

export function toValidationDetailPage(page: z.infer<typeof ValidationDetailPageModel>): ValidationDetailPageRecord {
  return {
    total: page.total ?? null,
    items: (page.list ?? []).map((d) => ({
      videoPath: d.video_path ?? null,
      prompt: d.prompt ?? null,
      firstFramePath: d.first_frame_path ?? null,
    })),
  };
}

// ---- Deployments (docs/upstream.md §6.13): the same tolerance as jobs; only `deployed_model` and `status` required. ----

export const DeploymentModel = z.looseObject({
  deployed_model: z.string().min(1),
  status: z.string().min(1),
  model_name: looseString,
  base_model: looseString,
  capacity: looseInt,
  base_capacity: looseInt,
  ready_capacity: looseInt,
  plan: looseString,
  charge_type: looseString,
  workspace_id: looseString,
  creator: looseString,
  modifier: looseString,
  gmt_create: looseString,
  gmt_modified: looseString,
});

/** The paging fields are [INF]: absent, they are taken from the request and the length of the page. */
export const DeploymentListModel = z.looseObject({
  page_no: looseInt,
  page_size: looseInt,
  total: looseInt,
  deployments: z.array(z.unknown()).nullish().catch(null),
});

export const DEPLOYMENT_STATUSES = [
  'PENDING',
  'DEPLOYING',
  'RUNNING',
  'FAILED',
  'UPDATING',
  'UPDATING_FAILED',
  'OFFLINING',
  'ARREARS_DOWN',
  'ARREARS_RECOVERING',
  'DELETING',
] as const;
export type DeploymentStatus = (typeof DEPLOYMENT_STATUSES)[number] | 'UNKNOWN';

export interface DeploymentRecord {
  id: string;
  status: DeploymentStatus;
  upstreamStatus: string;
  modelName: string | null;
  baseModel: string | null;
  capacity: number | null;
  readyCapacity: number | null;
  plan: string | null;
  chargeType: string | null;
  createdAt: string | null;
  updatedAt: string | null;
}

export interface DeploymentPageRecord {
  /** The upstream's `total`; when it sends none, a lower bound from the page read. */
  total: number;
  deployments: DeploymentRecord[];
  /** Elements that were not deployments (no `deployed_model`/`status`): left out. */
  invalidDeployments: number;
}

export function toDeploymentRecord(d: z.infer<typeof DeploymentModel>, timeZoneOffsetMinutes: number): DeploymentRecord {
  return {
    id: d.deployed_model,
    status: knownOr(DEPLOYMENT_STATUSES, d.status),
    upstreamStatus: d.status,
    modelName: d.model_name ?? null,
    baseModel: d.base_model ?? null,
    capacity: d.capacity ?? null,
    readyCapacity: d.ready_capacity ?? null,
    plan: d.plan ?? null,
    chargeType: d.charge_type ?? null,
    createdAt: toRfc3339(d.gmt_create, timeZoneOffsetMinutes),
    updatedAt: toRfc3339(d.gmt_modified, timeZoneOffsetMinutes),
  };
}

// ---- Training files (docs/upstream.md §6.12): the OpenAI-compatible files API, bare bodies (no `output` envelope). ----

/** OpenAI's error body, `{error: {message, type, code}}`, which the compatible-mode endpoints answer with. */
export const OpenAiErrorModel = z.looseObject({
  error: z.looseObject({
    message: z.string().optional().catch(undefined),
    type: z.string().nullish().catch(undefined),
    code: z.union([z.string(), z.number()]).nullish().catch(undefined),
  }),
});

export const FileModel = z.looseObject({
  id: z.string().min(1),
  bytes: z.number().int().nonnegative().nullish().catch(null),
  filename: z.string().nullish().catch(null),
  purpose: z.string().nullish().catch(null),
  status: z.string().nullish().catch(null),
  /** Unix seconds. */
  created_at: z.number().nullish().catch(null),
});

/** `{object: 'list', data: [...], has_more?}`: [INF] paging fields tolerated present or absent. */
export const FileListModel = z.looseObject({
  data: z.array(z.unknown()),
  has_more: z.boolean().nullish().catch(null),
});

export const FileDeletedModel = z.looseObject({ id: z.string().optional().catch(undefined), deleted: z.boolean() });

export interface TrainingFileRecord {
  id: string;
  filename: string | null;
  bytes: number | null;
  purpose: string | null;
  status: string | null;
  /** RFC 3339, UTC. */
  createdAt: string | null;
}

export interface TrainingFileListRecord {
  files: TrainingFileRecord[];
  /** DashScope said more files exist than it listed. */
  hasMore: boolean;
  /** Elements without an id: left out. */
  invalidFiles: number;
}

export function toTrainingFileRecord(f: z.infer<typeof FileModel>): TrainingFileRecord {
  const created = typeof f.created_at === 'number' && Number.isFinite(f.created_at) ? new Date(f.created_at * 1000) : null;
  return {
    id: f.id,
    filename: f.filename ?? null,
    bytes: f.bytes ?? null,
    purpose: f.purpose ?? null,
    status: f.status ?? null,
    createdAt: created && !Number.isNaN(created.getTime()) ? created.toISOString() : null,
  };
}
