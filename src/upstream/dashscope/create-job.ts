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

/** The training types DashScope accepts (docs/upstream.md §6.2). */
export const TRAINING_TYPES = ['sft', 'efficient_sft', 'cpt', 'dpo_full', 'dpo_lora', 'reinforcement'] as const;

/** A validated create request in the gateway's terms. Absent fields are not sent. */
export interface CreateJobInput {
  model: string;
  trainingFileIds: string[];
  validationFileIds?: string[];
  trainingType?: (typeof TRAINING_TYPES)[number];
  hyperParameters?: Partial<Record<HyperParameterName, string | number>>;
  /** Further upstream hyper-parameters, under the upstream's own keys, sent as given. */
  extraHyperParameters?: Record<string, unknown>;
  jobName?: string;
  modelName?: string;
  finetunedOutputSuffix?: string;
}

export function toCreateJobBody(input: CreateJobInput): CreateJobBody {
  const hyper: Record<string, unknown> = { ...input.extraHyperParameters };
  for (const [name, value] of Object.entries(input.hyperParameters ?? {})) {
    if (value !== undefined) hyper[HYPER_PARAMETER_KEYS[name as HyperParameterName]] = value;
  }
  return {
    model: input.model,
    training_file_ids: input.trainingFileIds,
    ...(input.validationFileIds && { validation_file_ids: input.validationFileIds }),
    ...(input.trainingType && { training_type: input.trainingType }),
    ...(Object.keys(hyper).length > 0 && { hyper_parameters: hyper }),
    ...(input.jobName !== undefined && { job_name: input.jobName }),
    ...(input.modelName !== undefined && { model_name: input.modelName }),
    ...(input.finetunedOutputSuffix !== undefined && { finetuned_output_suffix: input.finetunedOutputSuffix }),
  };
}
