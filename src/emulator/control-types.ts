import type { RouteName } from './router.js';

/* What a test or the bench sees of a running emulator: its stats, fault rules and handle. */

/** A route's name in stats and fault rules: one per line of the route table, or `unknown`. */
export type Route = RouteName | 'unknown';

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
