/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
/** Where a checkpoint stands. */
export type CheckpointStatus =
  /** The export failed. */
  | 'FAILED'
  /** Saved, not yet exported as a model. */
  | 'PENDING'
  /** Being exported as a deployable model. */
  | 'PROCESSING'
  /** Ready: `modelName` can be deployed. */
  | 'SUCCEEDED'
  /** A status string this gateway does not know. */
  | 'UNKNOWN'
  /** This checkpoint cannot be exported. */
  | 'UNSUPPORTED';

/**
 * What to train: the fields of DashScope's create-job request (docs/upstream.md §6.1, §6.2). Every field given is sent
 * upstream or refused (`BAD_USER_INPUT` naming it), never dropped. For text and VL models (`qwen…`, `qwq…`),
 * `hyperParameters.nEpochs`, `batchSize` and `maxLength` are required, because DashScope requires them (they drive the
 * cost); image and video (`wan…`) and CosyVoice models take their own hyper-parameters (`hyperParameters.extra`).
 */
export type CreateFineTuneJobInput = {
  /** A suffix placed in the output model's id (`{model}-{suffix}-{jobId}`). */
  finetunedOutputSuffix?: string | null | undefined;
  /** Hyper-parameters to set; only the ones given are sent (see the input's description for the required ones). */
  hyperParameters?: HyperParametersInput | null | undefined;
  /** A display name for the job; without one DashScope generates a name. */
  jobName?: string | null | undefined;
  /** The base model id (e.g. `qwen3-8b`) or the `fineTunedModel` of an earlier job to train further. */
  model: string;
  /** The name of the output model. */
  modelName?: string | null | undefined;
  /** Reinforcement jobs: DashScope's `resource_config` object, sent as given; the same bounds and rule as `rollout`. */
  resourceConfig?: unknown;
  /** Reinforcement jobs: DashScope's `rewards` (an object or a list), sent as given; the same bounds and rule as `rollout`. */
  rewards?: unknown;
  /**
   * Reinforcement jobs: DashScope's `rollout` object, sent as given (its fields are not documented, so it is not typed).
   * An object of at most 16 KiB of JSON; only with a `trainingType` that is not one of the supervised or preference
   * types (`sft`, `efficient_sft`, `cpt`, `dpo_full`, `dpo_lora`), e.g. `reinforcement`.
   */
  rollout?: unknown;
  /**
   * The training data, 1 to 100 sources, each an uploaded file (`{ fileId }`) or a file in an OSS bucket
   * (`{ ossMount: { region, bucket, filePath } }`), sent as DashScope's `training_datasets`. Give this or the
   * deprecated `trainingFileIds`, not both.
   */
  trainingDatasets?: Array<DatasetInput> | null | undefined;
  /**
   * File ids of the training data, sent as DashScope's older `training_file_ids`.
   * @deprecated Use `trainingDatasets: [{ fileId }]`. Still accepted and sent as DashScope's `training_file_ids`.
   */
  trainingFileIds?: Array<string> | null | undefined;
  /**
   * The kind of training: DashScope documents `sft` (full; what it applies when none is given), `efficient_sft` (LoRA),
   * `cpt`, `dpo_full`, `dpo_lora` and `reinforcement`; Wan image/video and CosyVoice models take only `efficient_sft`.
   * Any other value of lower-case letters, digits and `_` (starting with a letter, at most 64) is sent as given, so that
   * types DashScope adds work without a gateway release; DashScope refuses the ones it does not know.
   */
  trainingType?: string | null | undefined;
  /** The validation data, in the same shape; without it DashScope splits the training data (see `split`). */
  validationDatasets?: Array<DatasetInput> | null | undefined;
  /**
   * File ids of the validation data, sent as DashScope's older `validation_file_ids`.
   * @deprecated Use `validationDatasets: [{ fileId }]`. Still accepted and sent as DashScope's `validation_file_ids`.
   */
  validationFileIds?: Array<string> | null | undefined;
};

/** One training or validation data source: exactly one of `fileId` and `ossMount` (`BAD_USER_INPUT` otherwise). */
export type DatasetInput = {
  /** A file id from the files API (`uploadTrainingFile`, `trainingFiles`), sent as `{data_source_type: "file_id"}`. */
  fileId?: string | null | undefined;
  /** A file in an OSS bucket that DashScope mounts, sent as `{data_source_type: "oss_mount"}`. */
  ossMount?: OssMountInput | null | undefined;
};

/** Where a fine-tune job stands. */
export type FineTuneJobStatus =
  /** Stopped by a cancel. Terminal. */
  | 'CANCELED'
  /** A cancel was asked for; the job is stopping. */
  | 'CANCELING'
  /** Finished with an error; see `failure`. Terminal. */
  | 'FAILED'
  /** Created, waiting to start. */
  | 'PENDING'
  /** Waiting for a training slot (one job trains at a time per account). */
  | 'QUEUING'
  /** Training. */
  | 'RUNNING'
  /** Finished; `fineTunedModel` is usable. Terminal. */
  | 'SUCCEEDED'
  /** A status string this gateway does not know; `upstreamStatus` has it verbatim. */
  | 'UNKNOWN';

/**
 * Hyper-parameters of a new job. Only the ones given are sent; for the rest DashScope applies its own values (documented
 * per model family in its docs, not promised here).
 */
export type HyperParametersInput = {
  /** `batch_size`, at least 1. Required for text and VL models. */
  batchSize?: number | null | undefined;
  /** `eval_steps`, at least 1. */
  evalSteps?: number | null | undefined;
  /**
   * Any further upstream hyper-parameter, as an object of DashScope's own (snake_case) keys, sent as given, e.g.
   * `{ "freeze_vit": true }`. A key that a typed field above also sets is a `BAD_USER_INPUT`.
   */
  extra?: unknown;
  /** `learning_rate`, above 0. */
  learningRate?: number | null | undefined;
  /** `lora_alpha` (LoRA training types), at least 1. */
  loraAlpha?: number | null | undefined;
  /** `lora_dropout` (LoRA training types), in [0, 1). */
  loraDropout?: number | null | undefined;
  /** `lora_rank` (LoRA training types), at least 1. */
  loraRank?: number | null | undefined;
  /** `lr_scheduler_type`, e.g. `cosine`, `linear`. */
  lrSchedulerType?: string | null | undefined;
  /** `max_length`: longest sample in tokens, at least 1. Required for text and VL models. */
  maxLength?: number | null | undefined;
  /** `n_epochs`: passes over the training data, at least 1. Required for text and VL models. */
  nEpochs?: number | null | undefined;
  /** `save_steps`, at least 1. */
  saveSteps?: number | null | undefined;
  /** `save_strategy`: `epoch` or `steps`. */
  saveStrategy?: string | null | undefined;
  /** `save_total_limit`: checkpoints kept, at least 1. */
  saveTotalLimit?: number | null | undefined;
  /** `split`: training fraction when no validation files are given, in (0, 1]. */
  split?: number | null | undefined;
  /** `warmup_ratio`, in [0, 1]. */
  warmupRatio?: number | null | undefined;
  /** `weight_decay`, at least 0. */
  weightDecay?: number | null | undefined;
};

/** A dataset file in Alibaba Cloud OSS (DashScope's `mount_storage`). OSS mounts do not take ZIP files. */
export type OssMountInput = {
  /** The bucket name, as OSS names buckets: 3 to 63 lower-case letters, digits and `-`, starting and ending with a letter or digit. */
  bucket: string;
  /**
   * The object's path in the bucket, e.g. `dataset/data.jsonl`: 1 to 1023 letters, digits and `_ . - /`, without a
   * leading `/`, empty, `.` or `..` segments; not a `.zip` file.
   */
  filePath: string;
  /**
   * The bucket's region, e.g. `cn-beijing` or `ap-southeast-1` (the two DashScope documents for OSS mounts): lower-case
   * letters, digits and `-`.
   */
  region: string;
};

export type JobsPageQueryVariables = Exact<{
  page: number;
  pageSize: number;
}>;


export type JobsPageQuery = { fineTuneJobs: { total: number, hasNextPage: boolean, items: Array<{ id: string, status: FineTuneJobStatus, model: string, createdAt: string | null }> } };

export type JobWithCheckpointsQueryVariables = Exact<{
  id: string;
}>;


export type JobWithCheckpointsQuery = { fineTuneJob: { id: string, status: FineTuneJobStatus, durationSeconds: number | null, costEstimate: { amount: number, currency: string } | null, checkpoints: Array<{ id: string, step: number | null, status: CheckpointStatus }> | null } | null };

export type CreateJobMutationVariables = Exact<{
  input: CreateFineTuneJobInput;
  idempotencyKey?: string | null | undefined;
}>;


export type CreateJobMutation = { createFineTuneJob: { id: string, status: FineTuneJobStatus } };

export type WatchJobSubscriptionVariables = Exact<{
  id: string;
}>;


export type WatchJobSubscription = { fineTuneJobUpdated: { id: string, status: FineTuneJobStatus, isTerminal: boolean } };

export class TypedDocumentString<TResult, TVariables>
  extends String
  implements DocumentTypeDecoration<TResult, TVariables>
{
  __apiType?: NonNullable<DocumentTypeDecoration<TResult, TVariables>['__apiType']>;
  private value: string;
  public __meta__?: Record<string, any> | undefined;

  constructor(value: string, __meta__?: Record<string, any> | undefined) {
    super(value);
    this.value = value;
    this.__meta__ = __meta__;
  }

  override toString(): string & DocumentTypeDecoration<TResult, TVariables> {
    return this.value;
  }
}

export const JobsPageDocument = new TypedDocumentString(`
    query JobsPage($page: Int!, $pageSize: Int!) {
  fineTuneJobs(page: $page, pageSize: $pageSize) {
    total
    hasNextPage
    items {
      id
      status
      model
      createdAt
    }
  }
}
    `, {"hash":"sha256:b1c23034fc490aff86770910e05530d0b7a9631e891be2995431d99e1dd56002"}) as unknown as TypedDocumentString<JobsPageQuery, JobsPageQueryVariables>;
export const JobWithCheckpointsDocument = new TypedDocumentString(`
    query JobWithCheckpoints($id: ID!) {
  fineTuneJob(id: $id) {
    id
    status
    durationSeconds
    costEstimate {
      amount
      currency
    }
    checkpoints {
      id
      step
      status
    }
  }
}
    `, {"hash":"sha256:ab80a62cbce3dafc082542b126a80a05f32517366495890c08fe5c5ce4ae80e2"}) as unknown as TypedDocumentString<JobWithCheckpointsQuery, JobWithCheckpointsQueryVariables>;
export const CreateJobDocument = new TypedDocumentString(`
    mutation CreateJob($input: CreateFineTuneJobInput!, $idempotencyKey: String) {
  createFineTuneJob(input: $input, idempotencyKey: $idempotencyKey) {
    id
    status
  }
}
    `, {"hash":"sha256:f1952d102fc5cb747f7948cd77d4ff604b54826a7ea125412e0610d76b5282c2"}) as unknown as TypedDocumentString<CreateJobMutation, CreateJobMutationVariables>;
export const WatchJobDocument = new TypedDocumentString(`
    subscription WatchJob($id: ID!) {
  fineTuneJobUpdated(id: $id) {
    id
    status
    isTerminal
  }
}
    `, {"hash":"sha256:689c24dd36825597465e208a572447c9a17d0e7a29bca6baa4e1b928cff65df9"}) as unknown as TypedDocumentString<WatchJobSubscription, WatchJobSubscriptionVariables>;