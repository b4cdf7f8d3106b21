import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApolloClient, gql, HttpLink, InMemoryCache } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { addTypenameToDocument } from '@apollo/client/utilities';
import { print } from 'graphql';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SEED_JOB_IDS } from '../../src/emulator/index.js';
import { startStack, type Stack } from '../support/stack.js';
import { allTransports, apolloMultipart, graphqlSse, httpPost, type Operation, type Outcome } from '../support/transports.js';

/*
 * Trusted documents (PERSISTED_DOCUMENTS, PERSISTED_DOCUMENTS_ONLY): the manifest the typed client example's codegen
 * writes, served by id on every transport; in ONLY mode every other document refused before it runs.
 */

const EXAMPLE_MANIFEST = fileURLToPath(new URL('../../examples/dashboard-client/gql/persisted-documents.json', import.meta.url));
const example = JSON.parse(readFileSync(EXAMPLE_MANIFEST, 'utf8')) as Record<string, string>;
const idOf = (operationName: string) => Object.keys(example).find((id) => example[id]!.includes(`${operationName}(`))!;
const JOBS_PAGE = idOf('JobsPage');
const WATCH_JOB = idOf('WatchJob');
const DONE = SEED_JOB_IDS.contractExample;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

// What Apollo Client sends: its cache adds `__typename`, and its link hashes the printed result. A manifest for Apollo
// holds that form (Apollo's generate-persisted-query-manifest, or codegen's addTypenameSelectionDocumentTransform).
const APOLLO_LISTED = gql`
  query ApolloListed {
    fineTuneJobs(pageSize: 2) {
      total
      items {
        id
      }
    }
  }
`;
const APOLLO_UNLISTED = gql`
  query ApolloUnlisted {
    fineTuneJobs(pageSize: 3) {
      total
    }
  }
`;
const apolloForm = print(addTypenameToDocument(APOLLO_LISTED));

function manifestFile(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'trusted-documents-')), 'manifest.json');
  writeFileSync(file, JSON.stringify({ ...example, [sha256(apolloForm)]: apolloForm }));
  return file;
}

const UNLISTED_QUERY: Operation = { query: '{ fineTuneJobs(pageSize: 1) { total } }' };
const UNLISTED_SUBSCRIPTION: Operation = { query: `subscription { fineTuneJobUpdated(id: "${DONE}") { status } }` };

/**
 * One operation over a raw graphql-ws socket: graphql-ws's own client refuses to send a `subscribe` without a query,
 * which is what an operation by documentId is. Resolves with its messages once it completed or failed.
 */
async function overWebSocket(baseUrl: string, payload: Record<string, unknown>): Promise<Outcome> {
  const socket = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
  const payloads: Outcome['payloads'] = [];
  const outcome = new Promise<Outcome>((resolve) => {
    socket.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString()) as { type: string; payload?: any };
      if (message.type === 'connection_ack') socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload }));
      if (message.type === 'next') payloads.push(message.payload);
      if (message.type === 'error') payloads.push({ errors: message.payload });
      if (message.type === 'complete' || message.type === 'error') resolve({ payloads });
    });
    socket.on('close', (code, reason) => resolve({ payloads, failure: `closed ${code} ${reason.toString()}` }));
  });
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  socket.send(JSON.stringify({ type: 'connection_init' }));
  const result = await outcome;
  socket.close();
  return result;
}

const codes = (outcome: Outcome) => outcome.payloads.flatMap((payload) => payload.errors?.map((error) => error.extensions?.code) ?? []);

describe('trusted documents only (PERSISTED_DOCUMENTS_ONLY=true)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { PERSISTED_DOCUMENTS: manifestFile(), PERSISTED_DOCUMENTS_ONLY: 'true' } });
  });
  afterAll(() => stack?.close());
  beforeEach(() => stack.emulator.resetStats());

  const graphqlUrl = () => `${stack.url}/graphql`;

  it('serves a listed document by its documentId in a POST body', async () => {
    const response = await fetch(graphqlUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
      body: JSON.stringify({ documentId: JOBS_PAGE, variables: { page: 1, pageSize: 2 } }),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { data: { fineTuneJobs: { items: unknown[] } } };
    expect(body.data.fineTuneJobs.items).toHaveLength(2);
  });

  it('serves it by a GET with documentId in the query string (a cacheable URL), with or without the sha256: prefix', async () => {
    for (const id of [JOBS_PAGE, JOBS_PAGE.replace(/^sha256:/, '')]) {
      const url = new URL(graphqlUrl());
      url.searchParams.set('documentId', id);
      url.searchParams.set('variables', JSON.stringify({ page: 1, pageSize: 1 }));
      const response = await fetch(url, { headers: { accept: 'application/graphql-response+json' } });
      expect(response.status).toBe(200);
      expect(((await response.json()) as { data: { fineTuneJobs: { items: unknown[] } } }).data.fineTuneJobs.items).toHaveLength(1);
    }
  });

  it('serves a listed subscription by documentId over graphql-ws, graphql-sse, plain SSE and Apollo multipart', async () => {
    const byId = { documentId: WATCH_JOB, variables: { id: DONE } } as unknown as Operation;
    const last = { data: { fineTuneJobUpdated: { id: DONE, isTerminal: true, status: 'SUCCEEDED' } } };
    for (const transport of [graphqlSse(stack.url), apolloMultipart(stack.url)]) {
      const outcome = await transport.run(byId);
      await transport.close();
      expect(outcome.failure, transport.name).toBeUndefined();
      expect(outcome.payloads.at(-1), transport.name).toEqual(last);
    }
    const ws = await overWebSocket(stack.url, byId as unknown as Record<string, unknown>);
    expect(ws.failure).toBeUndefined();
    expect(ws.payloads.at(-1)).toEqual(last);
    const sse = await fetch(graphqlUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify(byId),
    });
    expect(sse.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(await sse.text()).toContain('"status":"SUCCEEDED"');
  });

  it('refuses any unlisted document with PERSISTED_QUERY_ONLY on every transport, executing nothing and calling no upstream', async () => {
    for (const transport of allTransports(stack.url)) {
      for (const operation of [UNLISTED_QUERY, UNLISTED_SUBSCRIPTION]) {
        const outcome = await transport.run(operation);
        expect(outcome.failure, transport.name).toBeUndefined();
        expect(codes(outcome), `${transport.name}: ${operation.query}`).toEqual(['PERSISTED_QUERY_ONLY']);
        expect(
          outcome.payloads.some((payload) => payload.data != null),
          transport.name,
        ).toBe(false);
      }
      await transport.close();
    }
    expect(stack.upstreamCalls()).toBe(0);
  });

  it('refuses to register a new document by automatic persisted query, and answers an unknown hash with PERSISTED_QUERY_NOT_FOUND', async () => {
    const hash = { persistedQuery: { version: 1, sha256Hash: sha256(UNLISTED_QUERY.query) } };
    const post = httpPost(stack.url);
    expect(codes(await post.run({ ...UNLISTED_QUERY, extensions: hash } as Operation))).toEqual(['PERSISTED_QUERY_ONLY']);
    expect(codes(await post.run({ extensions: hash } as unknown as Operation))).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
    expect(stack.upstreamCalls()).toBe(0);
  });

  it('answers a documentId that is not in the manifest with PERSISTED_QUERY_NOT_FOUND (not retryable), on HTTP and WebSocket', async () => {
    const unknown = { documentId: `sha256:${sha256('{ nope }')}` } as unknown as Operation;
    for (const outcome of [
      await httpPost(stack.url).run(unknown),
      await overWebSocket(stack.url, unknown as unknown as Record<string, unknown>),
    ]) {
      expect(outcome.failure).toBeUndefined();
      expect(outcome.payloads[0]?.errors?.[0]?.extensions).toMatchObject({ code: 'PERSISTED_QUERY_NOT_FOUND', retryable: false });
    }
    expect(stack.upstreamCalls()).toBe(0);
  });

  it('runs a listed document sent in full, as the manifest holds it', async () => {
    const outcome = await httpPost(stack.url).run({ query: example[JOBS_PAGE]!, variables: { page: 1, pageSize: 1 } });
    expect(outcome.payloads[0]?.data?.fineTuneJobs.items).toHaveLength(1);
  });

  it("works with Apollo Client's persisted-query link: a listed operation by hash alone, an unlisted one refused", async () => {
    const sent: Array<{ query?: string }> = [];
    const recordingFetch: typeof fetch = (input, init) => {
      if (typeof init?.body === 'string') sent.push(JSON.parse(init.body));
      return fetch(input, init);
    };
    const apollo = new ApolloClient({
      link: new PersistedQueryLink({ sha256 }).concat(new HttpLink({ uri: graphqlUrl(), fetch: recordingFetch })),
      cache: new InMemoryCache(),
    });
    const listed = await apollo.query<{ fineTuneJobs: { items: unknown[] } }>({ query: APOLLO_LISTED, fetchPolicy: 'network-only' });
    expect(listed.error).toBeUndefined();
    expect(listed.data!.fineTuneJobs.items).toHaveLength(2);
    expect(sent.map((body) => body.query)).toEqual([undefined]);

    stack.emulator.resetStats();
    const unlisted = await apollo.query({ query: APOLLO_UNLISTED, fetchPolicy: 'network-only' }).catch((error: unknown) => ({ error }));
    expect(JSON.stringify(unlisted.error)).toContain('PERSISTED_QUERY_ONLY');
    expect(stack.upstreamCalls()).toBe(0);
  });
});

describe('trusted documents alongside other documents (PERSISTED_DOCUMENTS without ONLY)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { PERSISTED_DOCUMENTS: EXAMPLE_MANIFEST } });
  });
  afterAll(() => stack?.close());

  it('serves listed documents by id, any other document, and automatic persisted queries as before', async () => {
    const post = httpPost(stack.url);
    const byId = await post.run({ documentId: JOBS_PAGE, variables: { page: 1, pageSize: 1 } } as unknown as Operation);
    expect(byId.payloads[0]?.data?.fineTuneJobs.items).toHaveLength(1);
    expect((await post.run(UNLISTED_QUERY)).payloads[0]?.data?.fineTuneJobs.total).toBeGreaterThan(0);
    const hash = { persistedQuery: { version: 1, sha256Hash: sha256(UNLISTED_QUERY.query) } };
    expect(codes(await post.run({ extensions: hash } as unknown as Operation))).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
    await post.run({ ...UNLISTED_QUERY, extensions: hash } as Operation);
    expect((await post.run({ extensions: hash } as unknown as Operation)).payloads[0]?.data?.fineTuneJobs.total).toBeGreaterThan(0);
  });
});
