import type { CreateJobBody } from './client.js';

/** The typed hyper-parameters a caller may set, and the upstream key each one is sent as. */
export const HYPER_PARAMETER_KEYS = {
  nEpochs: 'n_epochs',
  batchSize: 'batch_size',
  maxLength: 'max_length',
  learningRate: 'learning_rate',
  lrSchedulerType: 'lr_scheduler_type',
  split: 'split',
  warmupRatio: 'warmup_ratio',
  weightDecay: 'weight_decay',
  evalSteps: 'eval_steps',
  loraRank: 'lora_rank',
  loraAlpha: 'lora_alpha',
  loraDropout: 'lora_dropout',
  saveStrategy: 'save_strategy',
  saveSteps: 'save_steps',
  saveTotalLimit: 'save_total_limit',
} as const;

export type HyperParameterName = keyof typeof HYPER_PARAMETER_KEYS;

/**
 * The training types the contract lists (docs/upstream.md §6.2). DashScope adds new ones: any value of the safe
 * `TRAINING_TYPE_PATTERN` is sent, these are only the ones documented.
 */
export const TRAINING_TYPES = ['sft', 'efficient_sft', 'cpt', 'dpo_full', 'dpo_lora', 'reinforcement'] as const;
export const TRAINING_TYPE_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;

/** A training or validation data source (§6.1): an uploaded file, or a file in an OSS bucket mounted by DashScope. */
export type Dataset = { fileId: string } | { ossMount: { region: string; bucket: string; filePath: string } };

/** The upstream shape of a dataset: `{data_source_type: "file_id", file_id}` or `{data_source_type: "oss_mount", mount_storage}`. */
export type UpstreamDataset =
  | { data_source_type: 'file_id'; file_id: string }
  | { data_source_type: 'oss_mount'; mount_storage: { region: string; bucket: string; file_path: string } };

export function toUpstreamDataset(dataset: Dataset): UpstreamDataset {
  if ('fileId' in dataset) return { data_source_type: 'file_id', file_id: dataset.fileId };
  const { region, bucket, filePath } = dataset.ossMount;
  return { data_source_type: 'oss_mount', mount_storage: { region, bucket, file_path: filePath } };
}

/** A validated create request in the gateway's terms. Absent fields are not sent. */
export interface CreateJobInput {
  model: string;
  /** The legacy form (`training_file_ids`); a create has this or `trainingDatasets`. */
  trainingFileIds?: string[];
  validationFileIds?: string[];
  trainingDatasets?: Dataset[];
  validationDatasets?: Dataset[];
  trainingType?: string;
  hyperParameters?: Partial<Record<HyperParameterName, string | number>>;
  /** Further upstream hyper-parameters, under the upstream's own keys, sent as given. */
  extraHyperParameters?: Record<string, unknown>;
  jobName?: string;
  modelName?: string;
  finetunedOutputSuffix?: string;
  /** Reinforcement jobs (SDK `agentic_rl`): sent as given under `rollout`, `rewards`, `resource_config`. */
  rollout?: Record<string, unknown>;
  rewards?: unknown[] | Record<string, unknown>;
  resourceConfig?: Record<string, unknown>;
}

export function toCreateJobBody(input: CreateJobInput): CreateJobBody {
  const hyper: Record<string, unknown> = { ...input.extraHyperParameters };
  for (const [name, value] of Object.entries(input.hyperParameters ?? {})) {
    if (value !== undefined) hyper[HYPER_PARAMETER_KEYS[name as HyperParameterName]] = value;
  }
  return {
    model: input.model,
    ...(input.trainingFileIds && { training_file_ids: input.trainingFileIds }),
    ...(input.validationFileIds && { validation_file_ids: input.validationFileIds }),
    ...(input.trainingDatasets && { training_datasets: input.trainingDatasets.map(toUpstreamDataset) }),
    ...(input.validationDatasets && { validation_datasets: input.validationDatasets.map(toUpstreamDataset) }),
    ...(input.trainingType && { training_type: input.trainingType }),
    ...(Object.keys(hyper).length > 0 && { hyper_parameters: hyper }),
    ...(input.jobName !== undefined && { job_name: input.jobName }),
    ...(input.modelName !== undefined && { model_name: input.modelName }),
    ...(input.finetunedOutputSuffix !== undefined && { finetuned_output_suffix: input.finetunedOutputSuffix }),
    ...(input.rollout !== undefined && { rollout: input.rollout }),
    ...(input.rewards !== undefined && { rewards: input.rewards }),
    ...(input.resourceConfig !== undefined && { resource_config: input.resourceConfig }),
  };
}
