import { SEED_JOB_IDS } from '../src/emulator/seed.js';

/* What the bench asks: each workload's query, the same upstream call through the pass-through, and its bound. */

export type GatewayName = 'gateway' | 'gateway, no response cache' | 'gateway, cache off' | 'no loaders/caches';
const NO_RESPONSE_CACHE = { RESPONSE_CACHE_ENABLED: 'false' };
export const GATEWAY_ENV: Record<GatewayName, Record<string, string>> = {
  gateway: {},
  // The finished-job cache of the read path alone: execution on every request, no upstream call.
  'gateway, no response cache': NO_RESPONSE_CACHE,
  'gateway, cache off': { CACHE_ENABLED: 'false', ...NO_RESPONSE_CACHE },
  'no loaders/caches': { CACHE_ENABLED: 'false', UPSTREAM_SINGLE_FLIGHT: 'false', DATALOADERS_ENABLED: 'false', ...NO_RESPONSE_CACHE },
};

export interface Workload {
  name: string;
  gateway: GatewayName;
  query: string;
  variables?: Record<string, unknown>;
  /** The same upstream call, through the bare pass-through. */
  passthroughPath: string;
  /** Fewest upstream calls per operation a gateway can make, for the configured gateway and for the bare one. */
  bound: (statuses: Map<string, string>) => { gateway: number; bare: number };
  /**
   * Its row in the peer table (bench/peers/: Apollo Server and a lean yoga answer it too), named as in the issue that
   * set the peer targets; `sameCall`: the pass-through makes the upstream call this workload makes (one, not twenty).
   */
  peer?: { label: string; sameCall: boolean };
}

export const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELED']);
const JOB_QUERY = 'query($id: ID!) { fineTuneJob(id: $id) { id status durationSeconds costEstimate { amount currency } } }';
let twentyIds: string[] = [];

export const WORKLOADS: Workload[] = [
  {
    // First: the pass-through's figure for this job call is measured right after it, in the same minute.
    name: 'finished job, response cache',
    gateway: 'gateway',
    query: JOB_QUERY,
    variables: { id: SEED_JOB_IDS.contractExample },
    passthroughPath: `/jobs/${SEED_JOB_IDS.contractExample}`,
    bound: () => ({ gateway: 0, bare: 1 }),
    peer: { label: 'finished job (kept answer)', sameCall: true },
  },
  {
    name: 'terminal job, cache on',
    gateway: 'gateway, no response cache',
    query: JOB_QUERY,
    variables: { id: SEED_JOB_IDS.contractExample },
    passthroughPath: `/jobs/${SEED_JOB_IDS.contractExample}`,
    bound: () => ({ gateway: 0, bare: 1 }),
  },
  {
    name: 'terminal job, cache off',
    gateway: 'gateway, cache off',
    query: JOB_QUERY,
    variables: { id: SEED_JOB_IDS.contractExample },
    passthroughPath: `/jobs/${SEED_JOB_IDS.contractExample}`,
    bound: () => ({ gateway: 1, bare: 1 }),
  },
  {
    name: 'running job',
    gateway: 'gateway',
    query: JOB_QUERY,
    variables: { id: SEED_JOB_IDS.running },
    passthroughPath: `/jobs/${SEED_JOB_IDS.running}`,
    bound: () => ({ gateway: 1, bare: 1 }),
    peer: { label: 'running job (one id)', sameCall: true },
  },
  {
    name: '20 jobs by id',
    gateway: 'gateway',
    query: 'query($ids: [ID!]!) { fineTuneJobsByIds(ids: $ids) { id status durationSeconds costEstimate { amount currency } } }',
    passthroughPath: `/jobs/${SEED_JOB_IDS.running}`,
    // Finished jobs are cached: only the ones still going cost a call.
    bound: (statuses) => ({ gateway: twentyIds.filter((id) => !TERMINAL.has(statuses.get(id) ?? '')).length, bare: 20 }),
    peer: { label: '20 jobs by id', sameCall: false },
  },
  {
    name: 'page of 40, derived fields',
    gateway: 'gateway',
    query: `{ fineTuneJobs(page: 1, pageSize: 40) { total hasNextPage items { id status model createdAt durationSeconds isTerminal
      costEstimate { amount currency isFinal } hyperParameters { nEpochs batchSize learningRate loraRank raw } } } }`,
    passthroughPath: '/jobs?page_no=1&page_size=40',
    bound: () => ({ gateway: 1, bare: 1 }),
    peer: { label: 'page of 40', sameCall: true },
  },
  {
    name: 'page of 10 with checkpoints',
    gateway: 'gateway',
    query: '{ fineTuneJobs(page: 1, pageSize: 10) { items { id status checkpoints { name step status modelName } } } }',
    passthroughPath: '/jobs?page_no=1&page_size=10',
    // Checkpoints change after a job ends (exports), so they are never cached: one call per job plus the page.
    bound: () => ({ gateway: 11, bare: 11 }),
  },
];

/** The workloads whose name holds any of `filters` (all when none is given). */
export function selectWorkloads(filters: string[]): Workload[] {
  const selected = WORKLOADS.filter((w) => !filters.length || filters.some((f) => w.name.includes(f)));
  if (!selected.length) throw new Error(`no workload matches ${filters.join(', ')}; workloads: ${WORKLOADS.map((w) => w.name).join(', ')}`);
  return selected;
}

/** Twenty distinct ids, the jobs still going first, from the upstream's own list: the "20 jobs by id" workload. */
export function chooseTwentyIds(statuses: Map<string, string>): void {
  twentyIds = [...statuses.keys()]
    .sort((a, b) => Number(TERMINAL.has(statuses.get(a)!)) - Number(TERMINAL.has(statuses.get(b)!)))
    .slice(0, 20);
  for (const workload of WORKLOADS) if (workload.name === '20 jobs by id') workload.variables = { ids: twentyIds };
}

/**
 * What a peer's answer must share with the gateway's: every job's id and status, in order, and the rest of the shape
 * (a page's total); derived figures may differ in rounding or by the second a running job's duration was read.
 */
export function essentials(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(essentials);
  if (value === null || typeof value !== 'object') return value;
  const object = value as Record<string, unknown>;
  if ('id' in object) return `${String(object.id)} ${String(object.status)}`;
  return Object.fromEntries(Object.entries(object).map(([key, inner]) => [key, essentials(inner)]));
}
