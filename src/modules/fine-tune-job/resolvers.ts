import { badUserInput } from '../../errors/index.js';
import type { FineTuneJobResolvers, QueryResolvers } from '../../generated/graphql.js';
import { invalidIdReason } from '../../upstream/dashscope/index.js';
import { durationSeconds, estimateCost } from './derived.js';

export const MAX_IDS = 100;
export const MAX_PAGE_SIZE = 100;
export const MAX_LOG_LINES = 1000;

/** The id rule, as a client error naming the argument; the upstream client enforces the same rule again. */
export function checkJobId(id: string, argumentName = 'id'): Error | null {
  const reason = invalidIdReason(id);
  return reason
    ? badUserInput(
        `${JSON.stringify(id.length > 140 ? `${id.slice(0, 128)}…` : id)} is not a valid fine-tune job id: ${reason}.`,
        argumentName,
      )
    : null;
}

function requireRange(value: number, min: number, max: number, argumentName: string): void {
  if (value < min || value > max) {
    throw badUserInput(`${argumentName} must be between ${min} and ${max}, got ${value}.`, argumentName);
  }
}

export const Query: QueryResolvers = {
  fineTuneJob: (_parent, { id }, ctx) => {
    const invalid = checkJobId(id);
    if (invalid) throw invalid;
    return ctx.loaders.job.load(id);
  },

  fineTuneJobsByIds: (_parent, { ids }, ctx) => {
    if (ids.length > MAX_IDS) throw badUserInput(`ids may hold at most ${MAX_IDS} ids, got ${ids.length}.`, 'ids');
    // A failure at an index becomes null plus an error at that index; the other ids still resolve.
    return ids.map((id, index) => {
      const invalid = checkJobId(id, `ids[${index}]`);
      return invalid ? Promise.reject(invalid) : ctx.loaders.job.load(id);
    });
  },

  fineTuneJobs: async (_parent, { page, pageSize, model }, ctx) => {
    requireRange(page, 1, Number.MAX_SAFE_INTEGER, 'page');
    requireRange(pageSize, 1, MAX_PAGE_SIZE, 'pageSize');
    if (model != null && (model.length === 0 || model.length > 256)) throw badUserInput('model must be 1 to 256 characters long.', 'model');
    const result = await ctx.listJobs({ page, pageSize, model });
    if (result.invalidJobs > 0) {
      ctx.warn(
        `DashScope's list of fine-tune jobs (page ${page}) held ${result.invalidJobs} element(s) without job_id or status; left out`,
      );
    }
    // Later reads of these jobs in the same operation cost nothing.
    for (const job of result.jobs) ctx.loaders.job.prime(job.id, job);
    return { items: result.jobs, page, pageSize, total: result.total, hasNextPage: page * pageSize < result.total };
  },
};

export const FineTuneJob: FineTuneJobResolvers = {
  durationSeconds: (job, _args, ctx) => durationSeconds(job, ctx.now()),
  costEstimate: (job, _args, ctx) => estimateCost(job, ctx.prices),
  checkpoints: (job, _args, ctx) => ctx.loaders.checkpoints.load(job.id),
  logs: async (job, { offset, limit }, ctx) => {
    requireRange(offset, 0, Number.MAX_SAFE_INTEGER, 'offset');
    requireRange(limit, 1, MAX_LOG_LINES, 'limit');
    const logs = await ctx.loaders.logs.load({ jobId: job.id, offset, limit });
    return { total: logs.total, offset, lines: logs.lines };
  },
};
