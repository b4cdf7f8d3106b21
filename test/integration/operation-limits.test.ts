import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SEED_JOB_IDS } from '../../src/emulator/index.js';
import { startStack, type Stack } from '../support/stack.js';

// Small limits, so that "just under" and "just over" are short operations.
const LIMITS = {
  MAX_DEPTH: '3',
  MAX_ALIASES: '3',
  MAX_DIRECTIVES: '2',
  MAX_TOKENS: '200',
  MAX_BODY_BYTES: '4000',
  BATCH_LIMIT: '2',
  MAX_UPSTREAM_CALLS: '10',
};
const JOB = SEED_JOB_IDS.contractExample;
const IDS = Object.values(SEED_JOB_IDS);

let small: Stack;
let defaults: Stack;
beforeAll(async () => {
  [small, defaults] = await Promise.all([startStack({ env: LIMITS }), startStack()]);
});
afterAll(() => Promise.all([small.close(), defaults.close()]));
beforeEach(() => {
  small.emulator.resetStats();
  defaults.emulator.resetStats();
});

/** The request was refused as a whole, naming the limit, and nothing went upstream. */
async function expectRejected(stack: Stack, query: string, limit: string, variables?: Record<string, unknown>) {
  const { status, body } = await stack.gql(query, variables);
  expect(status).toBe(400);
  expect(body.data ?? null).toBeNull();
  expect(body.errors).toHaveLength(1);
  expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit, retryable: false });
  expect(stack.upstreamCalls()).toBe(0);
}

const repeat = (n: number, make: (i: number) => string) => Array.from({ length: n }, (_, i) => make(i)).join(' ');

describe('operation limits (checked before anything executes)', () => {
  it('maxDepth: 3 levels pass, 4 are refused', async () => {
    await small.ok(`{ fineTuneJobs(pageSize: 1) { items { id } } }`);
    small.emulator.resetStats();
    await expectRejected(small, `{ fineTuneJobs(pageSize: 1) { items { costEstimate { amount } } } }`, 'maxDepth');
  });

  it('maxDepth counts through fragments, and not introspection', async () => {
    await expectRejected(
      small,
      `{ fineTuneJobs { ...Page } } fragment Page on FineTuneJobPage { items { hyperParameters { raw } } }`,
      'maxDepth',
    );
    await small.ok(`{ __schema { types { fields { type { ofType { ofType { name } } } } } } }`);
  });

  it('maxAliases: 3 pass, 4 are refused (each fragment spread counts again)', async () => {
    await small.ok(`{ ${repeat(3, (i) => `a${i}: fineTuneJob(id: "${JOB}") { id }`)} }`);
    small.emulator.resetStats();
    await expectRejected(small, `{ ${repeat(4, (i) => `a${i}: fineTuneJob(id: "${JOB}") { id }`)} }`, 'maxAliases');
    await expectRejected(small, `{ ...F ...F } fragment F on Query { a: __typename b: __typename }`, 'maxAliases');
  });

  it('maxDirectives: 2 pass, 3 are refused', async () => {
    await small.ok(`{ fineTuneJob(id: "${JOB}") { id @include(if: true) status @skip(if: false) } }`);
    small.emulator.resetStats();
    await expectRejected(
      small,
      `{ fineTuneJob(id: "${JOB}") { id @include(if: true) status @skip(if: false) model @include(if: true) } }`,
      'maxDirectives',
    );
  });

  it('maxTokens: 200 tokens pass, 201 are refused', async () => {
    // `{` + n fields + `}`: n + 2 tokens.
    await small.ok(`{ ${repeat(198, () => '__typename')} }`);
    await expectRejected(small, `{ ${repeat(199, () => '__typename')} }`, 'maxTokens');
  });

  it('at most one operation per request when batching is off (the default)', async () => {
    const response = await fetch(`${defaults.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ query: `{ fineTuneJob(id: "${JOB}") { id } }` }]),
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { errors: Array<{ extensions: Record<string, unknown> }> };
    expect(body.errors[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit: 'batchLimit' });
    expect(defaults.upstreamCalls()).toBe(0);
  });

  it('batchLimit: with batching on, 2 operations pass, 3 are refused', async () => {
    const batch = (n: number) =>
      fetch(`${small.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(Array.from({ length: n }, () => ({ query: `{ fineTuneJob(id: "${JOB}") { id } }` }))),
      });
    const under = await batch(2);
    expect(under.status).toBe(200);
    expect(await under.json()).toEqual([{ data: { fineTuneJob: { id: JOB } } }, { data: { fineTuneJob: { id: JOB } } }]);
    small.emulator.resetStats();
    const over = await batch(3);
    expect(over.status).toBe(400);
    expect(JSON.stringify(await over.json())).toContain('"limit":"batchLimit"');
    expect(small.upstreamCalls()).toBe(0);
  });
});

describe('request body size', () => {
  const post = (body: BodyInit, headers: Record<string, string> = {}) =>
    fetch(`${small.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
      duplex: 'half',
    } as RequestInit);
  // A valid request of exactly `size` bytes: the query padded with a comment.
  const bodyOf = (size: number) => {
    const base = JSON.stringify({ query: `{ fineTuneJob(id: "${JOB}") { id } }#` });
    return base.slice(0, -2) + '#'.repeat(size - base.length) + base.slice(-2);
  };

  it('4000 bytes pass, 4001 are refused with 413', async () => {
    expect(bodyOf(4000)).toHaveLength(4000);
    const under = await post(bodyOf(4000));
    expect(under.status).toBe(200);
    small.emulator.resetStats();
    const over = await post(bodyOf(4001));
    expect(over.status).toBe(413);
    expect(await over.json()).toMatchObject({ errors: [{ extensions: { code: 'BAD_USER_INPUT', limit: 'maxBodyBytes' } }] });
    expect(small.upstreamCalls()).toBe(0);
  });

  it('bounds a body sent without Content-Length (chunked)', async () => {
    const chunked = (text: string) =>
      new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(text));
          controller.close();
        },
      });
    expect((await post(chunked(bodyOf(4000)))).status).toBe(200);
    small.emulator.resetStats();
    expect((await post(chunked(bodyOf(4001)))).status).toBe(413);
    expect(small.upstreamCalls()).toBe(0);
  });

  it('accepts a gzip body and bounds it after decompression too (a gzip bomb gets 413)', async () => {
    const under = await post(gzipSync(bodyOf(4000)), { 'content-encoding': 'gzip' });
    expect(under.status).toBe(200);
    expect(await under.json()).toEqual({ data: { fineTuneJob: { id: JOB } } });
    small.emulator.resetStats();
    const bomb = gzipSync(bodyOf(1_000_000));
    expect(bomb.byteLength).toBeLessThan(4000);
    const over = await post(bomb, { 'content-encoding': 'gzip' });
    expect(over.status).toBe(413);
    expect(await over.json()).toMatchObject({ errors: [{ extensions: { limit: 'maxBodyBytes' } }] });
    expect(small.upstreamCalls()).toBe(0);
  });

  it('refuses an unknown Content-Encoding with 415 and a corrupt gzip body with 400', async () => {
    expect((await post(bodyOf(100), { 'content-encoding': 'zstd' })).status).toBe(415);
    expect((await post(bodyOf(100), { 'content-encoding': 'gzip' })).status).toBe(400);
    expect(small.upstreamCalls()).toBe(0);
  });
});

describe('fan-out budget', () => {
  it('refuses up front what could exceed the budget: aliases × ids × nested calls, ids from variables too', async () => {
    // 10 calls: 5 jobs + 5 checkpoint lists.
    const ids = IDS.slice(0, 5);
    await small.ok(`query($ids: [ID!]!) { fineTuneJobsByIds(ids: $ids) { id checkpoints { name } } }`, { ids });
    small.emulator.resetStats();
    await expectRejected(small, `query($ids: [ID!]!) { fineTuneJobsByIds(ids: $ids) { id checkpoints { name } } }`, 'maxUpstreamCalls', {
      ids: IDS.slice(0, 6),
    });
    // 3 aliases × (1 job + 2 nested) = 9, then 12.
    const aliased = (n: number) => `{ ${repeat(n, (i) => `a${i}: fineTuneJob(id: "${JOB}") { checkpoints { name } logs { total } }`)} }`;
    await small.ok(aliased(3));
    small.emulator.resetStats();
    await expectRejected(small, aliased(4).replace('a3: ', ''), 'maxUpstreamCalls');
  });

  it('counts a list page by its pageSize: with the default budget of 200, 1 + 99 × 2 passes and 1 + 100 × 2 is refused', async () => {
    const page = (size: number) => `{ fineTuneJobs(pageSize: ${size}) { items { checkpoints { name } again: checkpoints { step } } } }`;
    await defaults.ok(page(99));
    expect(defaults.upstreamCalls()).toBeGreaterThan(1);
    defaults.emulator.resetStats();
    await expectRejected(defaults, page(100), 'maxUpstreamCalls');
  });
});
