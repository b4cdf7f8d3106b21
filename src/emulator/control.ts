// The control surface tests and the bench use to steer the emulator: in-process as methods of the handle, and over
// HTTP under `/__emulator/` (for an emulator in another process). Control requests are not counted in the stats.
import { randomBytes } from 'node:crypto';
import type { FaultRules } from './faults.js';
import { isRecord, parseJson, type Reply } from './http.js';
import { haltJob } from './job-timeline.js';
import { accountOf, type EmulatorState } from './state.js';
import type { RequestStats } from './stats.js';
import type { Emulator, FaultRule } from './control-types.js';

export const CONTROL_PREFIX = '/__emulator/';

export type Controls = Pick<Emulator, 'stats' | 'resetStats' | 'injectFault' | 'clearFaults' | 'putRawJob' | 'setJobStatus'>;

export function createControls(state: EmulatorState, stats: RequestStats, faults: FaultRules): Controls {
  return {
    stats: () => stats.snapshot(),
    resetStats: () => stats.reset(),
    injectFault: (rule) => faults.add(rule),
    clearFaults: () => faults.clear(),
    putRawJob: (apiKey, raw) => {
      const account = accountOf(state, apiKey);
      const id = typeof raw.job_id === 'string' ? raw.job_id : `raw-${randomBytes(4).toString('hex')}`;
      account.jobs.set(id, { kind: 'raw', id, raw: structuredClone(raw) });
    },
    setJobStatus: (apiKey, jobId, status) => {
      const job = accountOf(state, apiKey).jobs.get(jobId);
      if (!job) throw new Error(`emulator: no job ${jobId} for that account`);
      if (job.kind === 'raw') job.raw.status = status;
      else haltJob(job, state.now(), status);
    },
  };
}

const DONE: Reply = { status: 200, body: { ok: true } };
const badRequest = (error: string): Reply => ({ status: 400, body: { error } });

type ControlHandler = (json: unknown, controls: Controls, state: EmulatorState) => Reply;

/** `METHOD path` (after the prefix) → handler; a Map, so no path can reach an Object prototype key. */
const CONTROL_ROUTES = new Map<string, ControlHandler>(
  Object.entries({
    'GET stats': (_json, controls) => ({ status: 200, body: controls.stats() }),
    'POST stats/reset': (_json, controls) => {
      controls.resetStats();
      return DONE;
    },
    'POST faults': (json, controls) => {
      if (!isRecord(json) || !isRecord(json.fault) || typeof json.fault.kind !== 'string') return badRequest('body must be a FaultRule');
      controls.injectFault(json as unknown as FaultRule);
      return DONE;
    },
    'DELETE faults': (_json, controls) => {
      controls.clearFaults();
      return DONE;
    },
    'POST jobs': (json, controls, state) => {
      if (!isRecord(json) || !isRecord(json.job)) return badRequest('body must be {apiKey?, job}');
      const apiKey = typeof json.apiKey === 'string' ? json.apiKey : state.defaultApiKey;
      if (!state.accounts.has(apiKey)) return badRequest('unknown apiKey');
      controls.putRawJob(apiKey, json.job);
      return DONE;
    },
  }),
);

/** `path` is what follows CONTROL_PREFIX. */
export function controlReply(method: string, path: string, body: Buffer, controls: Controls, state: EmulatorState): Reply {
  const handler = CONTROL_ROUTES.get(`${method} ${path}`);
  return handler ? handler(parseJson(body), controls, state) : { status: 404, body: { error: 'unknown control endpoint' } };
}
