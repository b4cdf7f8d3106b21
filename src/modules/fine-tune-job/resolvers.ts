import type { UpstreamRead } from '../../context.js';
import { badUserInput } from '../../errors/index.js';
import type { FineTuneJobResolvers, QueryResolvers } from '../../generated/graphql.js';
import type { FineTuneJobRecord, JobLogsRecord } from '../../upstream/dashscope/index.js';
import { checkJobId, requireJobId, requireRange } from '../arguments.js';
import { countOf, FREE, ONE_CALL, type FieldCosts } from '../costs.js';
import { checkpointFieldCosts, checkpointFields } from './checkpoints.js';
import { durationSeconds, estimateCost, type CostEstimateRecord, type PriceList } from './derived.js';

export const MAX_IDS = 100;
export const MAX_PAGE_SIZE = 100;
export const MAX_LOG_LINES = 1000;

/** A job's log windows: per-operation loader over the shared reader (src/context.ts). */
interface LogsKey {
  jobId: string;
  offset: number;
  limit: number;
}
const logsOf: UpstreamRead<LogsKey, JobLogsRecord> = {
  name: 'logs',
  read: ({ reader }, credential, key, signal) => reader.getLogs(credential, key.jobId, key, signal),
  cacheKey: (key) => `${key.jobId}\u0000${key.offset}\u0000${key.limit}`,
};

export const Query: QueryResolvers = {
  fineTuneJob: (_parent, { id }, ctx) => {
    requireJobId(id);
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

/*
 * Derived fields, computed once per job record rather than once per request: a record is never changed after it is
 * read (a newer state is a new record), and the cache of finished jobs and single-flight hand the same record to many
 * operations. Keyed weakly by the record, so an entry lives exactly as long as the record it describes. On a page of 40
 * this saves two date parses and an object per job per request (the bench's "page of 40" workload).
 */
const costByPrices = new WeakMap<PriceList, WeakMap<FineTuneJobRecord, CostEstimateRecord | null>>();
const finishedDuration = new WeakMap<FineTuneJobRecord, number | null>();

function memoCost(job: FineTuneJobRecord, prices: PriceList): CostEstimateRecord | null {
  let byJob = costByPrices.get(prices);
  if (!byJob) costByPrices.set(prices, (byJob = new WeakMap()));
  let cost = byJob.get(job);
  if (cost === undefined) byJob.set(job, (cost = estimateCost(job, prices)));
  return cost;
}

/** Only a finished job's duration is fixed; a running one's grows with the clock. */
function memoDuration(job: FineTuneJobRecord, ctx: { now(): number }): number | null {
  if (!job.isTerminal) return durationSeconds(job, ctx.now());
  let seconds = finishedDuration.get(job);
  if (seconds === undefined) finishedDuration.set(job, (seconds = durationSeconds(job, ctx.now())));
  return seconds;
}

export const FineTuneJob: FineTuneJobResolvers = {
  // An entity reference from a federated gateway (`_entities`): the same loader, so the same batching, budget and
  // NOT_FOUND as `fineTuneJob(id)`.
  __resolveReference: async ({ id }, ctx) => {
    requireJobId(id, 'representations');
    return ctx.loaders.job.load(id);
  },
  durationSeconds: (job, _args, ctx) => memoDuration(job, ctx),
  costEstimate: (job, _args, ctx) => memoCost(job, ctx.prices),
  ...checkpointFields,
  logs: async (job, { offset, limit }, ctx) => {
    requireRange(offset, 0, Number.MAX_SAFE_INTEGER, 'offset');
    requireRange(limit, 1, MAX_LOG_LINES, 'limit');
    const logs = await ctx.loader(logsOf).load({ jobId: job.id, offset, limit });
    return { total: logs.total, offset, lines: logs.lines };
  },
};

/**
 * What each field above costs upstream, at most (repeated ids are de-duplicated at run time, so this over-counts
 * them). A page resolves its items `pageSize` times; later reads of those jobs hit the primed loader.
 */
export const costs: FieldCosts = {
  Query: {
    fineTuneJob: ONE_CALL,
    fineTuneJobsByIds: { calls: (a) => countOf(a.ids), times: (a) => countOf(a.ids) },
    fineTuneJobs: { calls: () => 1, times: (a) => (typeof a.pageSize === 'number' ? Math.max(0, a.pageSize) : 1) },
  },
  FineTuneJob: {
    durationSeconds: FREE,
    costEstimate: FREE,
    ...checkpointFieldCosts,
    logs: ONE_CALL,
  },
};
