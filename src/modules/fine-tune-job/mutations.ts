import type { GatewayContext } from '../../context.js';
import { GatewayError, badUserInput, toGatewayError, type GatewayErrorExtensions } from '../../errors/index.js';
import type { MutationResolvers } from '../../generated/graphql.js';
import { credentialScope } from '../../upstream/credential-scope.js';
import {
  UpstreamError,
  mayStillBeProcessed,
  toCreateJobBody,
  type CreateJobBody,
  type Credential,
  type FineTuneJobRecord,
  type JobPageRecord,
} from '../../upstream/dashscope/index.js';
import { requireJobId } from '../arguments.js';
import { ONE_CALL, type FieldCosts } from '../costs.js';
import { byDeadline, createFailure, cutOffCause, mayExist, mayHaveChanged, mayHaveCreated, type Created, type CutOff } from '../writes.js';
import { EXPORT_COST, checkpointAfterExport, exportArguments } from './checkpoints.js';
import { parseCreateInput } from './create-input.js';
import { IDEMPOTENCY_TTL_MS, fingerprintOf, type Attempt } from './idempotency.js';
import { SEARCH_MAX_PAGES, findCreatedJob, idempotencyMarker, jobsOfCreate, type CreatedJobQuery } from './reconcile.js';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,128}$/;

/**
 * A write to job `id`, answered by the deadline (`cutOff`), then every copy of the job read before forgotten, before the
 * write answers (on every replica: src/upstream/job-reader.ts): everyone's once DashScope took the write or may have,
 * only the caller's when DashScope refused it (it changed nothing, and another tenant's cached copies are not the
 * caller's to throw away). A caller cut off before DashScope answered (gone, or the deadline) has its own copy
 * forgotten at once and everyone's only if DashScope's answer, when it comes, says so: leaving early is no way to
 * empty others' caches. Failures in their GraphQL form (an expected outcome, not a gateway error to log).
 */
async function writeToJob<T>(ctx: GatewayContext, id: string, write: Promise<T>, cutOff: (by: CutOff) => GatewayError): Promise<T> {
  // Whose copies DashScope's answer says go: everyone's unless it refused the write; unset until it answered.
  let everyone: boolean | undefined;
  const answered = write.then(
    () => (everyone = true),
    (failure: unknown) => (everyone = mayHaveChanged(failure)),
  );
  try {
    const result = await byDeadline(write, ctx.signal, cutOff);
    await ctx.invalidateJob(id);
    return result;
  } catch (error) {
    // Even a refused write (a cancel of a job that finished meanwhile) says the caller's copy is out of date.
    await ctx.invalidateJob(id, everyone ?? false);
    if (everyone === undefined) void answered.then((took) => (took ? ctx.invalidateJob(id) : undefined));
    throw toGatewayError(error);
  }
}

const JOB: Created = { noun: 'job', listHint: 'your jobs (fineTuneJobs)', flag: 'jobMayExist' };
const stillProcessing = (error: unknown) => error instanceof UpstreamError && mayStillBeProcessed(error.failure);

/** A cancel or delete cut off by the deadline may still take effect; repeating it is harmless. */
const writeCutOff = (action: string, id: string) => (by: CutOff) =>
  new GatewayError(
    `${cutOffCause(by)} before DashScope answered the ${action} of fine-tune job "${id}"; it may still take effect: read the job to see, or repeat the ${action}.`,
    { code: 'UPSTREAM_TIMEOUT', retryable: true },
  );

/** A failed search says nothing about a job: after an attempt that may have made one, the client is told so. */
const searchFailure = (mayExistBefore: boolean) => (error: unknown) => {
  const converted = toGatewayError(error);
  if (!(error instanceof UpstreamError && converted instanceof GatewayError)) throw error;
  throw mayExistBefore ? mayExist(JOB, converted.message, converted.extensions as unknown as GatewayErrorExtensions, true) : converted;
};

/**
 * A create with an idempotency key: marked so that a retry after a lost answer can find its job, shared by concurrent
 * duplicates, and preceded by a search for that job whenever this process does not know the key as done: after an
 * ambiguous failure it saw, but also after a restart or on another replica (src/modules/fine-tune-job/reconcile.ts).
 * The search reads the jobs made in the last idempotency window, one page in the common case.
 */
function keyedCreate(ctx: GatewayContext, credential: Credential, body: CreateJobBody, key: string): Promise<FineTuneJobRecord> {
  const scope = credentialScope(credential);
  const marked = body.job_name === undefined ? { ...body, job_name: idempotencyMarker(scope, key, fingerprintOf(body)) } : body;
  const query = {
    name: marked.job_name!,
    marked: marked !== body,
    model: body.model,
    trainingFileIds: body.training_file_ids,
    validationFileIds: body.validation_file_ids,
    trainingDatasets: body.training_datasets,
    validationDatasets: body.validation_datasets,
    rollout: body.rollout,
    rewards: body.rewards,
    resourceConfig: body.resource_config,
    trainingType: body.training_type,
    hyperParameters: body.hyper_parameters,
    modelName: body.model_name,
    outputSuffix: body.finetuned_output_suffix,
  };
  const list = (page: number, pageSize: number) => ctx.client.listJobs(credential, { page, pageSize, model: body.model });
  const attempt = async ({ ambiguousSince }: Attempt) => {
    const retry = ambiguousSince !== undefined;
    const since = ambiguousSince ?? Date.now() - IDEMPOTENCY_TTL_MS;
    const found = await findCreatedJob(list, { ...query, since, unknownKey: !retry }).catch(searchFailure(retry));
    if (found) return found;
    const job = await ctx.client.createJob(credential, marked);
    if (retry) reportDuplicates(ctx, list, { ...query, since }, job);
    return job;
  };
  return ctx.idempotency.run(scope, key, body, attempt, { mayHaveCreated, mayStillBeProcessed: stillProcessing });
}

/**
 * After a create made on a retry, one more look: a second job of the intent means that an earlier attempt was
 * processed after all, later than the search could see it. Nothing is canceled automatically (which job to keep is
 * the owner's call); operators are told. Not awaited: the client has its job.
 */
function reportDuplicates(
  ctx: GatewayContext,
  list: (page: number, pageSize: number) => Promise<JobPageRecord>,
  query: CreatedJobQuery,
  created: FineTuneJobRecord,
): void {
  jobsOfCreate(list, query).then(
    (jobs) => {
      if (jobs.length < 2) return;
      ctx.warn(
        `idempotent create: ${jobs.length} jobs named ${JSON.stringify(query.name)} may belong to one intent (${jobs.map((j) => j.id).join(', ')}; ` +
          `${created.id} was created by the retry): an earlier attempt was processed late. Nothing was canceled; check which to keep.`,
      );
    },
    (error: unknown) => ctx.warn(`idempotent create: the check for duplicates of ${created.id} failed: ${(error as Error).message}`),
  );
}

/* Writes go to the client directly: never retried, never cached. None is tied to the request's signal: a write
   that reached DashScope finishes (and a create is remembered for its idempotency key) even if the caller left. */
export const Mutation: MutationResolvers = {
  createFineTuneJob: async (_parent, { input, idempotencyKey: key }, ctx) => {
    const body = toCreateJobBody(parseCreateInput(input));
    if (key != null && !IDEMPOTENCY_KEY.test(key)) {
      throw badUserInput('idempotencyKey must be 1 to 128 printable ASCII characters without spaces.', 'idempotencyKey');
    }
    const credential = ctx.credential();
    const create = key == null ? ctx.client.createJob(credential, body) : keyedCreate(ctx, credential, body, key);
    const cutOff = (by: CutOff) =>
      mayExist(JOB, `${cutOffCause(by)} before DashScope answered the create.`, { code: 'UPSTREAM_TIMEOUT', retryable: true }, key != null);
    const job = await byDeadline(create, ctx.signal, cutOff).catch((error: unknown) => {
      throw createFailure(JOB, error, key != null);
    });
    await ctx.invalidateJob(job.id);
    return job;
  },

  cancelFineTuneJob: async (_parent, { id }, ctx) => {
    requireJobId(id);
    await writeToJob(ctx, id, ctx.client.cancelJob(ctx.credential(), id), writeCutOff('cancel', id));
    return ctx.loaders.job.load(id);
  },

  deleteFineTuneJob: async (_parent, { id }, ctx) => {
    requireJobId(id);
    await writeToJob(ctx, id, ctx.client.deleteJob(ctx.credential(), id), writeCutOff('delete', id));
    return { id, deleted: true };
  },

  exportCheckpoint: async (_parent, { jobId, checkpointId, modelName: name }, ctx) => {
    requireJobId(jobId, 'jobId');
    const { checkpoint, modelName } = exportArguments(jobId, checkpointId, name);
    const cutOff = () =>
      new GatewayError(
        `The operation deadline passed before DashScope answered the export of checkpoint "${checkpoint}" of fine-tune job "${jobId}"; it may still take effect: read the job's checkpoints to see (repeating it with the same modelName answers CONFLICT if it did).`,
        { code: 'UPSTREAM_TIMEOUT', retryable: true },
      );
    // The checkpoint's status moves on: no copy of the job's checkpoints read before may be served.
    const submitted = await writeToJob(ctx, jobId, ctx.client.exportCheckpoint(ctx.credential(), jobId, checkpoint, modelName), cutOff);
    // §6.10: `false` is a failed submission, nothing exported; DashScope says to retry.
    if (!submitted) {
      throw new GatewayError(
        `DashScope did not accept the export of checkpoint "${checkpoint}" of fine-tune job "${jobId}" (it answered false); nothing was exported: retry.`,
        { code: 'UPSTREAM_ERROR', retryable: true },
      );
    }
    return checkpointAfterExport(ctx, jobId, checkpoint);
  },
};

/**
 * What each write costs upstream: a cancel re-reads the job it touched; a keyed create first searches for its job
 * (one page of the list usually, `SEARCH_MAX_PAGES` at most).
 */
export const costs: FieldCosts = {
  Mutation: {
    createFineTuneJob: { calls: (args) => (args.idempotencyKey == null ? 1 : 1 + SEARCH_MAX_PAGES), times: () => 1 },
    cancelFineTuneJob: { calls: () => 2, times: () => 1 },
    deleteFineTuneJob: ONE_CALL,
    exportCheckpoint: EXPORT_COST,
  },
};
