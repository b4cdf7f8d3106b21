import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SEED_JOB_IDS, type EmulatorAccount } from '../../src/emulator/index.js';
import { captureLogs } from '../support/logs.js';
import { startStack, type GraphQLResponse, type Stack } from '../support/stack.js';

// Canary keys: none of them may appear in any response body or header, or in any log line, of any test here.
const SERVER_KEY = 'sk-canary-server-7f3a9c1e5b88';
const KEY_A = 'sk-canary-team-a-0d4e8b2c9f11';
const KEY_B = 'sk-canary-team-b-6a1f3e7d2c22';
const CANARIES = [SERVER_KEY, KEY_A, KEY_B];
const account = (apiKey: string, workspaceId: string): EmulatorAccount => ({ apiKey, workspaceId, userId: workspaceId, seed: true });
const TEAM_A_ONLY = 'ft-209901010000-aaaa';

const logs = captureLogs();
const seen: string[] = [];

let server: Stack;
let forward: Stack;
beforeAll(async () => {
  [server, forward] = await Promise.all([
    startStack({
      env: { LOG_LEVEL: 'debug', NODE_ENV: 'production' },
      emulator: { accounts: [account(SERVER_KEY, 'llm-server01')] },
      logs,
    }),
    startStack({
      env: { LOG_LEVEL: 'debug', NODE_ENV: 'production', AUTH_MODE: 'forward' },
      emulator: { accounts: [account(KEY_A, 'llm-teama001'), account(KEY_B, 'llm-teamb001')] },
      logs,
    }),
  ]);
  forward.emulator.putRawJob(KEY_A, { job_id: TEAM_A_ONLY, status: 'SUCCEEDED', model: 'qwen3-8b', workspace_id: 'llm-teama001' });
});
afterAll(() => Promise.all([server.close(), forward.close()]));

/** Every answer of the suite goes through here, to be searched for the canaries at the end. */
async function ask(stack: Stack, query: string, variables: Record<string, unknown> = {}, key?: string): Promise<GraphQLResponse> {
  const response = await stack.gql(query, variables, key ? { authorization: `Bearer ${key}` } : {});
  seen.push(JSON.stringify(response.body), JSON.stringify([...response.headers]));
  return response;
}

const JOB_FIELDS = `id workspaceId status`;

describe('secrets', () => {
  // Each test is searched for the canaries on its own answers and log lines, so that the check holds in any order.
  beforeEach(() => {
    seen.length = 0;
    logs.clear();
  });
  afterEach(() => {
    expect(seen.length, 'answers to search').toBeGreaterThan(0);
    // Debug logging did write the request headers (every line JSON), with the authorization header masked.
    const requests = logs.records().filter((record) => record.event === 'request');
    expect(requests.some((record) => (record.headers as Record<string, string>).authorization === '[redacted]')).toBe(true);
    for (const canary of CANARIES) {
      expect(seen.filter((text) => text.includes(canary))).toEqual([]);
      expect(logs.lines.filter((line) => line.includes(canary))).toEqual([]);
    }
  });

  it('server mode: answers, errors and upstream failures that echo the key carry no key', async () => {
    await ask(server, `{ fineTuneJob(id: "${SEED_JOB_IDS.contractExample}") { ${JOB_FIELDS} checkpoints { name } } }`);
    await ask(server, `{ fineTuneJob(id: "ft-209901010000-ffff") { id } }`);
    await ask(server, `{ fineTuneJob(id: "../files") { id } }`);
    await ask(server, `{ fineTuneJob { nope } }`, {}, KEY_A); // a bearer token the server-mode gateway ignores
    server.emulator.injectFault({
      times: 1,
      fault: { kind: 'status', status: 401, code: 'InvalidApiKey', message: `Invalid API-key provided: ${SERVER_KEY}` },
    });
    const unauthorized = await ask(server, `{ fineTuneJob(id: "${SEED_JOB_IDS.failed}") { id } }`);
    expect(unauthorized.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    server.emulator.injectFault({ fault: { kind: 'status', status: 500, message: `upstream crashed for key ${SERVER_KEY}` } });
    expect((await ask(server, `{ fineTuneJobs { total } }`)).body.errors?.[0]?.extensions?.code).toBe('UPSTREAM_ERROR');
    server.emulator.clearFaults();
  });

  it('forward mode: each caller’s key stays out of answers and logs, also when DashScope echoes it', async () => {
    forward.emulator.injectFault({
      times: 1,
      match: { apiKey: KEY_B },
      fault: { kind: 'status', status: 403, code: 'AccessDenied', message: `key ${KEY_B} denied` },
    });
    const denied = await ask(forward, `{ fineTuneJob(id: "${SEED_JOB_IDS.running}") { id } }`, {}, KEY_B);
    expect(denied.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await ask(forward, `{ fineTuneJobs { total } }`)).body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('forward mode, 200 concurrent mixed requests of two keys: nobody ever sees the other’s jobs', async () => {
    const keys = [
      { key: KEY_A, workspace: 'llm-teama001' },
      { key: KEY_B, workspace: 'llm-teamb001' },
    ];
    const ids = [...Object.values(SEED_JOB_IDS), TEAM_A_ONLY];
    const queries = [
      (i: number) => `{ fineTuneJob(id: "${ids[i % ids.length]}") { ${JOB_FIELDS} } }`,
      () => `{ fineTuneJobsByIds(ids: ${JSON.stringify(ids)}) { ${JOB_FIELDS} } }`,
      () => `{ fineTuneJobs(pageSize: 50) { items { ${JOB_FIELDS} } } }`,
    ];
    const runs = Array.from({ length: 200 }, async (_, i) => {
      const caller = keys[i % 2]!;
      const { status, body } = await ask(forward, queries[i % queries.length]!(i), {}, caller.key);
      return { caller, status, body };
    });
    let jobsSeen = 0;
    for (const { caller, status, body } of await Promise.all(runs)) {
      expect(status).toBe(200);
      const text = JSON.stringify(body.data);
      const workspaces = [...text.matchAll(/"workspaceId":"([^"]+)"/g)].map((m) => m[1]);
      jobsSeen += workspaces.length;
      expect(new Set(workspaces)).toEqual(new Set(workspaces.length ? [caller.workspace] : []));
      if (caller.key === KEY_B) expect(text).not.toContain(TEAM_A_ONLY);
    }
    expect(jobsSeen).toBeGreaterThan(1000);
  });
});
