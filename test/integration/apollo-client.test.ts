import { createHash } from 'node:crypto';
import { ApolloClient, gql, HttpLink, InMemoryCache, type ApolloLink } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';

type Created = { createFineTuneJob: { id: string; status: string } };

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const WATCH = gql`
  subscription Watch($id: ID!) {
    fineTuneJobUpdated(id: $id) {
      id
      status
    }
  }
`;
const CREATE = gql`
  mutation Create {
    createFineTuneJob(
      input: { model: "qwen3-8b", trainingFileIds: ["file-ft-demo"], hyperParameters: { nEpochs: 1, batchSize: 8, maxLength: 2048 } }
    ) {
      id
      status
    }
  }
`;
const LIST = gql`
  query List {
    fineTuneJobs(page: 1, pageSize: 5) {
      total
      items {
        id
        status
      }
    }
  }
`;

describe('Apollo Client with its defaults', () => {
  let stack: Stack;
  /** The bodies Apollo's links sent, as the gateway received them. */
  let sent: Array<{ query?: string; extensions?: { persistedQuery?: { sha256Hash: string } } }>;

  beforeAll(async () => {
    stack = await startStack({
      env: { POLL_INTERVAL_MS: '100' },
      emulator: { phaseDurationsMs: { pending: 200, queuing: 200, running: 600 } },
    });
  });
  afterAll(() => stack?.close());
  beforeEach(() => {
    sent = [];
    stack.emulator.resetStats();
  });

  const recordingFetch: typeof fetch = (input, init) => {
    if (typeof init?.body === 'string') sent.push(JSON.parse(init.body));
    return fetch(input, init);
  };
  const client = (link: ApolloLink) => new ApolloClient({ link, cache: new InMemoryCache() });
  const httpLink = () => new HttpLink({ uri: `${stack.url}/graphql`, fetch: recordingFetch });

  it("receives a job's updates through HttpLink's multipart subscription, until it completes", async () => {
    const apollo = client(httpLink());
    const created = await apollo.mutate<Created>({ mutation: CREATE });
    const id = created.data!.createFineTuneJob.id;
    const statuses = await new Promise<string[]>((resolve, reject) => {
      const seen: string[] = [];
      apollo.subscribe<{ fineTuneJobUpdated: { status: string } }>({ query: WATCH, variables: { id } }).subscribe({
        next: ({ data, error }) =>
          error ? reject(error instanceof Error ? error : new Error(JSON.stringify(error))) : seen.push(data!.fineTuneJobUpdated.status),
        error: reject,
        complete: () => resolve(seen),
      });
    });
    expect(statuses.at(-1)).toBe('SUCCEEDED');
    expect(statuses).toContain('RUNNING');
  });

  it('gets a subscription error of the operation with a documented code, as over SSE', async () => {
    const apollo = client(httpLink());
    const error = await new Promise<unknown>((resolve) => {
      apollo.subscribe({ query: WATCH, variables: { id: 'bad id!' } }).subscribe({
        next: (result) => result.error && resolve(result.error),
        error: resolve,
      });
    });
    expect(JSON.stringify(error)).toContain('BAD_USER_INPUT');
    expect(stack.upstreamCalls()).toBe(0);
  });

  it('runs queries and mutations through the persisted-query link: a hash first, the query when unknown, then the hash only', async () => {
    const apollo = client(new PersistedQueryLink({ sha256 }).concat(httpLink()));
    const first = await apollo.query<{ fineTuneJobs: { items: unknown[] } }>({ query: LIST, fetchPolicy: 'network-only' });
    expect(first.error).toBeUndefined();
    expect(first.data!.fineTuneJobs.items.length).toBeGreaterThan(0);
    expect(sent.map((body) => Boolean(body.query))).toEqual([false, true]);

    const again = await apollo.query<{ fineTuneJobs: { items: unknown[] } }>({ query: LIST, fetchPolicy: 'network-only' });
    // The same page (a job another test created may have moved on meanwhile: its status is not compared).
    const ids = (data: { fineTuneJobs: { items: unknown[] } } | undefined) =>
      data!.fineTuneJobs.items.map((item) => (item as { id: string }).id);
    expect(ids(again.data)).toEqual(ids(first.data));
    expect(sent.map((body) => Boolean(body.query))).toEqual([false, true, false]);

    const created = await apollo.mutate<Created>({ mutation: CREATE });
    expect(created.data!.createFineTuneJob.status).toBe('PENDING');
    expect(stack.upstreamCalls('create')).toBe(1);
  });
});

describe('multipart subscriptions and persisted queries over plain HTTP', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { MAX_DEPTH: '3' } });
  });
  afterAll(() => stack?.close());
  beforeEach(() => stack.emulator.resetStats());

  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${stack.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...headers },
      body: JSON.stringify(body),
    });
  const MULTIPART = 'multipart/mixed;boundary="graphql";subscriptionSpec=1.0,application/json';

  it("answers Apollo's multipart Accept with its framing: boundary graphql, a heartbeat, then payload parts", async () => {
    const response = await post(
      { query: 'subscription { fineTuneJobUpdated(id: "ft-202605271743-dd2a") { id status } }' },
      { accept: MULTIPART },
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('multipart/mixed;boundary="graphql";subscriptionSpec="1.0"');
    const text = await response.text(); // The seeded job is terminal: its state, then the end.
    const parts = text.split('\r\n--graphql').slice(1, -1);
    expect(text.startsWith('\r\n--graphql\r\ncontent-type: application/json; charset=utf-8\r\n\r\n{}\r\n')).toBe(true);
    expect(text.endsWith('\r\n--graphql--\r\n')).toBe(true);
    const payloads = parts.map((part) => JSON.parse(part.split('\r\n\r\n')[1]!));
    expect(payloads.at(-1)).toEqual({ payload: { data: { fineTuneJobUpdated: { id: 'ft-202605271743-dd2a', status: 'SUCCEEDED' } } } });
  });

  it('keeps a quiet multipart stream alive with {} heartbeats, every 5 s', async () => {
    const created = await stack.ok<{ createFineTuneJob: { id: string } }>(
      'mutation { createFineTuneJob(input: { model: "qwen3-8b", trainingFileIds: ["file-ft-demo"], hyperParameters: { nEpochs: 1, batchSize: 8, maxLength: 2048 } }) { id } }',
    );
    const response = await post(
      { query: `subscription { fineTuneJobUpdated(id: "${created.createFineTuneJob.id}") { status } }` },
      { accept: MULTIPART },
    );
    // The job stays PENDING for 5 s in the emulator: its first state, then heartbeats only.
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const started = Date.now();
    while ((text.match(/\r\n\r\n\{\}\r\n/g) ?? []).length < 2) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`the stream ended before its second heartbeat: ${text}`);
      text += value;
    }
    expect(Date.now() - started).toBeGreaterThan(4_000);
    expect(text).toContain('{"payload":{"data":{"fineTuneJobUpdated":{"status":"PENDING"}}}}');
    await reader.cancel();
  });

  it('puts multipart requests through the same protections: CSRF (415) and masked, coded errors', async () => {
    const form = await fetch(`${stack.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', accept: MULTIPART },
      body: JSON.stringify({ query: 'subscription { fineTuneJobUpdated(id: "ft-202605271743-dd2a") { id } }' }),
    });
    expect(form.status).toBe(415);
    const deep = await post(
      { query: 'subscription { fineTuneJobUpdated(id: "x") { checkpoints { job { checkpoints { name } } } } }' },
      { accept: MULTIPART },
    );
    const body = (await deep.json()) as { errors: Array<{ extensions: { code: string; limit?: string } }> };
    expect(body.errors[0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit: 'maxDepth' });
    expect(stack.upstreamCalls()).toBe(0);
  });

  it('answers an unknown hash with PERSISTED_QUERY_NOT_FOUND, and a hash that is not the query’s with BAD_USER_INPUT', async () => {
    const query = '{ __typename }';
    const unknown = await (await post({ extensions: { persistedQuery: { version: 1, sha256Hash: sha256(query) } } })).json();
    expect(unknown.errors).toEqual([
      expect.objectContaining({
        message: 'PersistedQueryNotFound',
        extensions: expect.objectContaining({ code: 'PERSISTED_QUERY_NOT_FOUND' }),
      }),
    ]);
    const wrong = await (await post({ query, extensions: { persistedQuery: { version: 1, sha256Hash: sha256('{ other }') } } })).json();
    expect(wrong.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    const malformed = await (await post({ query, extensions: { persistedQuery: { version: 2, sha256Hash: 'x' } } })).json();
    expect(malformed.errors[0].extensions.code).toBe('BAD_USER_INPUT');
  });

  it('holds a persisted query to the same operation limits when it is sent by hash', async () => {
    const deep = '{ fineTuneJob(id: "ft-202605271743-dd2a") { checkpoints { job { checkpoints { name } } } } }';
    const extensions = { persistedQuery: { version: 1, sha256Hash: sha256(deep) } };
    const full = await (await post({ query: deep, extensions })).json();
    expect(full.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit: 'maxDepth' });
    const byHash = await (await post({ extensions })).json();
    expect(byHash.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit: 'maxDepth' });
    expect(stack.upstreamCalls()).toBe(0);
  });
});
