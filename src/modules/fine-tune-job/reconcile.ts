import { createHash } from 'node:crypto';
import { GatewayError } from '../../errors/index.js';
import type { FineTuneJobRecord, JobPageRecord } from '../../upstream/dashscope/index.js';

/*
 * DashScope has no idempotency key, so a create whose answer was lost (timeout, reset, 5xx, unreadable answer) may or
 * may not have made a job. The gateway marks every create made with an idempotency key in a field DashScope echoes
 * back (`job_name`, when the caller set none), and every create with a key that this process does not know as done
 * looks for that job before creating: after a failure it saw, but also after a restart, or on another replica.
 *
 * The rule:
 * - without a caller `jobName`: the job named with the marker (a hash of credential, key and input) is that intent's
 *   job, whatever process created it; none means no attempt created one (yet: see the settling window in
 *   idempotency.ts).
 * - with a caller `jobName`: the gateway cannot rename the job, so it compares what DashScope echoes: name, model,
 *   training and validation files, training type, hyper-parameters (numbers compared by value), output model name and
 *   suffix. A job that differs in one of them is another intent's. After a failure this process saw, one job that
 *   matches in every field, created since the first attempt began (less `CLOCK_SKEW_MS`), is that job. Anything less
 *   certain refuses (CONFLICT, `jobMayExist`), creating nothing: several matches, a field the echo cannot confirm, or,
 *   for a key this process does not know, any match at all in the search window (it may be an identical job of
 *   another intent).
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
  /** What else the create sent (absent: not sent), compared with DashScope's echo for a caller-named create. */
  trainingFileIds?: readonly string[] | undefined;
  validationFileIds?: readonly string[] | undefined;
  /** `training_datasets` / `validation_datasets` and the reinforcement fields, in their upstream shape. */
  trainingDatasets?: readonly unknown[] | undefined;
  validationDatasets?: readonly unknown[] | undefined;
  rollout?: unknown;
  rewards?: unknown;
  resourceConfig?: unknown;
  trainingType?: string | undefined;
  hyperParameters?: Readonly<Record<string, unknown>> | undefined;
  modelName?: string | undefined;
  outputSuffix?: string | undefined;
  /** Jobs older than this (gateway clock, ms since the epoch, less `CLOCK_SKEW_MS`) are not looked at. */
  since: number;
  /**
   * This process knows of no earlier attempt (`since` is then the start of the search window): a caller-named job
   * that matches may be an identical job of another intent, so any match refuses.
   */
  unknownKey?: boolean;
}

/** How a listed job compares with a create: surely not its job, its job if nothing else matches, or cannot tell. */
export type Verdict = 'no' | 'yes' | 'maybe';

/** Whether `job` may be the one the query's create made. */
export function matchesCreate(job: FineTuneJobRecord, query: CreatedJobQuery): boolean {
  return compareWithCreate(job, query) !== 'no';
}

export function compareWithCreate(job: FineTuneJobRecord, query: CreatedJobQuery): Verdict {
  if (job.name !== query.name || job.model !== query.model) return 'no';
  if (query.marked) return 'yes';
  // A create with datasets sends no file ids, and DashScope echoes `[]` (§4).
  if (!sameList(job.trainingFileIds, query.trainingFileIds ?? [])) return 'no';
  const created = createdMs(job);
  // A job of unknown age may be ours: counting it can only make the search refuse, never create twice.
  if (created !== undefined && created < query.since - CLOCK_SKEW_MS) return 'no';
  let verdict: Verdict = created === undefined ? 'maybe' : 'yes';
  const weaken = (v: Verdict) => {
    if (v === 'no') verdict = 'no';
    else if (v === 'maybe' && verdict === 'yes') verdict = 'maybe';
  };
  // Not sent: DashScope defaults it; an echo other than the default may be another intent's, or a default we don't know.
  weaken(
    query.validationFileIds?.length
      ? job.validationFileIds.length === 0
        ? 'maybe'
        : verdictOf(sameList(job.validationFileIds, query.validationFileIds))
      : job.validationFileIds.length === 0
        ? 'yes'
        : 'maybe',
  );
  weaken(
    query.trainingType !== undefined
      ? job.trainingType === null
        ? 'maybe'
        : verdictOf(job.trainingType === query.trainingType)
      : job.trainingType === null || job.trainingType === 'sft'
        ? 'yes'
        : 'maybe',
  );
  weaken(compareHyperParameters(job.hyperParameters.raw, query.hyperParameters ?? {}));
  weaken(
    compareEcho(
      job.trainingDatasets?.map((d) => d.raw),
      query.trainingDatasets,
    ),
  );
  weaken(
    compareEcho(
      job.validationDatasets?.map((d) => d.raw),
      query.validationDatasets,
    ),
  );
  weaken(compareEcho(job.reinforcement.rollout, query.rollout));
  weaken(compareEcho(job.reinforcement.rewards, query.rewards));
  weaken(compareEcho(job.reinforcement.resourceConfig, query.resourceConfig));
  if (query.modelName !== undefined) weaken(job.modelName === null ? 'maybe' : verdictOf(job.modelName === query.modelName));
  // The suffix is echoed only inside the output model's name, which a job has once it succeeded.
  if (query.outputSuffix !== undefined)
    weaken(job.fineTunedModel === null ? 'maybe' : verdictOf(job.fineTunedModel.includes(query.outputSuffix)));
  return verdict;
}

const verdictOf = (same: boolean): Verdict => (same ? 'yes' : 'no');

/** Every key sent must be echoed with the same value; a key echoed but not sent may be a default DashScope filled in. */
function compareHyperParameters(echoed: Record<string, unknown>, sent: Readonly<Record<string, unknown>>): Verdict {
  let verdict: Verdict = 'yes';
  for (const [key, value] of Object.entries(sent)) {
    if (!Object.hasOwn(echoed, key)) verdict = 'maybe';
    else if (!sameValue(echoed[key], value)) return 'no';
  }
  if (Object.keys(echoed).some((key) => !Object.hasOwn(sent, key))) verdict = 'maybe';
  return verdict;
}

/**
 * A field DashScope echoes as a whole (datasets, the reinforcement objects). Sent and echoed: every value sent must come
 * back equal ('no' on a difference); keys DashScope adds make it uncertain. Sent but not echoed, or echoed but not
 * sent (other than an empty list): uncertain. Neither: the same.
 */
export function compareEcho(echoed: unknown, sent: unknown): Verdict {
  const empty = (v: unknown) => v === undefined || v === null || (Array.isArray(v) && v.length === 0);
  if (sent === undefined) return empty(echoed) ? 'yes' : 'maybe';
  if (echoed === undefined || echoed === null) return 'maybe';
  return covers(echoed, sent);
}

function covers(echoed: unknown, sent: unknown): Verdict {
  if (Array.isArray(sent)) {
    if (!Array.isArray(echoed) || echoed.length !== sent.length) return 'no';
    return worst(sent.map((item, i) => covers(echoed[i], item)));
  }
  if (isRecord(sent)) {
    if (!isRecord(echoed)) return 'no';
    const verdicts = Object.entries(sent).map(([key, value]): Verdict =>
      Object.hasOwn(echoed, key) ? covers(echoed[key], value) : 'maybe',
    );
    if (Object.keys(echoed).some((key) => !Object.hasOwn(sent, key))) verdicts.push('maybe');
    return worst(verdicts);
  }
  return verdictOf(sameValue(echoed, sent));
}

const worst = (verdicts: Verdict[]): Verdict => (verdicts.includes('no') ? 'no' : verdicts.includes('maybe') ? 'maybe' : 'yes');

const NUMERIC = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/;
const asNumber = (v: unknown): number | undefined =>
  typeof v === 'number' ? v : typeof v === 'string' && NUMERIC.test(v) ? Number(v) : undefined;

/** Equal as DashScope echoes values: numbers by value (it re-serialises 1.6e-5 as `0.000016`, or as a string). */
export function sameValue(a: unknown, b: unknown): boolean {
  const [x, y] = [asNumber(a), asNumber(b)];
  if (x !== undefined && y !== undefined) return x === y;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, i) => sameValue(item, b[i]));
  if (isRecord(a) && isRecord(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && sameValue(a[key], b[key]));
  }
  return a === b;
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((id, i) => id === b[i]);

/**
 * The job an earlier attempt created, undefined when it created none, or a refusal (CONFLICT, `jobMayExist`) when the
 * list cannot tell. `listPage` reads one page of the caller's jobs, newest first. Usually one page: the search stops
 * at the first job older than `since`.
 */
export async function findCreatedJob(
  listPage: (page: number, pageSize: number) => Promise<JobPageRecord>,
  query: CreatedJobQuery,
): Promise<FineTuneJobRecord | undefined> {
  const cutoff = query.since - CLOCK_SKEW_MS;
  const candidates: Array<{ job: FineTuneJobRecord; verdict: Verdict }> = [];
  let unreadable = 0;
  for (let page = 1; page <= SEARCH_MAX_PAGES; page++) {
    const { jobs, invalidJobs } = await listPage(page, SEARCH_PAGE_SIZE);
    unreadable += invalidJobs;
    for (const job of jobs) {
      const verdict = compareWithCreate(job, query);
      if (verdict === 'no') continue;
      if (query.marked) return job;
      candidates.push({ job, verdict });
    }
    const oldest = jobs.length > 0 ? createdMs(jobs[jobs.length - 1]!) : undefined;
    const ended = jobs.length + invalidJobs < SEARCH_PAGE_SIZE || (oldest !== undefined && oldest < cutoff);
    if (!ended) continue;
    const ids = candidates.map(({ job }) => job.id).join(', ');
    if (candidates.length > 1) {
      throw refusal(
        `${candidates.length} jobs named ${JSON.stringify(query.name)} match this create (${ids}), so the gateway cannot tell which one the earlier attempt made; it created none. Check them, and retry with a new idempotency key if none is yours.`,
      );
    }
    if (candidates.length === 1 && query.unknownKey) {
      throw refusal(
        `a job named ${JSON.stringify(query.name)} with this input (${ids}) was created recently, and this gateway instance has no record of the key (it may have restarted, or another instance made the attempt), so it cannot tell whether that job is this intent's; it created none. If it is not yours, create the job without an idempotency key or under another jobName.`,
      );
    }
    if (candidates.length === 1 && candidates[0]!.verdict === 'maybe') {
      throw refusal(
        `job ${ids} is named ${JSON.stringify(query.name)}, but DashScope's answer does not show every parameter of this create (or its creation time), so the gateway cannot tell whether it is this intent's job; it created none. Check it, and retry with a new idempotency key if it is not yours.`,
      );
    }
    if (candidates.length === 0 && unreadable > 0) {
      throw refusal(
        `DashScope listed ${unreadable} job(s) the gateway could not read, one of which may be the job the earlier attempt made; it created none. Check your jobs (fineTuneJobs) before creating it again with a new idempotency key.`,
      );
    }
    return candidates[0]?.job;
  }
  throw refusal(
    `More than ${SEARCH_MAX_PAGES * SEARCH_PAGE_SIZE} jobs were created since the earlier attempt, so the gateway could not check whether it made the job; it created none. Check your jobs (fineTuneJobs) before creating it again with a new idempotency key.`,
  );
}

/**
 * The jobs on the first page of the list (newest first) that may be the query's: after a create made on a retry,
 * more than one means that an earlier attempt created its job after all (too late to be found).
 */
export async function jobsOfCreate(
  listPage: (page: number, pageSize: number) => Promise<JobPageRecord>,
  query: CreatedJobQuery,
): Promise<FineTuneJobRecord[]> {
  const { jobs } = await listPage(1, SEARCH_PAGE_SIZE);
  return jobs.filter((job) => matchesCreate(job, query));
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
