import type { EmulatorAccount } from './types.js';
import { hash32, type NaiveClock } from './time.js';

export const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELED']);
export const NON_TERMINAL = new Set(['PENDING', 'QUEUING', 'RUNNING', 'CANCELING']);
/** How long a cancelled job stays CANCELING before it reads CANCELED. */
export const CANCELING_MS = 2000;
const DAY_MS = 86_400_000;
const CHECKPOINT_RETENTION_MS = 15 * DAY_MS;
const EXPORT_MS = 3000;

export interface Timeline {
  pendingMs: number;
  queuingMs: number;
  runningMs: number;
}

/** A status that no longer follows the timeline (seed history, setJobStatus, cancel). */
export interface Halt {
  status: string;
  atMs: number;
  /** set by cancel: CANCELING from here until atMs */
  cancelRequestedMs?: number;
}

export interface CheckpointPlan {
  step: number;
  checkpoint: string;
  /** share of the running phase after which the checkpoint exists */
  fraction: number;
  /** CosyVoice orders by LM epoch x FM epoch, text models by step */
  rank: number;
}

export interface ModelledJob {
  kind: 'modelled';
  id: string;
  createdAtMs: number;
  fields: Record<string, unknown>;
  timeline: Timeline;
  halt?: Halt;
  usageTokens: number;
  totalSteps: number;
  checkpoints: CheckpointPlan[];
  keepCheckpoints: number;
  exports: Map<string, { displayName: string; atMs: number }>;
  finetunedOutput: string;
  baseModel: string;
  failure?: { code: string; message: string };
  outputCounters: boolean;
}

export interface RawJob {
  kind: 'raw';
  id: string;
  raw: Record<string, unknown>;
}

export type StoredJob = ModelledJob | RawJob;

export const KNOWN_BASE_MODELS = [
  'qwen3.6-flash-2026-04-16',
  'qwen3.5-27b',
  'qwen3.5-9b',
  'qwen3.5-flash-2026-02-23',
  'qwen3-32b',
  'qwen3-30b-a3b-instruct-2507',
  'qwen3-14b',
  'qwen3-8b',
  'qwen3-4b-instruct-2507',
  'qwen3-1.7b',
  'qwen3-0.6b',
  'qwen2.5-72b-instruct',
  'qwen2.5-32b-instruct',
  'qwen2.5-14b-instruct',
  'qwen2.5-7b-instruct',
  'qwen-plus-character-2025-11-06',
  'qwen3-vl-8b-instruct',
  'qwen3-vl-8b-thinking',
  'qwen3-vl-4b-instruct',
  'qwen2.5-vl-72b-instruct',
  'qwen2.5-vl-32b-instruct',
  'qwen2.5-vl-7b-instruct',
  'wan2.2-i2v-flash',
  'wan2.2-kf2v-flash',
  'wan2.5-i2v-preview',
  'wan2.6-i2v',
  'wan2.7-image',
  'wan2.7-image-pro',
  'cosyvoice-v3-flash',
  'qwen-turbo',
  'qwen-plus',
];

export function isMultiCheckpointModel(baseModel: string): boolean {
  return baseModel.startsWith('cosyvoice');
}

/** Wan image and video models: checkpoints without `checkpoint_id`/`step`/`expire_time`, and validation artifacts (§6.11, §6.14). */
export function isWanModel(baseModel: string): boolean {
  return baseModel.startsWith('wan');
}

export function numberParam(value: unknown, fallback: number): number {
  const n = typeof value === 'string' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? Math.floor(n) : fallback;
}

export function planCheckpoints(
  baseModel: string,
  hyper: Record<string, unknown>,
  totalSteps: number,
): { plan: CheckpointPlan[]; keep: number } {
  if (isMultiCheckpointModel(baseModel)) {
    const n = Math.min(numberParam(hyper.lm_max_epoch, 1), numberParam(hyper.fm_max_epoch, 1), 10);
    const plan: CheckpointPlan[] = [];
    for (let k = 1; k <= n; k++) {
      plan.push(cosyCheckpoint(k, k, (k * k) / (n * n)));
    }
    return { plan, keep: Infinity };
  }
  const strategy = hyper.save_strategy;
  if (strategy !== 'steps' && strategy !== 'epoch') return { plan: [], keep: 0 };
  const every =
    strategy === 'steps' ? numberParam(hyper.save_steps, 50) : Math.max(1, Math.floor(totalSteps / numberParam(hyper.n_epochs, 1)));
  const plan: CheckpointPlan[] = [];
  for (let step = every; step <= totalSteps; step += every) {
    plan.push({ step, checkpoint: `checkpoint-${step}`, fraction: step / totalSteps, rank: step });
  }
  return { plan, keep: numberParam(hyper.save_total_limit, 1) };
}

export function cosyCheckpoint(lm: number, fm: number, fraction: number): CheckpointPlan {
  const pad = (n: number) => String(n).padStart(4, '0');
  return { step: lm * 10000 + fm, checkpoint: `checkpoint-${pad(lm)}${pad(fm)}`, fraction, rank: lm * fm };
}

export interface JobState {
  status: string;
  endMs?: number;
  /** the moment up to which logs and checkpoints have been produced */
  clockMs: number;
  /** share of the running phase completed, 0..1 */
  progress: number;
}

function runStartMs(job: ModelledJob): number {
  return job.createdAtMs + job.timeline.pendingMs + job.timeline.queuingMs;
}

export function jobState(job: ModelledJob, now: number): JobState {
  const runStart = runStartMs(job);
  const end = runStart + job.timeline.runningMs;
  const progressAt = (ms: number) =>
    job.timeline.runningMs > 0 ? Math.min(1, Math.max(0, (ms - runStart) / job.timeline.runningMs)) : ms >= runStart ? 1 : 0;
  const halt = job.halt;
  if (halt) {
    const clockMs = halt.cancelRequestedMs ?? halt.atMs;
    if (halt.cancelRequestedMs !== undefined && now < halt.atMs) {
      return { status: 'CANCELING', clockMs, progress: progressAt(clockMs) };
    }
    const endMs = TERMINAL.has(halt.status) ? halt.atMs : undefined;
    return { status: halt.status, clockMs, progress: progressAt(clockMs), ...(endMs !== undefined && { endMs }) };
  }
  const clockMs = Math.min(now, end);
  const status =
    now < job.createdAtMs + job.timeline.pendingMs ? 'PENDING' : now < runStart ? 'QUEUING' : now < end ? 'RUNNING' : 'SUCCEEDED';
  return { status, clockMs, progress: progressAt(clockMs), ...(status === 'SUCCEEDED' && { endMs: end }) };
}

/** Freeze the job where the timeline has it now, so later reads do not move it on. */
export function haltJob(job: ModelledJob, now: number, status: string): void {
  job.halt = { status, atMs: jobState(job, now).clockMs };
}

export function cancelJob(job: ModelledJob, now: number): void {
  job.halt = { status: 'CANCELED', atMs: now + CANCELING_MS, cancelRequestedMs: jobState(job, now).clockMs };
}

export function jobView(job: StoredJob, now: number, clock: NaiveClock): Record<string, unknown> {
  if (job.kind === 'raw') return job.raw;
  const state = jobState(job, now);
  const view: Record<string, unknown> = { job_id: job.id, job_name: job.fields.job_name, status: state.status };
  // §6.14: the output model's id is there from PENDING (the Wan and CosyVoice examples), not only once SUCCEEDED.
  if (job.outputCounters || state.status === 'SUCCEEDED') view.finetuned_output = job.finetunedOutput;
  Object.assign(view, job.fields);
  if (state.endMs !== undefined) view.end_time = clock.jobTime(state.endMs);
  if (state.status === 'SUCCEEDED') view.usage = job.usageTokens;
  if (state.status === 'CANCELED') view.usage = Math.floor(job.usageTokens * state.progress);
  if (job.outputCounters) view.output_cnt = visibleCheckpoints(job, state).length;
  if (state.status === 'FAILED' && job.failure) Object.assign(view, job.failure);
  return view;
}

export function jobStatus(job: StoredJob, now: number): string {
  if (job.kind === 'modelled') return jobState(job, now).status;
  return typeof job.raw.status === 'string' ? job.raw.status : 'UNKNOWN';
}

export function jobCreateTime(job: StoredJob): string {
  const value = job.kind === 'raw' ? job.raw.create_time : job.fields.create_time;
  return typeof value === 'string' ? value : '';
}

function visibleCheckpoints(job: ModelledJob, state: JobState): CheckpointPlan[] {
  const produced = job.checkpoints.filter((c) => c.fraction <= state.progress);
  return Number.isFinite(job.keepCheckpoints) ? produced.slice(-job.keepCheckpoints) : produced;
}

export function findCheckpoint(job: ModelledJob, now: number, name: string): CheckpointPlan | undefined {
  return visibleCheckpoints(job, jobState(job, now)).find(
    (c) =>
      c.checkpoint === name ||
      `checkpoint-${c.step}` === name ||
      `${job.id}:checkpoint-${c.step}` === name ||
      `${job.id}-checkpoint-${c.step}` === name,
  );
}

export function checkpointViews(job: ModelledJob, now: number, clock: NaiveClock): Record<string, unknown>[] {
  const runStart = runStartMs(job);
  return visibleCheckpoints(job, jobState(job, now))
    .sort((a, b) => b.rank - a.rank || b.step - a.step)
    .map((c) => {
      const createdMs = Math.floor(runStart + job.timeline.runningMs * c.fraction);
      const exported = job.exports.get(c.checkpoint);
      const status = exported === undefined ? 'PENDING' : now < exported.atMs + EXPORT_MS ? 'PROCESSING' : 'SUCCEEDED';
      const id = `${job.id}:checkpoint-${c.step}`;
      const view: Record<string, unknown> = isWanModel(job.baseModel)
        ? // The Wan example's shape (§6.14): no checkpoint_id, step or expire_time; ids like `{job}-checkpoint-160`.
          { full_name: `${job.id}-checkpoint-${c.step}`, checkpoint: c.checkpoint, status, create_time: clock.isoTime(createdMs) }
        : {
            checkpoint_id: id,
            full_name: id,
            checkpoint: c.checkpoint,
            job_id: job.id,
            step: c.step,
            status,
            create_time: clock.isoTime(createdMs),
            expire_time: clock.isoTime(createdMs + CHECKPOINT_RETENTION_MS),
          };
      if (status === 'SUCCEEDED' && exported) {
        view.model_name = `${job.baseModel}-${job.id}-c${c.step}`;
        view.model_display_name = exported.displayName;
      }
      return view;
    });
}

export function logLines(job: StoredJob, now: number, clock: NaiveClock): string[] {
  if (job.kind === 'raw') return [];
  const state = jobState(job, now);
  const h = hash32(job.id);
  const { pendingMs, runningMs } = job.timeline;
  const runStart = runStartMs(job);
  const end = runStart + runningMs;
  // Formatted lazily: events of a pinned job lie at infinity and must be filtered out before they are formatted.
  const line = (ms: number, msg: string, level = 'INFO') => ({
    ms,
    get text() {
      return `${clock.logTime(ms)} - ${level} - ${msg}`;
    },
  });
  const n = job.totalSteps;
  const files = Array.isArray(job.fields.training_file_ids) ? job.fields.training_file_ids.length : 0;
  const events = [
    line(
      job.createdAtMs + 412,
      `Fine-tune job ${job.id} submitted: model=${String(job.fields.model)}, training_type=${String(job.fields.training_type)}`,
    ),
    line(job.createdAtMs + 1630, `Checking training data: ${Math.max(files, 1)} file(s)`),
    line(job.createdAtMs + pendingMs - 200, `Dataset validation passed, ${1000 + (h % 9000)} samples`),
    line(job.createdAtMs + pendingMs + 50, 'Job queued, waiting for training resources'),
    line(runStart + 300, `Training started on ${8 << (h % 2)} GPUs, total steps ${n}`),
  ];
  for (let k = 1; k <= 10; k++) {
    const loss = 2.4 * Math.exp(-k / 4) + 0.3 + ((h >>> k) % 100) / 1000;
    events.push(line(runStart + runningMs * 0.95 * (k / 10), `training step ${Math.round((n * k) / 10)}/${n}, loss ${loss.toFixed(3)}`));
  }
  for (const c of job.checkpoints) {
    events.push(line(runStart + runningMs * c.fraction - 40, `Saving ${c.checkpoint}`));
  }
  events.push(line(end - 1500, 'Saving final model'));
  const lines = events
    .filter((e) => e.ms <= state.clockMs && Number.isFinite(e.ms))
    .sort((a, b) => a.ms - b.ms)
    .map((e) => e.text);
  const endMs = state.endMs ?? state.clockMs;
  if (state.status === 'SUCCEEDED') {
    lines.push(
      ` Actual number of consumed tokens is ${job.usageTokens}!`,
      line(endMs - 870, `training usage ${job.usageTokens}`).text,
      line(endMs - 825, '##FT_COMPLETE##').text,
    );
  } else if (state.status === 'FAILED') {
    lines.push(line(endMs - 500, job.failure?.message ?? 'Training process exited abnormally', 'ERROR').text);
  } else if (state.status === 'CANCELED' || state.status === 'CANCELING') {
    lines.push(line(job.halt?.cancelRequestedMs ?? endMs, 'Job cancel requested by user').text);
  }
  return lines;
}

export interface NewJob {
  id: string;
  createdAtMs: number;
  account: EmulatorAccount;
  model: string;
  baseModel: string;
  trainingType: string;
  hyper: Record<string, unknown>;
  trainingFileIds: string[];
  validationFileIds: string[];
  trainingDatasets?: unknown[];
  validationDatasets?: unknown[];
  jobName?: string;
  modelName?: string;
  suffix?: string;
  timeline: Timeline;
  usageTokens?: number;
  outputCounters?: boolean;
  extra?: Record<string, unknown>;
}

export function buildJob(spec: NewJob, clock: NaiveClock): ModelledJob {
  const epochs = numberParam(spec.hyper.n_epochs, 1);
  const totalSteps = Math.min(100 * epochs, 2000);
  const files = Math.max(spec.trainingFileIds.length + (spec.trainingDatasets?.length ?? 0), 1);
  const usageTokens = spec.usageTokens ?? 1000 * files * epochs * (40 + (hash32(spec.id) % 200));
  const { plan, keep } = planCheckpoints(spec.baseModel, spec.hyper, totalSteps);
  const user = spec.account.userId;
  const fields: Record<string, unknown> = {
    job_name: spec.jobName ?? spec.id,
    model: spec.model,
    base_model: spec.baseModel,
    training_file_ids: spec.trainingFileIds,
    validation_file_ids: spec.validationFileIds,
    ...(spec.trainingDatasets && { training_datasets: spec.trainingDatasets }),
    ...(spec.validationDatasets && { validation_datasets: spec.validationDatasets }),
    hyper_parameters: spec.hyper,
    training_type: spec.trainingType,
    create_time: clock.jobTime(spec.createdAtMs),
    workspace_id: spec.account.workspaceId,
    user_identity: user,
    modifier: user,
    creator: user,
    group: 'llm',
    model_name: spec.modelName ?? spec.id,
    ...(spec.outputCounters !== false && { max_output_cnt: 10, charge_type: 'token' }),
    ...spec.extra,
  };
  return {
    kind: 'modelled',
    id: spec.id,
    createdAtMs: spec.createdAtMs,
    fields,
    timeline: spec.timeline,
    usageTokens,
    totalSteps,
    checkpoints: plan,
    keepCheckpoints: keep,
    exports: new Map(),
    finetunedOutput: spec.suffix ? `${spec.model}-${spec.suffix}-${spec.id}` : `${spec.model}-${spec.id}`,
    baseModel: spec.baseModel,
    outputCounters: spec.outputCounters !== false,
  };
}

/** The checkpoints with validation artifacts: those of a finished Wan job (§6.11: empty until the job finishes). */
export function validatedCheckpoints(job: ModelledJob, now: number): CheckpointPlan[] {
  const state = jobState(job, now);
  if (!isWanModel(job.baseModel) || state.status !== 'SUCCEEDED') return [];
  return visibleCheckpoints(job, state).sort((a, b) => b.step - a.step);
}

/** Samples per checkpoint: more than one default page (10), so that paging shows. */
export const VALIDATION_SAMPLES = 12;

/** A checkpoint's validation samples: signed OSS URLs valid 24 h from `now`, as DashScope sends them. */
export function validationSamples(job: ModelledJob, checkpoint: CheckpointPlan, now: number): Record<string, unknown>[] {
  const expires = Math.floor(now / 1000) + 86_400;
  const base = `https://dashscope-finetune.oss-cn-beijing.aliyuncs.com/validation/${job.id}/${checkpoint.checkpoint}`;
  const signed = (file: string) =>
    `${base}/${file}?Expires=${expires}&OSSAccessKeyId=LTAI-emulator&Signature=${hash32(`${base}/${file}${expires}`).toString(16)}`;
  return Array.from({ length: VALIDATION_SAMPLES }, (_, i) => ({
    video_path: signed(`sample-${i + 1}.mp4`),
    prompt: `Validation prompt ${i + 1}: a paper boat drifts down a rainy street, camera following`,
    first_frame_path: signed(`sample-${i + 1}.png`),
  }));
}
