import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { DEMO_ACCOUNT, startEmulator, type Fault } from '../../src/emulator/index.js';
import { createGateway } from '../../src/gateway/index.js';
import { fingerprintOf } from '../../src/modules/fine-tune-job/idempotency.js';
import { idempotencyMarker } from '../../src/modules/fine-tune-job/reconcile.js';
import { credentialScope } from '../../src/upstream/credential-scope.js';
import { errorOf, jobsNamed, type GqlResponse } from '../support/creates.js';
import { captureLogs } from '../support/logs.js';
import { startStack, type Stack } from '../support/stack.js';

/*
 * A create whose answer is lost may still have made its (paid) job. Against the real emulator over HTTP: the emulator
 * creates the job and then loses the answer (`processed` faults), and a retry with the same idempotency key must return
 * that job and create none; a create that never reached DashScope is simply made again, once.
 */

const CREATE = `mutation($input: CreateFineTuneJobInput!, $key: String) {
  createFineTuneJob(input: $input, idempotencyKey: $key) { id name model }
}`;
const input = { model: 'qwen3-8b', trainingFileIds: ['file-ft-0001'], hyperParameters: { nEpochs: 1, batchSize: 8, maxLength: 2048 } };
let keys = 0;
const newKey = () => `intent-${++keys}-${Math.random().toString(36).slice(2)}`;

describe('a create retried with its idempotency key after an ambiguous failure', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      // No settling window here: these tests retry at once to test the search (the window has its own tests in
      // attack-money.test.ts and test/unit/reconcile.test.ts).
      env: {
        UPSTREAM_HEADERS_TIMEOUT_MS: '400',
        UPSTREAM_BODY_TIMEOUT_MS: '400',
        UPSTREAM_BREAKER_FAILURES: '1000',
        CREATE_SETTLE_MS: '0',
      },
    });
  });
  afterAll(() => stack.close());
  beforeEach(async () => {
    stack.emulator.clearFaults();
    // A retry that created looks for duplicates afterwards, unawaited: each test counts only its own calls.
    await vi.waitFor(() => expect(stack.emulator.stats().inFlight).toBe(0), { timeout: 5_000 });
    stack.emulator.resetStats();
  });

  it.each<[string, Fault, string]>([
    ['hangs', { kind: 'hang', processed: true }, 'UPSTREAM_TIMEOUT'],
    ['resets the connection', { kind: 'reset', processed: true }, 'UPSTREAM_UNAVAILABLE'],
    ['answers garbage', { kind: 'not-json', processed: true }, 'UPSTREAM_BAD_RESPONSE'],
    ['answers half the JSON', { kind: 'truncated-json' }, 'UPSTREAM_BAD_RESPONSE'],
    ['answers a proxy error page', { kind: 'html', status: 502, processed: true }, 'UPSTREAM_ERROR'],
  ])('DashScope creates the job, then %s: the retry returns that job and creates none', async (_name, fault, code) => {
    const key = newKey();
    stack.emulator.injectFault({ match: { route: 'create' }, times: 1, fault });
    const error = errorOf(await stack.gql(CREATE, { input, key }));
    expect(error.extensions).toMatchObject({ code, retryable: true, jobMayExist: true });
    expect(error.message).toContain('DashScope may have created the job: a retry with the same idempotencyKey is safe');
    expect(stack.upstreamCalls('create')).toBe(1);

    // Every keyed create looks for its job first: the first attempt found none.
    expect(stack.upstreamCalls('list')).toBe(1);

    const { createFineTuneJob: job } = await stack.ok(CREATE, { input, key });
    expect(stack.upstreamCalls('create')).toBe(1);
    expect(stack.upstreamCalls('list')).toBe(2);
    expect(await jobsNamed(stack, job.name)).toEqual([job.id]);
    // Later retries are answered from memory.
    expect((await stack.ok(CREATE, { input, key })).createFineTuneJob.id).toBe(job.id);
    expect(stack.upstreamCalls('create')).toBe(1);
  });

  it('when the lost create made no job, the retry looks, finds none, and creates exactly one', async () => {
    const key = newKey();
    stack.emulator.injectFault({ match: { route: 'create' }, times: 1, fault: { kind: 'reset' } });
    expect(errorOf(await stack.gql(CREATE, { input, key })).extensions).toMatchObject({ jobMayExist: true });
    const { createFineTuneJob: job } = await stack.ok(CREATE, { input, key });
    expect(stack.upstreamCalls('create')).toBe(2);
    // A search before each create, and one look for duplicates after the create made on the retry.
    await vi.waitFor(() => expect(stack.upstreamCalls('list')).toBe(3));
    expect(await jobsNamed(stack, job.name)).toEqual([job.id]);
  });

  it('a create that DashScope answered with its own 5xx may still have made its job: the retry looks, and creates one if none', async () => {
    const key = newKey();
    stack.emulator.injectFault({ match: { route: 'create' }, times: 1, fault: { kind: 'status', status: 503 } });
    const error = errorOf(await stack.gql(CREATE, { input, key }));
    expect(error.extensions).toMatchObject({ code: 'UPSTREAM_ERROR', retryable: true, jobMayExist: true });
    const { createFineTuneJob: job } = await stack.ok(CREATE, { input, key });
    expect(stack.upstreamCalls('create')).toBe(2);
    await vi.waitFor(() => expect(stack.upstreamCalls('list')).toBe(3));
    expect(await jobsNamed(stack, job.name)).toEqual([job.id]);
  });

  it('a retry whose search fails still says the job may exist, and the next retry searches again', async () => {
    const key = newKey();
    stack.emulator.injectFault({ match: { route: 'create' }, times: 1, fault: { kind: 'reset', processed: true } });
    errorOf(await stack.gql(CREATE, { input, key }));
    stack.emulator.injectFault({ match: { route: 'list' }, fault: { kind: 'status', status: 503 } });
    const error = errorOf(await stack.gql(CREATE, { input, key }));
    expect(error.extensions).toMatchObject({ code: 'UPSTREAM_ERROR', retryable: true, jobMayExist: true });
    expect(stack.upstreamCalls('create')).toBe(1);
    stack.emulator.clearFaults();
    const { createFineTuneJob: job } = await stack.ok(CREATE, { input, key });
    expect(stack.upstreamCalls('create')).toBe(1);
    expect(await jobsNamed(stack, job.name)).toEqual([job.id]);
  });

  it('concurrent retries after a lost answer share one look-up and return one job', async () => {
    const key = newKey();
    stack.emulator.injectFault({ match: { route: 'create' }, times: 1, fault: { kind: 'reset', processed: true } });
    errorOf(await stack.gql(CREATE, { input, key }));
    const retries = await Promise.all(Array.from({ length: 5 }, () => stack.ok(CREATE, { input, key })));
    const ids = new Set(retries.map((data) => data.createFineTuneJob.id));
    expect(ids.size).toBe(1);
    expect(stack.upstreamCalls('create')).toBe(1);
    // One search before the first attempt, one shared by the retries.
    expect(stack.upstreamCalls('list')).toBe(2);
  });

  it('concurrent retries after a lost create that made no job create exactly one', async () => {
    const key = newKey();
    stack.emulator.injectFault({ match: { route: 'create' }, times: 1, fault: { kind: 'not-json' } });
    errorOf(await stack.gql(CREATE, { input, key }));
    const retries = await Promise.all(Array.from({ length: 5 }, () => stack.ok(CREATE, { input, key })));
    expect(new Set(retries.map((data) => data.createFineTuneJob.id)).size).toBe(1);
    expect(stack.upstreamCalls('create')).toBe(2);
    // The look for duplicates after the create made on the retry is not awaited by the answer: it is by the test, so
    // that it does not land in the next test's count.
    await vi.waitFor(() => expect(stack.upstreamCalls('list')).toBe(3));
  });

  it('the same key with a different input is still CONFLICT after an ambiguous failure, and nothing is sent', async () => {
    const key = newKey();
    stack.emulator.injectFault({ match: { route: 'create' }, times: 1, fault: { kind: 'reset', processed: true } });
    errorOf(await stack.gql(CREATE, { input, key }));
    stack.emulator.resetStats();
    const error = errorOf(await stack.gql(CREATE, { input: { ...input, hyperParameters: { ...input.hyperParameters, nEpochs: 2 } }, key }));
    expect(error.extensions).toMatchObject({ code: 'CONFLICT', retryable: false });
    expect(stack.upstreamCalls()).toBe(0);
  });

  it('without an idempotency key, an ambiguous failure says the job may exist and is not retryable', async () => {
    stack.emulator.injectFault({ match: { route: 'create' }, times: 1, fault: { kind: 'reset', processed: true } });
    const error = errorOf(await stack.gql(CREATE, { input }));
    expect(error.extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', retryable: false, jobMayExist: true });
    expect(error.message).toContain('check your jobs (fineTuneJobs) before creating it again');
  });

  describe('with the caller’s own jobName (the gateway cannot mark the job)', () => {
    it('finds the one job with that name, model and files created since the first attempt', async () => {
      const key = newKey();
      const named = { ...input, jobName: `my-run-${key}` };
      stack.emulator.injectFault({ match: { route: 'create' }, times: 1, fault: { kind: 'reset', processed: true } });
      errorOf(await stack.gql(CREATE, { input: named, key }));
      const { createFineTuneJob: job } = await stack.ok(CREATE, { input: named, key });
      expect(job.name).toBe(named.jobName);
      expect(stack.upstreamCalls('create')).toBe(1);
      expect(await jobsNamed(stack, named.jobName)).toEqual([job.id]);
    });

    it('refuses (CONFLICT, jobMayExist) when several jobs match, and creates none', async () => {
      const key = newKey();
      const named = { ...input, jobName: `my-run-${key}` };
      stack.emulator.injectFault({ match: { route: 'create' }, times: 1, fault: { kind: 'reset', processed: true } });
      errorOf(await stack.gql(CREATE, { input: named, key }));
      await stack.ok(CREATE, { input: named }); // the same job again, without the key
      stack.emulator.resetStats();
      const error = errorOf(await stack.gql(CREATE, { input: named, key }));
      expect(error.extensions).toMatchObject({ code: 'CONFLICT', retryable: false, jobMayExist: true });
      expect(error.message).toContain(`2 jobs named "${named.jobName}" match`);
      expect(stack.upstreamCalls('create')).toBe(0);
      expect(await jobsNamed(stack, named.jobName)).toHaveLength(2);
    });
  });

  it('a create still in flight is shared by the retry, which returns its job once DashScope answers', async () => {
    const key = newKey();
    stack.emulator.injectFault({ match: { route: 'create' }, times: 1, fault: { kind: 'delay', ms: 200 } });
    const [first, second] = await Promise.all([stack.ok(CREATE, { input, key }), stack.ok(CREATE, { input, key })]);
    expect(second.createFineTuneJob.id).toBe(first.createFineTuneJob.id);
    expect(stack.upstreamCalls('create')).toBe(1);
  });
});

describe('a create that never reached DashScope (connection refused)', () => {
  it('fails UPSTREAM_UNAVAILABLE without the may-exist warning; the retry creates exactly one job', async () => {
    // A port that was just free: nothing listens there until the emulator is started on it.
    const probe = await startEmulator();
    const { port } = new URL(probe.url);
    await probe.close();
    const config = loadConfig({
      NODE_ENV: 'test',
      LOG_LEVEL: 'error',
      DASHSCOPE_BASE_URL: probe.url,
      DASHSCOPE_API_KEY: DEMO_ACCOUNT.apiKey,
    });
    const gateway = createGateway({ config });
    const url = await gateway.listen(0, '127.0.0.1');
    const gql = async (variables: Record<string, unknown>) => {
      const response = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: CREATE, variables }),
      });
      return (await response.json()) as GqlResponse['body'];
    };
    let emulator: Awaited<ReturnType<typeof startEmulator>> | undefined;
    try {
      const key = newKey();
      const refused = await gql({ input, key });
      expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', retryable: true });
      expect(refused.errors?.[0]?.extensions?.jobMayExist).toBeUndefined();

      emulator = await startEmulator({ port: Number(port) });
      const retried = await gql({ input, key });
      expect(retried.errors).toBeUndefined();
      // The search before the create, then the create.
      expect(emulator.stats().byRoute).toEqual({ list: 1, create: 1 });
    } finally {
      await gateway.close();
      await emulator?.close();
    }
  });
});

describe('writes and the operation deadline (OPERATION_DEADLINE_MS)', () => {
  let stack: Stack;
  const logs = captureLogs();
  beforeAll(async () => {
    stack = await startStack({
      env: { OPERATION_DEADLINE_MS: '300', UPSTREAM_HEADERS_TIMEOUT_MS: '1500', LOG_LEVEL: 'warn', CREATE_SETTLE_MS: '0' },
      logs,
    });
  });
  afterAll(() => stack.close());
  beforeEach(async () => {
    stack.emulator.clearFaults();
    // A hung call of the test before ends at the upstream timeout: each test counts only its own.
    await vi.waitFor(() => expect(stack.emulator.stats().inFlight).toBe(0), { timeout: 5_000 });
    stack.emulator.resetStats();
  });

  it('answers UPSTREAM_TIMEOUT by the deadline while DashScope is still busy; the retry returns the job once it has it', async () => {
    const key = newKey();
    stack.emulator.injectFault({ match: { route: 'create' }, times: 1, fault: { kind: 'delay', ms: 1_000 } });
    const error = errorOf(await stack.gql(CREATE, { input, key }));
    // Answered while the upstream create is still in flight: by the deadline, not by DashScope.
    expect(stack.emulator.stats().inFlight).toBe(1);
    expect(error.extensions).toMatchObject({ code: 'UPSTREAM_TIMEOUT', retryable: true, jobMayExist: true });
    expect(error.message).toContain('The operation deadline passed before DashScope answered the create.');
    expect(error.message).toContain('a retry with the same idempotencyKey is safe');

    await vi.waitFor(() => expect(stack.emulator.stats().inFlight).toBe(0), { timeout: 5_000 });
    const { createFineTuneJob: job } = await stack.ok(CREATE, { input, key });
    expect(stack.upstreamCalls('create')).toBe(1);
    expect(await jobsNamed(stack, job.name)).toEqual([job.id]);
  });

  it.each([
    ['cancel', 'cancelFineTuneJob(id: $id) { id }'],
    ['delete', 'deleteFineTuneJob(id: $id) { id }'],
  ])('a %s that hangs upstream: UPSTREAM_TIMEOUT by the deadline', async (route, field) => {
    stack.emulator.injectFault({ match: { route: route as 'cancel' | 'delete' }, times: 1, fault: { kind: 'hang' } });
    const error = errorOf(await stack.gql(`mutation($id: ID!) { ${field} }`, { id: 'ft-202605271743-dd2a' }));
    expect(stack.emulator.stats().inFlight).toBe(1);
    expect(error.extensions).toMatchObject({ code: 'UPSTREAM_TIMEOUT', retryable: true });
    expect(error.message).toContain(`it may still take effect`);
  });

  it('a create that hangs upstream after creating: UPSTREAM_TIMEOUT by the deadline, then the retry finds the job', async () => {
    const key = newKey();
    logs.clear();
    stack.emulator.injectFault({ match: { route: 'create' }, times: 1, fault: { kind: 'hang', processed: true } });
    const error = errorOf(await stack.gql(CREATE, { input, key }));
    expect(stack.emulator.stats().inFlight).toBe(1);
    expect(error.extensions).toMatchObject({ code: 'UPSTREAM_TIMEOUT', jobMayExist: true });

    // The upstream call gives up at its own timeout, as an ambiguous failure.
    await vi.waitFor(
      () =>
        expect(logs.records()).toContainEqual(
          expect.objectContaining({ event: 'upstream.fault', kind: 'timeout', endpoint: 'POST /fine-tunes', retrying: false }),
        ),
      { timeout: 5_000 },
    );
    const { createFineTuneJob: job } = await stack.ok(CREATE, { input, key });
    expect(stack.upstreamCalls('create')).toBe(1);
    expect(stack.upstreamCalls('list')).toBe(2);
    expect(await jobsNamed(stack, job.name)).toEqual([job.id]);
  });
});

describe('a create made on a retry, when the lost attempt is processed later still', () => {
  let stack: Stack;
  const logs = captureLogs();
  beforeAll(async () => {
    stack = await startStack({
      env: { UPSTREAM_BREAKER_FAILURES: '1000', CREATE_SETTLE_MS: '0', LOG_LEVEL: 'warn' },
      logs,
    });
  });
  afterAll(() => stack.close());

  it('reports both jobs of the intent in a WARN line, and cancels nothing', async () => {
    const key = newKey();
    // The job DashScope would make, late, for the first attempt: named with the gateway's marker for this intent.
    const marker = idempotencyMarker(
      credentialScope({ apiKey: stack.emulator.demoApiKey, workspace: undefined }),
      key,
      fingerprintOf({
        model: input.model,
        training_file_ids: input.trainingFileIds,
        hyper_parameters: { n_epochs: 1, batch_size: 8, max_length: 2048 },
      }),
    );
    stack.emulator.injectFault({ match: { route: 'create' }, times: 1, fault: { kind: 'reset' } });
    expect(errorOf(await stack.gql(CREATE, { input, key })).extensions).toMatchObject({ jobMayExist: true });
    // The retry searches (nothing yet) and creates; while its create is in flight, the lost one is processed late.
    stack.emulator.injectFault({ match: { route: 'create' }, times: 1, fault: { kind: 'delay', ms: 500 } });
    const retry = stack.ok(CREATE, { input, key });
    await vi.waitFor(() => expect(stack.upstreamCalls('create')).toBe(2));
    stack.emulator.putRawJob(stack.emulator.demoApiKey, {
      job_id: `ft-late-${key}`,
      status: 'PENDING',
      job_name: marker,
      model: input.model,
    });
    const { createFineTuneJob: job } = await retry;
    expect(job.name).toBe(marker);
    await vi.waitFor(() =>
      expect(
        logs
          .records()
          .some(
            ({ level, msg }) => level === 'warn' && msg.includes('2 jobs named') && msg.includes(job.id) && msg.includes(`ft-late-${key}`),
          ),
      ).toBe(true),
    );
    expect(stack.upstreamCalls('cancel')).toBe(0);
  });
});
