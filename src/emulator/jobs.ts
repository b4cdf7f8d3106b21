import type { EmulatorAccount } from './types.js';
import { hash32, type NaiveClock } from './time.js';
import { planCheckpoints, visibleCheckpoints } from './checkpoints.js';
import { jobState, numberParam, type ModelledJob, type StoredJob, type Timeline } from './job-timeline.js';

/* A job as DashScope shows it: built from a create, and its view at any moment. */

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
