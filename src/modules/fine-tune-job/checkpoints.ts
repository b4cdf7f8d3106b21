import type { GatewayContext, UpstreamRead } from '../../context.js';
import { GatewayError, badUserInput } from '../../errors/index.js';
import type { FineTuneJobResolvers, ValidationResultResolvers } from '../../generated/graphql.js';
import {
  UpstreamError,
  invalidIdReason,
  type CheckpointRecord,
  type FineTuneJobRecord,
  type ValidationDetailPageRecord,
  type ValidationResultRecord,
} from '../../upstream/dashscope/index.js';
import { requireRange } from '../arguments.js';
import { FREE, ONE_CALL, type FieldCost, type FieldCosts } from '../costs.js';

/*
 * Checkpoints and validation artifacts (the contract §6.9–6.11, §6.14). What DashScope serves depends on the model
 * family, known from the job's base model (or its model, whose id starts with the base model's):
 * - `wan…` (image, video): checkpoints and validation results;
 * - `cosyvoice…`: several checkpoints, no validation results;
 * - anything else (text, VL): checkpoints only with `save_strategy`; no validation results.
 */
export type Family = 'wan' | 'cosyvoice' | 'other' | 'unknown';

export function familyOf(job: Pick<FineTuneJobRecord, 'baseModel' | 'model'>): Family {
  const model = (job.baseModel ?? job.model).toLowerCase();
  if (model.startsWith('wan')) return 'wan';
  if (model.startsWith('cosyvoice')) return 'cosyvoice';
  if (/^qwen|^qwq/.test(model)) return 'other';
  return 'unknown';
}

/** A status of 400 from a GET of the job's own sub-resource: no argument of ours can be wrong, so it has none. */
const isNoneHere = (error: unknown) => error instanceof UpstreamError && error.failure.kind === 'http' && error.failure.httpStatus === 400;

interface CheckpointsKey {
  jobId: string;
  /**
   * A family not documented with checkpoints (§6.14: "a text job may answer an empty list or an error"): a 400 then
   * reads as none. A 404 stays NOT_FOUND whatever the family: it cannot be told from a job deleted meanwhile.
   */
  emptyOn400: boolean;
}

/** A job's checkpoints: per-operation loader over the shared reader (single-flight). */
export const checkpointsOf: UpstreamRead<CheckpointsKey, CheckpointRecord[]> = {
  name: 'checkpoints',
  read: ({ reader }, credential, { jobId, emptyOn400 }, signal) =>
    reader.listCheckpoints(credential, jobId, signal).catch((error: unknown) => {
      if (emptyOn400 && isNoneHere(error)) return [];
      throw error;
    }),
  cacheKey: (key) => key.jobId,
};

export const checkpointsKey = (job: FineTuneJobRecord): CheckpointsKey => ({
  jobId: job.id,
  emptyOn400: familyOf(job) === 'other' || familyOf(job) === 'unknown',
});

const validationResultsOf: UpstreamRead<string, ValidationResultRecord[]> = {
  name: 'validationResults',
  // Unknown family: asked, and a 400 (an endpoint that does not apply to this job) read as none.
  read: ({ client }, credential, jobId, signal) =>
    client.listValidationResults(credential, jobId, signal).catch((error: unknown) => {
      if (isNoneHere(error)) return [];
      throw error;
    }),
};

interface DetailsKey {
  jobId: string;
  checkpoint: string;
  page: number;
  pageSize: number;
}
const validationDetailsOf: UpstreamRead<DetailsKey, ValidationDetailPageRecord> = {
  name: 'validationDetails',
  read: ({ client }, credential, { jobId, checkpoint, page, pageSize }, signal) =>
    client.getValidationDetails(credential, jobId, checkpoint, { page, pageSize }, signal),
  cacheKey: (k) => `${k.jobId}\u0000${k.checkpoint}\u0000${k.page}\u0000${k.pageSize}`,
};

export const MAX_DETAILS_PAGE_SIZE = 100;
/** The most validation results a job has, for the fan-out estimate: one per checkpoint, at most `max_output_cnt` (10). */
export const MAX_VALIDATION_RESULTS = 10;

export const checkpointFields: Pick<FineTuneJobResolvers, 'checkpoints' | 'validationResults'> = {
  checkpoints: (job, _args, ctx) => ctx.loader(checkpointsOf).load(checkpointsKey(job)),
  validationResults: (job, _args, ctx) => {
    const family = familyOf(job);
    if (family === 'cosyvoice' || family === 'other') return [];
    return ctx.loader(validationResultsOf).load(job.id);
  },
};

export const ValidationResult: ValidationResultResolvers = {
  checkpoint: (result) => result.checkpoint,
  details: async (result, { page, pageSize }, ctx) => {
    requireRange(page, 1, 1_000_000, 'page');
    requireRange(pageSize, 1, MAX_DETAILS_PAGE_SIZE, 'pageSize');
    const details = await ctx.loader(validationDetailsOf).load({ jobId: result.jobId, checkpoint: result.checkpoint, page, pageSize });
    // Without a total (an [INF] field), a full page may have a next one.
    const hasNextPage = details.total === null ? details.items.length >= pageSize : page * pageSize < details.total;
    return { items: details.items, page, pageSize, total: details.total, hasNextPage };
  },
};

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** The checkpoint's name in the export path, from its id (`{job}:checkpoint-N`, `{job}-checkpoint-N`) or name. */
export function exportArguments(jobId: string, checkpointId: string, modelName: string): { checkpoint: string; modelName: string } {
  if (!MODEL_NAME.test(modelName)) {
    throw badUserInput('modelName must be 1 to 64 letters, digits, "-", "_" or ".", starting with a letter or digit.', 'modelName');
  }
  let checkpoint = checkpointId;
  for (const separator of [':', '-']) {
    if (checkpointId.startsWith(`${jobId}${separator}`)) checkpoint = checkpointId.slice(jobId.length + 1);
  }
  const quoted = JSON.stringify(checkpointId.length > 140 ? `${checkpointId.slice(0, 128)}…` : checkpointId);
  if (checkpoint.includes(':')) throw badUserInput(`${quoted} is the id of another job's checkpoint.`, 'checkpointId');
  const reason = invalidIdReason(checkpoint);
  if (reason) throw badUserInput(`${quoted} is not a valid checkpoint id: ${reason}.`, 'checkpointId');
  return { checkpoint, modelName };
}

/** The checkpoint as read after the export (the cache of the job already forgotten). */
export async function checkpointAfterExport(ctx: GatewayContext, jobId: string, checkpoint: string): Promise<CheckpointRecord> {
  const all = await ctx.loader(checkpointsOf).load({ jobId, emptyOn400: false });
  const found = all.find((c) => c.name === checkpoint || c.id === checkpoint);
  if (!found) {
    throw new GatewayError(`DashScope accepted the export, but no longer lists checkpoint "${checkpoint}" of fine-tune job "${jobId}".`, {
      code: 'NOT_FOUND',
      retryable: false,
    });
  }
  return found;
}

/** The export and its re-read. */
export const EXPORT_COST: FieldCost = { calls: () => 2, times: () => 1 };

/** The costs of `checkpointFields`, spread into the FineTuneJob costs of resolvers.ts. */
export const checkpointFieldCosts = {
  checkpoints: ONE_CALL,
  // At most one call (none for a family without them); its entries each resolve `details`.
  validationResults: { calls: () => 1, times: () => MAX_VALIDATION_RESULTS },
} satisfies FieldCosts['FineTuneJob'];

export const validationResultCosts = { checkpoint: FREE, details: ONE_CALL } satisfies FieldCosts['ValidationResult'];
