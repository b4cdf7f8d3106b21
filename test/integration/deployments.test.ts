import { parse } from 'graphql';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEMO_ACCOUNT, startEmulator, type Emulator, type EmulatorAccount } from '../../src/emulator/index.js';
import { fieldCosts } from '../../src/modules/index.js';
import { estimateUpstreamCalls } from '../../src/plugins/use-fan-out-budget.js';
import { buildSchema } from '../../src/schema.js';
import { SEED_DEPLOYMENT_IDS, SEED_JOB_IDS } from '../../src/emulator/seed.js';
import { openSse } from '../support/sse.js';
import { graphqlWs } from '../support/transports.js';
import { startStack, type Stack } from '../support/stack.js';

/*
 * Deployments (docs/upstream.md §6.13) through the gateway, over HTTP, against the emulator. The emulator's clock only
 * moves when a test moves it, so each status is seen on purpose: PENDING → DEPLOYING → RUNNING, scale → UPDATING →
 * RUNNING, delete → DELETING → gone.
 */

const FIELDS = 'id status upstreamStatus modelName baseModel capacity readyCapacity plan chargeType createdAt updatedAt';
const GET = `query($id: ID!) { deployment(id: $id) { ${FIELDS} } }`;
const LIST = `query($page: Int, $pageSize: Int) { deployments(page: $page, pageSize: $pageSize) { items { ${FIELDS} } page pageSize total hasNextPage } }`;
const CREATE = `mutation($input: CreateDeploymentInput!, $key: String) { createDeployment(input: $input, idempotencyKey: $key) { ${FIELDS} } }`;
const SCALE = `mutation($id: ID!, $capacity: Int!) { scaleDeployment(id: $id, capacity: $capacity) { ${FIELDS} } }`;
const DELETE = `mutation($id: ID!) { deleteDeployment(id: $id) { ${FIELDS} } }`;
const WATCH = `subscription($id: ID!) { deploymentUpdated(id: $id) { id status readyCapacity } }`;

/** The contract example job's output model: the seeded deployment serves it, so a new one needs a suffix. */
const MODEL = SEED_DEPLOYMENT_IDS.running;
const PHASE_MS = 1_000;
let suffixes = 0;
const newSuffix = () => `t${++suffixes}-${Math.random().toString(36).slice(2, 8)}`;
let keys = 0;
const newKey = () => `deploy-${++keys}-${Math.random().toString(36).slice(2)}`;

type Response = Awaited<ReturnType<Stack['gql']>>;
function errorOf(response: Response) {
  expect(response.body.errors, JSON.stringify(response.body)).toHaveLength(1);
  return response.body.errors![0]!;
}
const deploymentCalls = (stack: Stack) =>
  Object.entries(stack.emulator.stats().byRoute)
    .filter(([route]) => route.startsWith('deployment-'))
    .reduce((sum, [, n]) => sum + n, 0);

describe('deployments against the emulator', () => {
  let now = Date.parse('2026-11-27T08:00:00Z');
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { UPSTREAM_BREAKER_FAILURES: '1000' },
      emulator: { now: () => now, phaseDurationsMs: { pending: PHASE_MS, queuing: PHASE_MS, running: PHASE_MS } },
    });
  });
  afterAll(() => stack.close());
  beforeEach(() => {
    stack.emulator.clearFaults();
    stack.emulator.resetStats();
  });

  const create = async (input: Record<string, unknown>, key?: string) =>
    (await stack.ok(CREATE, { input, key })).createDeployment as Record<string, any>;
  const status = async (id: string) => ((await stack.ok(GET, { id })).deployment as Record<string, any> | null)?.status ?? null;

  it('reads the seeded deployment in full, times in the upstream zone', async () => {
    const { deployment } = await stack.ok(GET, { id: MODEL });
    expect(deployment).toEqual({
      id: MODEL,
      status: 'RUNNING',
      upstreamStatus: 'RUNNING',
      modelName: MODEL,
      baseModel: 'qwen3-14b',
      capacity: 2,
      readyCapacity: 2,
      plan: 'lora',
      chargeType: 'post_paid',
      createdAt: '2024-10-29T18:02:10+08:00',
      // RUNNING since its two phases (of this stack's clock) passed.
      updatedAt: '2024-10-29T18:02:12+08:00',
    });
    expect(stack.upstreamCalls('deployment-get')).toBe(1);
  });

  it('answers null for an unknown deployment', async () => {
    expect((await stack.ok(GET, { id: 'no-such-deployment' })).deployment).toBeNull();
  });

  it('lists deployments newest first with paging', async () => {
    const id = (await create({ modelName: MODEL, suffix: newSuffix() })).id;
    const first = (await stack.ok(LIST, { page: 1, pageSize: 1 })).deployments;
    expect(first.items.map((d: { id: string }) => d.id)).toEqual([id]);
    expect(first).toMatchObject({ page: 1, pageSize: 1, hasNextPage: true });
    expect(first.total).toBeGreaterThanOrEqual(2);
    const all = (await stack.ok(LIST, {})).deployments;
    expect(all).toMatchObject({ page: 1, pageSize: 20, hasNextPage: false });
    expect(all.items.map((d: { id: string }) => d.id)).toContain(MODEL);
  });

  it('creates PENDING, then DEPLOYING and RUNNING as the emulator clock moves', async () => {
    const suffix = newSuffix();
    const made = await create({ modelName: MODEL, capacity: 3, plan: 'lora', suffix });
    expect(made).toMatchObject({ id: `${MODEL}-${suffix}`, status: 'PENDING', modelName: MODEL, baseModel: 'qwen3-14b', plan: 'lora' });
    // The create's answer has no capacities (§6.13); a read has them.
    expect([made.capacity, made.readyCapacity]).toEqual([null, null]);
    expect(made.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$/);
    expect(stack.upstreamCalls('deployment-create')).toBe(1);
    now += PHASE_MS;
    expect(await status(made.id)).toBe('DEPLOYING');
    now += PHASE_MS;
    const { deployment } = await stack.ok(GET, { id: made.id });
    expect(deployment).toMatchObject({ status: 'RUNNING', capacity: 3, readyCapacity: 3 });
  });

  it('scales a RUNNING deployment: UPDATING with the old capacity ready, then RUNNING with the new', async () => {
    const id = (await create({ modelName: MODEL, capacity: 1, suffix: newSuffix() })).id;
    // Not yet running: the upstream refuses, with its code.
    const early = errorOf(await stack.gql(SCALE, { id, capacity: 2 }));
    expect(early.extensions).toMatchObject({ code: 'UNSUPPORTED_OPERATION', retryable: false });
    now += 2 * PHASE_MS;
    const scaled = (await stack.ok(SCALE, { id, capacity: 4 })).scaleDeployment;
    expect(scaled).toMatchObject({ id, status: 'UPDATING', capacity: 4, readyCapacity: 1 });
    now += PHASE_MS;
    expect((await stack.ok(GET, { id })).deployment).toMatchObject({ status: 'RUNNING', capacity: 4, readyCapacity: 4 });
  });

  it('deletes: DELETING at once, then gone (null, and a second delete is NOT_FOUND)', async () => {
    const id = (await create({ modelName: MODEL, suffix: newSuffix() })).id;
    const deleted = (await stack.ok(DELETE, { id })).deleteDeployment;
    expect(deleted).toMatchObject({ id, status: 'DELETING', modelName: MODEL });
    now += PHASE_MS;
    expect((await stack.ok(GET, { id })).deployment).toBeNull();
    expect(errorOf(await stack.gql(DELETE, { id })).extensions).toMatchObject({ code: 'NOT_FOUND', retryable: false });
  });

  it('maps the upstream 409 "already exists, please specify a suffix" to CONFLICT', async () => {
    const conflict = errorOf(await stack.gql(CREATE, { input: { modelName: MODEL } }));
    expect(conflict.extensions).toMatchObject({ code: 'CONFLICT', retryable: false, upstream: { code: 'Conflict', httpStatus: 409 } });
    expect(conflict.message).toContain('already exists, please specify a suffix');
  });

  it('maps an unknown id on scale to NOT_FOUND, and a model that cannot be deployed to BAD_USER_INPUT', async () => {
    expect(errorOf(await stack.gql(SCALE, { id: 'no-such-deployment', capacity: 2 })).extensions).toMatchObject({ code: 'NOT_FOUND' });
    const unknownModel = errorOf(await stack.gql(CREATE, { input: { modelName: 'qwen3-8b-not-trained' } }));
    expect(unknownModel.extensions).toMatchObject({ code: 'BAD_USER_INPUT', upstream: { code: 'InvalidParameter', httpStatus: 400 } });
  });

  it('carries injected faults through the error table on every operation', async () => {
    // Reads are retried: a fault that stays.
    stack.emulator.injectFault({
      match: { route: 'deployment-list' },
      fault: { kind: 'status', status: 429, code: 'Throttling.RateQuota' },
    });
    expect(errorOf(await stack.gql(LIST, {})).extensions).toMatchObject({ code: 'RATE_LIMITED', retryable: true });
    stack.emulator.clearFaults();
    stack.emulator.injectFault({
      match: { route: 'deployment-scale' },
      times: 1,
      fault: { kind: 'status', status: 403, code: 'AccessDenied' },
    });
    expect(errorOf(await stack.gql(SCALE, { id: MODEL, capacity: 2 })).extensions).toMatchObject({ code: 'FORBIDDEN' });
    stack.emulator.injectFault({ match: { route: 'deployment-delete' }, times: 1, fault: { kind: 'html', status: 502 } });
    expect(errorOf(await stack.gql(DELETE, { id: MODEL })).extensions).toMatchObject({ code: 'UPSTREAM_ERROR' });
    stack.emulator.injectFault({ match: { route: 'deployment-get' }, fault: { kind: 'body', body: { output: { status: 'RUNNING' } } } });
    expect(errorOf(await stack.gql(GET, { id: MODEL })).extensions).toMatchObject({ code: 'UPSTREAM_BAD_RESPONSE' });
    // The seeded deployment was neither scaled nor deleted.
    stack.emulator.clearFaults();
    expect((await stack.ok(GET, { id: MODEL })).deployment).toMatchObject({ status: 'RUNNING', capacity: 2 });
  });

  it('says a create whose answer was lost may have made its deployment (deploymentMayExist)', async () => {
    stack.emulator.injectFault({ match: { route: 'deployment-create' }, times: 1, fault: { kind: 'reset', processed: true } });
    const lost = errorOf(await stack.gql(CREATE, { input: { modelName: MODEL, suffix: newSuffix() } }));
    expect(lost.extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', deploymentMayExist: true, retryable: false });
    expect(lost.message).toContain('check your deployments');
  });

  it('tolerates an unknown status (UNKNOWN, raw in upstreamStatus) and a list without paging fields', async () => {
    const seeded = (await stack.ok(GET, { id: MODEL })).deployment;
    const raw = { deployed_model: 'drifted', status: 'HIBERNATING', model_name: MODEL, gmt_create: '2026-11-01 10:00:00' };
    stack.emulator.injectFault({ match: { route: 'deployment-get' }, times: 1, fault: { kind: 'body', body: { output: { ...raw } } } });
    expect((await stack.ok(GET, { id: 'drifted' })).deployment).toMatchObject({
      id: 'drifted',
      status: 'UNKNOWN',
      upstreamStatus: 'HIBERNATING',
      createdAt: '2026-11-01T10:00:00+08:00',
      capacity: null,
    });
    stack.emulator.injectFault({
      match: { route: 'deployment-list' },
      times: 1,
      fault: { kind: 'body', body: { output: { deployments: [raw, { nonsense: true }] } } },
    });
    const page = (await stack.ok(LIST, { page: 1, pageSize: 20 })).deployments;
    expect(page).toMatchObject({ total: 2, hasNextPage: false, items: [{ id: 'drifted', status: 'UNKNOWN' }] });
    expect(seeded.status).toBe('RUNNING');
  });

  it('refuses bad input with BAD_USER_INPUT naming the field, and calls nothing upstream', async () => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      [CREATE, { input: { modelName: '../x' } }, 'input.modelName'],
      [CREATE, { input: { modelName: '' } }, 'input.modelName'],
      [CREATE, { input: { modelName: MODEL, capacity: 0 } }, 'input.capacity'],
      [CREATE, { input: { modelName: MODEL, capacity: 101 } }, 'input.capacity'],
      [CREATE, { input: { modelName: MODEL, plan: 'LoRA ' } }, 'input.plan'],
      [CREATE, { input: { modelName: MODEL, suffix: 'a/b' } }, 'input.suffix'],
      [CREATE, { input: { modelName: MODEL, suffix: 'x'.repeat(33) } }, 'input.suffix'],
      [CREATE, { input: { modelName: MODEL }, key: 'has space' }, 'idempotencyKey'],
      [SCALE, { id: MODEL, capacity: 0 }, 'capacity'],
      [SCALE, { id: '..', capacity: 1 }, 'id'],
      [DELETE, { id: 'a/b' }, 'id'],
      [GET, { id: '%2e%2e' }, 'id'],
      [LIST, { pageSize: 101 }, 'pageSize'],
      [LIST, { page: 0 }, 'page'],
    ];
    for (const [query, variables, field] of cases) {
      const error = errorOf(await stack.gql(query, variables));
      expect(error.extensions, `${field} ${JSON.stringify(variables)}`).toMatchObject({ code: 'BAD_USER_INPUT', argumentName: field });
    }
    const subscription = await openSse(stack.url, WATCH, { id: '..' });
    const first = await subscription.next();
    subscription.close();
    expect(first?.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName: 'id' });
    expect(stack.upstreamCalls()).toBe(0);
  });

  describe('idempotent create', () => {
    it('returns the same deployment for the same key and input, and creates once', async () => {
      const input = { modelName: MODEL, suffix: newSuffix() };
      const key = newKey();
      const first = await create(input, key);
      const again = await create(input, key);
      expect(again.id).toBe(first.id);
      expect(stack.upstreamCalls('deployment-create')).toBe(1);
    });

    it('refuses the same key with another input: CONFLICT, nothing sent', async () => {
      const key = newKey();
      await create({ modelName: MODEL, suffix: newSuffix() }, key);
      stack.emulator.resetStats();
      const other = errorOf(await stack.gql(CREATE, { input: { modelName: MODEL, suffix: newSuffix() }, key }));
      expect(other.extensions).toMatchObject({ code: 'CONFLICT', retryable: false });
      expect(stack.upstreamCalls()).toBe(0);
    });

    it('shares one create among concurrent duplicates', async () => {
      const input = { modelName: MODEL, suffix: newSuffix() };
      const key = newKey();
      const all = await Promise.all(Array.from({ length: 5 }, () => create(input, key)));
      expect(new Set(all.map((d) => d.id)).size).toBe(1);
      expect(stack.upstreamCalls('deployment-create')).toBe(1);
    });

    it('after a lost answer, a retry with the key finds the deployment instead of creating another', async () => {
      const input = { modelName: MODEL, suffix: newSuffix() };
      const key = newKey();
      stack.emulator.injectFault({ match: { route: 'deployment-create' }, times: 1, fault: { kind: 'reset', processed: true } });
      const lost = errorOf(await stack.gql(CREATE, { input, key }));
      expect(lost.extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', deploymentMayExist: true, retryable: true });
      const retried = await create(input, key);
      expect(retried.id).toBe(`${MODEL}-${input.suffix}`);
      // The retry's create clashed with the lost one's deployment (409), and the retry found that one.
      expect(stack.upstreamCalls('deployment-create')).toBe(2);
      expect(stack.upstreamCalls('deployment-list')).toBe(1);
      expect((await stack.ok(LIST, { pageSize: 100 })).deployments.items.filter((d: { id: string }) => d.id === retried.id)).toHaveLength(
        1,
      );
    });

    it('after a failure that made nothing, a retry with the key creates it once', async () => {
      const input = { modelName: MODEL, suffix: newSuffix() };
      const key = newKey();
      stack.emulator.injectFault({ match: { route: 'deployment-create' }, times: 1, fault: { kind: 'reset' } });
      expect(errorOf(await stack.gql(CREATE, { input, key })).extensions).toMatchObject({ deploymentMayExist: true });
      const retried = await create(input, key);
      expect(retried).toMatchObject({ id: `${MODEL}-${input.suffix}`, status: 'PENDING' });
      expect(stack.upstreamCalls('deployment-create')).toBe(2);
      expect(stack.upstreamCalls('deployment-list')).toBe(0);
    });
  });

  describe('FineTuneJob.deployments', () => {
    const JOB = `query($id: ID!) { fineTuneJob(id: $id) { id fineTunedModel deployments { id modelName status } } }`;

    it('lists the deployments of the job output model', async () => {
      const { fineTuneJob } = await stack.ok(JOB, { id: SEED_JOB_IDS.contractExample });
      expect(fineTuneJob.fineTunedModel).toBe(MODEL);
      expect(fineTuneJob.deployments.length).toBeGreaterThanOrEqual(1);
      expect(fineTuneJob.deployments.every((d: { modelName: string }) => d.modelName === MODEL)).toBe(true);
      expect(fineTuneJob.deployments.map((d: { id: string }) => d.id)).toContain(MODEL);
    });

    it('is empty without an output model, at no upstream cost', async () => {
      // A failed job: DashScope may still name its output model (§6.14), which was never made.
      const { fineTuneJob } = await stack.ok(JOB, { id: SEED_JOB_IDS.failed });
      expect(fineTuneJob).toMatchObject({ deployments: [] });
      expect(deploymentCalls(stack)).toBe(0);
    });

    it('costs one list call per operation however many jobs ask (and the budget counts it)', async () => {
      const query = `{ fineTuneJobs(page: 1, pageSize: 20) { items { id deployments { id } } } }`;
      const { fineTuneJobs } = await stack.ok(query);
      expect(fineTuneJobs.items.length).toBeGreaterThan(1);
      expect(stack.upstreamCalls('deployment-list')).toBe(1);
    });
  });
});

describe('deploymentUpdated follows a deployment on the shared pollers', () => {
  // Every upstream call moves the emulator's clock one step on: each poll sees the next phase.
  const STEP = 1_000;
  let t = Date.parse('2026-11-27T08:00:00Z');
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { POLL_INTERVAL_MS: '30', MAX_POLLERS: '1' },
      emulator: { now: () => (t += STEP), phaseDurationsMs: { pending: 2 * STEP, queuing: 2 * STEP, running: STEP } },
    });
  });
  afterAll(() => stack.close());

  it('sends each status up to RUNNING, then DELETING, and completes when the deployment is gone', async () => {
    const made = (await stack.ok(CREATE, { input: { modelName: MODEL, suffix: newSuffix() } })).createDeployment;
    const stream = await openSse(stack.url, WATCH, { id: made.id });
    expect(stream.status).toBe(200);
    const seen: string[] = [];
    while (seen.at(-1) !== 'RUNNING') {
      const payload = await stream.next();
      expect(payload?.errors).toBeUndefined();
      seen.push(payload!.data!.deploymentUpdated.status);
    }
    expect(seen).toContain('DEPLOYING');
    expect(new Set(seen)).toEqual(new Set(seen.filter((s) => ['PENDING', 'DEPLOYING', 'RUNNING'].includes(s))));
    await stack.ok(DELETE, { id: made.id });
    const rest = await stream.rest();
    expect(rest.map((p) => p.data?.deploymentUpdated.status)).toEqual(['DELETING']);
    expect(rest.every((p) => !p.errors)).toBe(true);
    expect(stack.gateway).toBeDefined();
  });

  it('over graphql-ws too: a deployment being deleted is sent DELETING, then the stream completes', async () => {
    const made = (await stack.ok(CREATE, { input: { modelName: MODEL, suffix: newSuffix() } })).createDeployment;
    await stack.ok(DELETE, { id: made.id });
    const ws = graphqlWs(stack.url);
    try {
      const outcome = await ws.run({ query: WATCH, variables: { id: made.id } });
      expect(outcome.failure).toBeUndefined();
      expect(outcome.payloads).toEqual([{ data: { deploymentUpdated: { id: made.id, status: 'DELETING', readyCapacity: 0 } } }]);
    } finally {
      await ws.close();
    }
  });

  it('counts against the same poller cap as jobs (MAX_POLLERS)', async () => {
    const job = await openSse(stack.url, `subscription { fineTuneJobUpdated(id: "${SEED_JOB_IDS.running}") { id } }`);
    expect((await job.next())?.data).toBeTruthy();
    const refused = await openSse(stack.url, WATCH, { id: MODEL });
    const first = await refused.next();
    refused.close();
    job.close();
    expect(first?.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', limit: 'maxPollers' });
  });

  it('ends with NOT_FOUND for a deployment that does not exist', async () => {
    const stream = await openSse(stack.url, WATCH, { id: 'no-such-deployment' });
    const payloads = await stream.rest();
    expect(payloads).toHaveLength(1);
    expect(payloads[0]!.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('deployments in forward mode: each key sees only its own', () => {
  const A: EmulatorAccount = { ...DEMO_ACCOUNT };
  const B: EmulatorAccount = { apiKey: 'sk-deploy-b', workspaceId: 'llm-b', userId: '2', seed: false };
  const as = (account: EmulatorAccount) => ({ authorization: `Bearer ${account.apiKey}` });
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { AUTH_MODE: 'forward' }, emulator: { accounts: [A, B] } });
  });
  afterAll(() => stack.close());

  it("one key's deployment is invisible to another, which cannot scale, delete or watch it", async () => {
    const made = (await stack.ok(CREATE, { input: { modelName: MODEL, suffix: newSuffix() }, key: 'same-key' }, as(A))).createDeployment;
    expect((await stack.ok(GET, { id: made.id }, as(B))).deployment).toBeNull();
    expect((await stack.ok(LIST, {}, as(B))).deployments).toMatchObject({ total: 0, items: [] });
    expect(errorOf(await stack.gql(SCALE, { id: made.id, capacity: 2 }, as(B))).extensions).toMatchObject({ code: 'NOT_FOUND' });
    expect(errorOf(await stack.gql(DELETE, { id: made.id }, as(B))).extensions).toMatchObject({ code: 'NOT_FOUND' });
    const watched = await openSse(stack.url, WATCH, { id: made.id }, { headers: as(B) });
    expect((await watched.rest())[0]!.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND' });
    // The same idempotency key under another key is another intent: B's model is unknown to B's account.
    const other = errorOf(await stack.gql(CREATE, { input: { modelName: MODEL, suffix: 'x' }, key: 'same-key' }, as(B)));
    expect(other.extensions).toMatchObject({ code: 'BAD_USER_INPUT', upstream: { code: 'InvalidParameter' } });
    expect((await stack.ok(GET, { id: made.id }, as(A))).deployment).toMatchObject({ id: made.id });
  });

  it('without a key: UNAUTHENTICATED, nothing sent', async () => {
    stack.emulator.resetStats();
    expect(errorOf(await stack.gql(LIST, {})).extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(stack.upstreamCalls()).toBe(0);
  });
});

describe('the declared costs of the deployment fields against the calls made', () => {
  const schema = buildSchema();
  const estimate = (query: string) => estimateUpstreamCalls(fieldCosts, schema, parse(query), undefined, {});
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { CACHE_ENABLED: 'false' } });
    await stack.ok(`mutation { createDeployment(input: { modelName: "${MODEL}", suffix: "cost-del" }) { id } }`);
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.emulator.resetStats());

  it.each([
    ['deployment', `{ deployment(id: "${MODEL}") { id } }`],
    ['deployments', `{ deployments(pageSize: 3) { total items { id } } }`],
    ['FineTuneJob.deployments', `{ fineTuneJob(id: "${SEED_JOB_IDS.contractExample}") { deployments { id } } }`],
    ['createDeployment', `mutation { createDeployment(input: { modelName: "${MODEL}", suffix: "cost" }) { id } }`],
    ['deleteDeployment', `mutation { deleteDeployment(id: "${MODEL}-cost-del") { id } }`],
  ])('%s makes the calls its cost declares', async (_name, query) => {
    await stack.ok(query);
    expect(stack.upstreamCalls()).toBe(estimate(query));
  });

  it('a scale, a keyed create and a subscription declare their upper bounds, and a scale stays within it', async () => {
    const scale = `mutation { scaleDeployment(id: "${MODEL}", capacity: 3) { id } }`;
    expect(estimate(scale)).toBe(2);
    expect(estimate(`mutation { createDeployment(input: { modelName: "m" }, idempotencyKey: "k") { id } }`)).toBe(2);
    expect(estimate(`mutation { createDeployment(input: { modelName: "m" }) { id } }`)).toBe(1);
    expect(estimate(`subscription { deploymentUpdated(id: "${MODEL}") { id } }`)).toBe(1);
    await stack.ok(scale);
    expect(stack.upstreamCalls()).toBe(1); // the emulator answers the scale with the whole deployment: no re-read
  });
});

describe('the emulator serves deployments in the documented shapes', () => {
  let emulator: Emulator;
  const call = async (path: string, init: { method?: string; body?: unknown; key?: string } = {}) => {
    const response = await fetch(`${emulator.url}/api/v1/deployments${path}`, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${init.key ?? DEMO_ACCOUNT.apiKey}`, 'content-type': 'application/json' },
      ...(init.body !== undefined && { body: JSON.stringify(init.body) }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };
  beforeAll(async () => {
    emulator = await startEmulator({ accounts: [DEMO_ACCOUNT, { apiKey: 'sk-other', workspaceId: 'llm-o', userId: '9', seed: true }] });
  });
  afterAll(() => emulator.close());

  it('create answers PENDING without capacities; get adds capacity, base_capacity, ready_capacity', async () => {
    const created = await call('', { method: 'POST', body: { model_name: MODEL, capacity: 2, suffix: 'shape' } });
    expect(created.status).toBe(200);
    expect(Object.keys(created.body.output).sort()).toEqual(
      [
        'base_model',
        'charge_type',
        'creator',
        'deployed_model',
        'gmt_create',
        'gmt_modified',
        'model_name',
        'modifier',
        'plan',
        'status',
        'workspace_id',
      ].sort(),
    );
    expect(created.body.output).toMatchObject({ status: 'PENDING', deployed_model: `${MODEL}-shape`, plan: 'lora' });
    expect(created.body.output.gmt_create).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    const read = await call(`/${MODEL}-shape`);
    expect(read.body.output).toMatchObject({ capacity: 2, base_capacity: 1, ready_capacity: 0 });
  });

  it('lists with page_no, page_size, total; refuses a bad page_size; keeps accounts apart', async () => {
    expect((await call('', { method: 'POST', body: { model_name: MODEL, capacity: 1, suffix: 'list' } })).status).toBe(200);
    const total = (await call('')).body.output.total as number;
    expect(total).toBeGreaterThanOrEqual(2);
    const list = await call('?page_no=1&page_size=1');
    expect(list.body.output).toMatchObject({ page_no: 1, page_size: 1, total });
    expect(list.body.output.deployments).toHaveLength(1);
    expect((await call('?page_size=101')).body.code).toBe('InvalidParameter');
    // The other account has only its own seeded deployment.
    expect((await call(`/${MODEL}-list`, { key: 'sk-other' })).status).toBe(404);
    expect((await call('', { key: 'sk-other' })).body.output.total).toBe(1);
  });

  it('answers 409 Conflict for a name clash, 400 for a bad capacity, 401 without a valid key', async () => {
    const clash = await call('', { method: 'POST', body: { model_name: MODEL, capacity: 1 } });
    expect([clash.status, clash.body.code]).toEqual([409, 'Conflict']);
    expect(clash.body.message).toBe(`Model instance ${MODEL} already exists, please specify a suffix`);
    expect((await call('', { method: 'POST', body: { model_name: MODEL, capacity: 0, suffix: 'z' } })).body.code).toBe('InvalidParameter');
    expect((await call('', { key: 'sk-nobody' })).status).toBe(401);
  });
});
