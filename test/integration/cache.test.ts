import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEMO_ACCOUNT, SEED_JOB_IDS } from '../../src/emulator/index.js';
import { startStack, type Stack } from '../support/stack.js';

const JOB = 'query($id: ID!) { fineTuneJob(id: $id) { id status model } }';
const { contractExample, cosyVoice, failed, canceled, running } = SEED_JOB_IDS;

describe('the cache of finished jobs (server mode)', () => {
  // The cache's content is what these tests observe: each starts with an empty one (and an untouched emulator).
  let stack: Stack;
  beforeEach(async () => {
    stack = await startStack();
  });
  afterEach(() => stack.close());

  it('serves a finished job again without asking DashScope', async () => {
    const first = await stack.ok(JOB, { id: failed });
    expect(stack.upstreamCalls('get')).toBe(1);
    const second = await stack.ok(JOB, { id: failed });
    expect(second).toEqual(first);
    expect(stack.upstreamCalls('get')).toBe(1);
  });

  it('fills itself from list pages: finished jobs on a page cost nothing later', async () => {
    const { fineTuneJobs } = await stack.ok('{ fineTuneJobs(page: 1, pageSize: 100) { items { id status isTerminal } } }');
    const finished = (fineTuneJobs.items as Array<{ id: string; isTerminal: boolean }>).filter((job) => job.isTerminal);
    expect(finished.length).toBeGreaterThan(5);
    stack.emulator.resetStats();
    await stack.ok('query($ids: [ID!]!) { fineTuneJobsByIds(ids: $ids) { id } }', { ids: finished.map((job) => job.id) });
    expect(stack.upstreamCalls()).toBe(0);
  });

  it('never caches a job that is still going: every read asks DashScope', async () => {
    await stack.ok(JOB, { id: running });
    await stack.ok(JOB, { id: running });
    expect(stack.upstreamCalls('get')).toBe(2);
  });

  it('serves the cached copy until a mutation invalidates it', async () => {
    await stack.ok(JOB, { id: cosyVoice });
    stack.emulator.resetStats();
    // DashScope's copy changes behind the gateway's back: the cached one is still served...
    stack.emulator.setJobStatus(DEMO_ACCOUNT.apiKey, cosyVoice, 'FAILED');
    expect((await stack.ok(JOB, { id: cosyVoice })).fineTuneJob.status).toBe('SUCCEEDED');
    expect(stack.upstreamCalls('get')).toBe(0);
    // ...until the gateway's own mutation forgets it.
    await stack.ok('mutation($id: ID!) { deleteFineTuneJob(id: $id) { deleted } }', { id: cosyVoice });
    const after = await stack.gql(JOB, { id: cosyVoice });
    expect(after.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(stack.upstreamCalls('get')).toBe(1);
  });

  describe('single-flight', () => {
    afterEach(() => stack.emulator.clearFaults());

    it('shares one upstream call between concurrent operations asking for the same job', async () => {
      stack.emulator.injectFault({ match: { route: 'get', jobId: running }, times: 1, fault: { kind: 'delay', ms: 500 } });
      const [a, b] = await Promise.all([stack.ok(JOB, { id: running }), stack.ok(JOB, { id: running })]);
      expect(a).toEqual(b);
      expect(stack.upstreamCalls('get')).toBe(1);
    });

    it('keeps the shared call going for the others when one caller goes away', async () => {
      stack.emulator.injectFault({ match: { route: 'get', jobId: running }, times: 1, fault: { kind: 'delay', ms: 500 } });
      const leaving = new AbortController();
      const gone = fetch(`${stack.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: JOB, variables: { id: running } }),
        signal: leaving.signal,
      }).catch((error: unknown) => error);
      const staying = stack.ok(JOB, { id: running });
      await until(() => stack.upstreamCalls('get') === 1);
      leaving.abort();
      await gone;
      expect((await staying).fineTuneJob.status).toBe('RUNNING');
    });
  });
});

describe('the cache in forward mode', () => {
  const other = { apiKey: 'sk-emulator-other', workspaceId: 'llm-other0001', userId: '2234567890123456' };
  const as = (apiKey: string) => ({ authorization: `Bearer ${apiKey}` });
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { AUTH_MODE: 'forward' }, emulator: { accounts: [DEMO_ACCOUNT, other] } });
    // The other account has its own job under the same id, different in every field read here.
    stack.emulator.putRawJob(other.apiKey, { job_id: contractExample, status: 'CANCELED', model: 'other-model' });
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.emulator.resetStats());

  it("never serves one key's cached job to another key", async () => {
    const demo = await stack.ok(JOB, { id: contractExample }, as(DEMO_ACCOUNT.apiKey));
    const mine = await stack.ok(JOB, { id: contractExample }, as(other.apiKey));
    expect(demo.fineTuneJob).toMatchObject({ status: 'SUCCEEDED', model: 'qwen3-14b' });
    expect(mine.fineTuneJob).toMatchObject({ status: 'CANCELED', model: 'other-model' });
    // A job only the first key can see stays invisible to the second, cached or not.
    await stack.ok(JOB, { id: failed }, as(DEMO_ACCOUNT.apiKey));
    const hidden = await stack.gql(JOB, { id: failed }, as(other.apiKey));
    expect(hidden.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('keeps the keys apart when their reads interleave', async () => {
    const reads = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? DEMO_ACCOUNT.apiKey : other.apiKey));
    const answers = await Promise.all(reads.map((key) => stack.ok(JOB, { id: contractExample }, as(key))));
    answers.forEach((answer, i) => expect(answer.fineTuneJob.model).toBe(reads[i] === other.apiKey ? 'other-model' : 'qwen3-14b'));
  });

  it('keeps workspaces of the same key apart', async () => {
    await stack.ok(JOB, { id: contractExample }, as(DEMO_ACCOUNT.apiKey));
    const wrong = await stack.gql(JOB, { id: contractExample }, { ...as(DEMO_ACCOUNT.apiKey), 'x-dashscope-workspace': 'llm-nope' });
    expect(wrong.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });
});

describe('cache configuration', () => {
  it('CACHE_ENABLED=false: every read of a finished job asks DashScope', async () => {
    const stack = await startStack({ env: { CACHE_ENABLED: 'false', RESPONSE_CACHE_ENABLED: 'false' } });
    try {
      await stack.ok(JOB, { id: canceled });
      await stack.ok(JOB, { id: canceled });
      expect(stack.upstreamCalls('get')).toBe(2);
    } finally {
      await stack.close();
    }
  });

  it('CACHE_MAX_ENTRIES bounds it, least recently used first out', async () => {
    const stack = await startStack({ env: { CACHE_MAX_ENTRIES: '2', RESPONSE_CACHE_ENABLED: 'false' } });
    try {
      for (const id of [contractExample, failed, canceled]) await stack.ok(JOB, { id });
      stack.emulator.resetStats();
      await stack.ok(JOB, { id: canceled });
      await stack.ok(JOB, { id: failed });
      expect(stack.upstreamCalls('get')).toBe(0);
      await stack.ok(JOB, { id: contractExample });
      expect(stack.upstreamCalls('get')).toBe(1);
    } finally {
      await stack.close();
    }
  });

  it('CACHE_NONTERMINAL_TTL_MS > 0 lets a job still going be served from the cache', async () => {
    const stack = await startStack({ env: { CACHE_NONTERMINAL_TTL_MS: '600000' } });
    try {
      await stack.ok(JOB, { id: running });
      await stack.ok(JOB, { id: running });
      expect(stack.upstreamCalls('get')).toBe(1);
    } finally {
      await stack.close();
    }
  });
});

/** Waits for a condition the emulator reports (its counters change as requests arrive), one event-loop turn at a time. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}
