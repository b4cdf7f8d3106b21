export { DashScopeClient, type Credential, type CreateJobBody, type DashScopeClientOptions, type ListJobsParams } from './client.js';
export {
  HYPER_PARAMETER_KEYS,
  TRAINING_TYPES,
  TRAINING_TYPE_PATTERN,
  toCreateJobBody,
  type CreateJobInput,
  type Dataset,
  type HyperParameterName,
  type UpstreamDataset,
} from './create-job.js';
export { UpstreamError, mayHaveTakenEffect, mayStillBeProcessed, type UpstreamFailure } from './errors.js';
export { invalidIdReason, isValidId } from './ids.js';
export { DEFAULT_RESILIENCE, Resilience, type BreakerState, type ResilienceEvent, type ResilienceOptions } from './resilience.js';
export type {
  CheckpointRecord,
  FineTuneJobRecord,
  HyperParametersRecord,
  JobLogsRecord,
  JobPageRecord,
  ValidationDetailPageRecord,
  ValidationDetailRecord,
  ValidationResultRecord,
} from './models.js';
export { checkpointNameOf } from './models.js';
export type { CreateDeploymentBody, UpstreamRequestEvent } from './client.js';
export { endpointTemplate } from './endpoint.js';
export { DEPLOYMENT_STATUSES, type DeploymentPageRecord, type DeploymentRecord, type DeploymentStatus } from './models.js';
export type { TrainingFileListRecord, TrainingFileRecord } from './models.js';
