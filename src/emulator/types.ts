import type { RouteName } from './router.js';

/** A route's name in stats and fault rules: one per line of the route table, or `unknown`. */
export type Route = RouteName | 'unknown';

export interface EmulatorAccount {
  apiKey: string;
  workspaceId: string;
  userId: string;
  seed?: boolean;
}

export interface PhaseDurations {
  pending: number;
  queuing: number;
  running: number;
}

export interface EmulatorOptions {
  host?: string;
  port?: number;
  accounts?: EmulatorAccount[];
  now?: () => number;
  timeZoneOffsetMinutes?: number;
  phaseDurationsMs?: PhaseDurations;
  deleteNonTerminal?: boolean;
  jobQuota?: number;
  latencyMs?: number;
}

export interface StatsRequest {
  method: string;
  url: string;
  route: Route;
  jobId?: string;
  apiKeyHash?: string;
}

export interface EmulatorStats {
  total: number;
  byRoute: Record<string, number>;
  requests: StatsRequest[];
  /** Requests (other than the control API) whose connection is still open: a `hang` stays until the client gives up. */
  inFlight: number;
  /** The most such requests in flight at once since the last reset. */
  maxInFlight: number;
}

/**
 * `processed`: the request takes effect first (a create creates its job), then the fault replaces its answer: a
 * write whose answer is lost on the way back.
 */
export type Fault = { processed?: boolean } & (
  | { kind: 'status'; status: number; code?: string; message?: string; retryAfter?: string }
  | { kind: 'delay'; ms: number }
  | { kind: 'hang' }
  | { kind: 'reset' }
  | { kind: 'truncated-json' }
  | { kind: 'html'; status?: number }
  | { kind: 'not-json' }
  | { kind: 'slow-body'; ms: number }
  | { kind: 'body'; status?: number; body: unknown }
);

export interface FaultRule {
  /** `unknownKey: true`: only requests whose key is no account's (a made-up key, answered 401 once the fault allows). */
  match?: { route?: Route; method?: string; jobId?: string; apiKey?: string; unknownKey?: boolean };
  times?: number;
  probability?: number;
  fault: Fault;
}

export interface Emulator {
  url: string;
  demoApiKey: string;
  stats(): EmulatorStats;
  resetStats(): void;
  injectFault(rule: FaultRule): void;
  clearFaults(): void;
  putRawJob(apiKey: string, raw: Record<string, unknown>): void;
  setJobStatus(apiKey: string, jobId: string, status: string): void;
  close(): Promise<void>;
}

/** The emulator's demo key: `npm run dev`'s default, and what tests and the bench send. */
export const DEMO_API_KEY = 'sk-emulator-demo';

export const DEMO_ACCOUNT: EmulatorAccount = {
  apiKey: DEMO_API_KEY,
  workspaceId: 'llm-demo0001',
  userId: '1234567890123456',
  seed: true,
};
