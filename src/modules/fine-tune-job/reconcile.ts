import { createHash } from 'node:crypto';
import { GatewayError } from '../../errors/index.js';
import type { FineTuneJobRecord, JobPageRecord } from '../../upstream/dashscope/index.js';

/*
 * DashScope has no idempotency key, so a create whose answer was lost (timeout, reset, unreadable answer) may or may
 * not have made a job. The gateway marks every create made with an idempotency key in a field DashScope echoes back
 * (`job_name`, when the caller set none), and a retry with the key looks for that job before creating again.
 *
 * The rule, for a retry after an ambiguous failure:
 * - without a caller `jobName`: the job named with the marker (a hash of credential, key and input) is that
 *   attempt's job; none means the attempt never created one.
 * - with a caller `jobName`: the gateway cannot rename the job, so it matches jobs with that name, the same model
 *   and training files, created since the first attempt began (less `CLOCK_SKEW_MS`). One is that job; none means
 *   no job was made; several: the gateway cannot tell which, and refuses (CONFLICT, `jobMayExist`), creating nothing.
 * - a search that cannot conclude (more recent jobs than it reads, unreadable list elements) refuses the same way.
 */

export const MARKER_PREFIX = 'gw-idem-';
/** Newest first, at most this many pages of the largest size DashScope allows. */
export const SEARCH_PAGE_SIZE = 100;
export const SEARCH_MAX_PAGES = 5;
/** How far DashScope's clock may lag the gateway's before a caller-named job is missed. */
export const CLOCK_SKEW_MS = 60_000;

/** The `job_name` the gateway gives a create made with an idempotency key when the caller set no name. */
export function idempotencyMarker(scope: string, key: string, fingerprint: string): string {
  const hash = createHash('sha256').update(`${scope}\u0000${key}\u0000${fingerprint}`).digest('hex');
  return MARKER_PREFIX + hash.slice(0, 32);
}

export interface CreatedJobQuery {
  /** The `job_name` the create sent: the gateway's marker, or the caller's own name. */
  name: string;
  /** Whether `name` is the gateway's marker (unique to this intent). */
  marked: boolean;
  model: string;
  trainingFileIds: readonly string[];
  /** When the first ambiguous attempt began (gateway clock, ms since the epoch). */
  since: number;
}

/** Whether `job` may be the one the query's create made. */
export function matchesCreate(job: FineTuneJobRecord, query: CreatedJobQuery): boolean {
  if (job.name !== query.name || job.model !== query.model) return false;
  if (query.marked) return true;
  if (job.trainingFileIds.length !== query.trainingFileIds.length || job.trainingFileIds.some((id, i) => id !== query.trainingFileIds[i]))
    return false;
  const created = createdMs(job);
  // A job of unknown age may be ours: counting it can only make the search refuse, never create twice.
  return created === undefined || created >= query.since - CLOCK_SKEW_MS;
}

/**
 * The job an earlier attempt created, undefined when it created none, or a refusal (CONFLICT, `jobMayExist`) when the
 * list cannot tell. `listPage` reads one page of the caller's jobs, newest first.
 */
export async function findCreatedJob(
  listPage: (page: number, pageSize: number) => Promise<JobPageRecord>,
  query: CreatedJobQuery,
): Promise<FineTuneJobRecord | undefined> {
  const cutoff = query.since - CLOCK_SKEW_MS;
  const candidates: FineTuneJobRecord[] = [];
  let unreadable = 0;
  for (let page = 1; page <= SEARCH_MAX_PAGES; page++) {
    const { jobs, invalidJobs } = await listPage(page, SEARCH_PAGE_SIZE);
    unreadable += invalidJobs;
    for (const job of jobs) {
      if (!matchesCreate(job, query)) continue;
      if (query.marked) return job;
      candidates.push(job);
    }
    const oldest = jobs.length > 0 ? createdMs(jobs[jobs.length - 1]!) : undefined;
    const ended = jobs.length + invalidJobs < SEARCH_PAGE_SIZE || (oldest !== undefined && oldest < cutoff);
    if (!ended) continue;
    if (candidates.length > 1) {
      throw refusal(
        `${candidates.length} jobs named ${JSON.stringify(query.name)} match this create (${candidates.map((j) => j.id).join(', ')}), so the gateway cannot tell which one the earlier attempt made; it created none. Check them, and retry with a new idempotency key if none is yours.`,
      );
    }
    if (candidates.length === 0 && unreadable > 0) {
      throw refusal(
        `DashScope listed ${unreadable} job(s) the gateway could not read, one of which may be the job the earlier attempt made; it created none. Check your jobs (fineTuneJobs) before creating it again with a new idempotency key.`,
      );
    }
    return candidates[0];
  }
  throw refusal(
    `More than ${SEARCH_MAX_PAGES * SEARCH_PAGE_SIZE} jobs were created since the earlier attempt, so the gateway could not check whether it made the job; it created none. Check your jobs (fineTuneJobs) before creating it again with a new idempotency key.`,
  );
}

function createdMs(job: FineTuneJobRecord): number | undefined {
  const ms = job.createdAt === null ? NaN : Date.parse(job.createdAt);
  return Number.isNaN(ms) ? undefined : ms;
}

function refusal(message: string): GatewayError {
  return new GatewayError(`An earlier attempt with this idempotency key may have created the job: ${message}`, {
    code: 'CONFLICT',
    retryable: false,
    jobMayExist: true,
  });
}
