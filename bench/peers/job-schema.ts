import prices from '../../src/modules/fine-tune-job/prices.json' with { type: 'json' };

/*
 * What both peers (apollo.ts, lean-yoga.ts) serve: a small SDL with the fields the bench's workloads ask for, and the
 * field resolvers over DashScope's job JSON as it comes, written the way a team would in an afternoon. Only how the
 * jobs are fetched differs between the peers. Not the gateway's schema: no validation, no errors of its own, no costs.
 */

export const typeDefs = /* GraphQL */ `
  scalar JSON

  enum FineTuneJobStatus {
    PENDING
    QUEUING
    RUNNING
    CANCELING
    SUCCEEDED
    FAILED
    CANCELED
    UNKNOWN
  }

  type Query {
    fineTuneJob(id: ID!): FineTuneJob
    fineTuneJobsByIds(ids: [ID!]!): [FineTuneJob]!
    fineTuneJobs(page: Int! = 1, pageSize: Int! = 10): FineTuneJobPage!
  }

  type FineTuneJobPage {
    items: [FineTuneJob!]!
    page: Int!
    pageSize: Int!
    total: Int!
    hasNextPage: Boolean!
  }

  type FineTuneJob {
    id: ID!
    status: FineTuneJobStatus!
    model: String!
    createdAt: String
    endedAt: String
    isTerminal: Boolean!
    durationSeconds: Int
    costEstimate: CostEstimate
    hyperParameters: HyperParameters!
  }

  type CostEstimate {
    amount: Float!
    currency: String!
    isFinal: Boolean!
  }

  type HyperParameters {
    nEpochs: Int
    batchSize: Int
    learningRate: Float
    loraRank: Int
    raw: JSON!
  }
`;

/** A job as DashScope sends it (`output` of GET /fine-tunes/{id}, an element of the list's `output.jobs`). */
export interface DashScopeJob {
  job_id: string;
  status: string;
  model?: string;
  base_model?: string;
  create_time?: string;
  end_time?: string;
  usage?: number;
  hyper_parameters?: Record<string, unknown>;
}

export interface DashScopeJobList {
  total: number;
  jobs: DashScopeJob[];
}

const KNOWN = new Set(['PENDING', 'QUEUING', 'RUNNING', 'CANCELING', 'SUCCEEDED', 'FAILED', 'CANCELED']);
const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELED']);
const PRICES: Record<string, number> = prices.intl.perThousandTokens;

// DashScope sends naive Beijing times (`2024-10-29 16:53:53`).
const toIso = (time?: string) => (time ? `${time.replace(' ', 'T')}+08:00` : null);

export const jobResolvers = {
  FineTuneJob: {
    id: (job: DashScopeJob) => job.job_id,
    status: (job: DashScopeJob) => (KNOWN.has(job.status) ? job.status : 'UNKNOWN'),
    model: (job: DashScopeJob) => job.model ?? job.base_model ?? '',
    createdAt: (job: DashScopeJob) => toIso(job.create_time),
    endedAt: (job: DashScopeJob) => toIso(job.end_time),
    isTerminal: (job: DashScopeJob) => TERMINAL.has(job.status),
    durationSeconds: (job: DashScopeJob) => {
      if (!job.create_time) return null;
      const end = job.end_time ? Date.parse(toIso(job.end_time)!) : Date.now();
      return Math.max(0, Math.floor((end - Date.parse(toIso(job.create_time)!)) / 1000));
    },
    costEstimate: (job: DashScopeJob) => {
      const price = PRICES[job.base_model ?? job.model ?? ''];
      if (job.usage == null || price === undefined) return null;
      return { amount: (job.usage / 1000) * price, currency: prices.intl.currency, isFinal: TERMINAL.has(job.status) };
    },
    hyperParameters: (job: DashScopeJob) => job.hyper_parameters ?? {},
  },
  HyperParameters: {
    nEpochs: (h: Record<string, unknown>) => h.n_epochs,
    batchSize: (h: Record<string, unknown>) => h.batch_size,
    learningRate: (h: Record<string, unknown>) => h.learning_rate,
    loraRank: (h: Record<string, unknown>) => h.lora_rank,
    raw: (h: Record<string, unknown>) => h,
  },
};

/** The page a list call answered, in the schema's shape. */
export const pageOf = (list: DashScopeJobList, page: number, pageSize: number) => ({
  items: list.jobs,
  page,
  pageSize,
  total: list.total,
  hasNextPage: page * pageSize < list.total,
});
