export { DashScopeClient, type Credential, type CreateJobBody, type DashScopeClientOptions, type ListJobsParams } from './client.js';
export { UpstreamError, type UpstreamFailure } from './errors.js';
export { invalidIdReason, isValidId } from './ids.js';
export type { CheckpointRecord, FineTuneJobRecord, HyperParametersRecord, JobLogsRecord, JobPageRecord } from './models.js';
