import type { IncomingMessage } from 'node:http';
import type { StoredDeployment } from './deployments.js';
import type { StoredJob } from './job-timeline.js';
import { keyHash, type Reply } from './http.js';
import { seedDeployments, seedFiles, seedJobs } from './seed.js';
import { NaiveClock } from './time.js';
import { DEMO_ACCOUNT, type EmulatorAccount, type EmulatorOptions, type PhaseDurations, type StoredFile } from './types.js';

export interface AccountState {
  account: EmulatorAccount;
  jobs: Map<string, StoredJob>;
  /** by `deployed_model` */
  deployments: Map<string, StoredDeployment>;
  /** training files, by id */
  files: Map<string, StoredFile>;
}

/** What every handler may read and change: the accounts with their jobs, the clock and the settings. */
export interface EmulatorState {
  now: () => number;
  clock: NaiveClock;
  phases: PhaseDurations;
  jobQuota: number;
  deleteNonTerminal: boolean;
  /** by API key */
  accounts: Map<string, AccountState>;
  /** the first account's key: the demo key, and the control API's default */
  defaultApiKey: string;
}

/** One authenticated API request, as a handler sees it. */
export interface ApiRequest {
  account: AccountState;
  /** the route's `:name` path segments, decoded */
  params: Readonly<Record<string, string>>;
  query: URLSearchParams;
  /** Empty for an upload, whose handler streams `req` itself. */
  body: Buffer;
  req: IncomingMessage;
}

export type Handler = (request: ApiRequest, state: EmulatorState) => Reply | Promise<Reply>;

export function createState(options: EmulatorOptions): EmulatorState {
  const now = options.now ?? Date.now;
  const clock = new NaiveClock(options.timeZoneOffsetMinutes ?? 480);
  const phases = options.phaseDurationsMs ?? { pending: 5000, queuing: 10_000, running: 45_000 };
  const accountList = options.accounts ?? [DEMO_ACCOUNT];
  const firstAccount = accountList[0];
  if (!firstAccount) throw new Error('startEmulator: at least one account is required');

  const startMs = now();
  const accounts = new Map<string, AccountState>();
  for (const account of accountList) {
    const jobs = new Map<string, StoredJob>();
    if (account.seed) for (const job of seedJobs(account, startMs, clock, phases)) jobs.set(job.id, job);
    const deployments = new Map<string, StoredDeployment>();
    if (account.seed) for (const deployment of seedDeployments(account, clock, phases)) deployments.set(deployment.id, deployment);
    const files = new Map<string, StoredFile>();
    if (account.seed) for (const file of seedFiles([...jobs.values()], startMs)) files.set(file.id, file);
    accounts.set(account.apiKey, { account, jobs, deployments, files });
  }
  return {
    now,
    clock,
    phases,
    jobQuota: options.jobQuota ?? 20,
    deleteNonTerminal: options.deleteNonTerminal ?? false,
    accounts,
    defaultApiKey: firstAccount.apiKey,
  };
}

/** For the control surface: an unknown key is the caller's mistake, so it throws (naming the key by its hash only). */
export function accountOf(state: EmulatorState, apiKey: string): AccountState {
  const account = state.accounts.get(apiKey);
  if (!account) throw new Error(`emulator: unknown api key (hash ${keyHash(apiKey)})`);
  return account;
}
