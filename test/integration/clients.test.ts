import { createHash, randomUUID } from 'node:crypto';
import { ApolloClient, ApolloLink, CombinedGraphQLErrors, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { Client as UrqlClient, fetchExchange, subscriptionExchange, type SubscriptionForwarder } from '@urql/core';
import { createClient as createSseClient, type Client as SseClient } from 'graphql-sse';
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SEED_JOB_IDS } from '../../src/emulator/index.js';
import { startStack, type Stack } from '../support/stack.js';

/*
 * Real GraphQL clients, each with its documented setup and nothing else, against the real gateway. Each runs a query,
 * a mutation, a subscription that receives an update and completes, and an error case with its `extensions.code`.
 */

const DONE = SEED_JOB_IDS.contractExample; // SUCCEEDED: a subscription sends its state and completes
const MISSING = 'ft-209901010000-ffff';

const QUERY = 'query Job($id: ID!) { fineTuneJob(id: $id) { id status } }';
const MUTATION =
  'mutation Create($input: CreateFineTuneJobInput!, $key: String) { createFineTuneJob(input: $input, idempotencyKey: $key) { id model } }';
const SUBSCRIPTION = 'subscription Watch($id: ID!) { fineTuneJobUpdated(id: $id) { id status } }';
const createVariables = () => ({
  input: { model: 'qwen3-8b', trainingFileIds: ['file-ft-0001'], hyperParameters: { nEpochs: 1, batchSize: 8, maxLength: 2048 } },
  key: randomUUID(),
});

/** What a client must show for the four operations, whatever its API. */
interface Driver {
  query(query: string, variables: Record<string, unknown>): Promise<{ data?: any; codes: unknown[] }>;
  mutate(query: string, variables: Record<string, unknown>): Promise<{ data?: any; codes: unknown[] }>;
  /** Every event until the subscription completes. */
  subscribe(query: string, variables: Record<string, unknown>): Promise<any[]>;
  close(): Promise<void> | void;
}

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { NODE_ENV: 'production', LOG_LEVEL: 'error' }, emulator: { jobQuota: 1_000 } });
});
afterAll(() => stack.close());
beforeEach(() => stack.emulator.resetStats());

const wsUrl = () => `${stack.url.replace(/^http/, 'ws')}/graphql`;

function contract(name: string, driver: () => Driver) {
  describe(name, () => {
    let client: Driver;
    beforeAll(() => {
      client = driver();
    });
    afterAll(() => client.close());

    it('runs a query', async () => {
      expect(await client.query(QUERY, { id: DONE })).toEqual({ data: { fineTuneJob: { id: DONE, status: 'SUCCEEDED' } }, codes: [] });
    });

    it('runs a mutation', async () => {
      const { data, codes } = await client.mutate(MUTATION, createVariables());
      expect(codes).toEqual([]);
      expect(data.createFineTuneJob).toEqual({ id: expect.stringMatching(/^ft-/), model: 'qwen3-8b' });
      expect(stack.upstreamCalls('create')).toBe(1);
    });

    it('receives a subscription update, then the subscription completes', async () => {
      expect(await client.subscribe(SUBSCRIPTION, { id: DONE })).toEqual([{ fineTuneJobUpdated: { id: DONE, status: 'SUCCEEDED' } }]);
    });

    it('gives an upstream error its code, next to the data that resolved', async () => {
      const { data, codes } = await client.query(QUERY, { id: MISSING });
      expect(codes).toEqual(['NOT_FOUND']);
      expect(data ?? { fineTuneJob: null }).toEqual({ fineTuneJob: null });
    });

    it('gives a request error its code', async () => {
      const { codes } = await client.query('query Bad($id: ID!) { fineTuneJob(id: $id) { statu } }', { id: DONE });
      expect(codes).toEqual(['BAD_USER_INPUT']);
      expect(stack.upstreamCalls()).toBe(0);
    });
  });
}

// ---------------------------------------------------------------------------------------------- Apollo Client

/** Apollo's cache adds `__typename` to every selection; the contract is about the fields asked for. */
const withoutTypename = (data: unknown): any =>
  data && JSON.parse(JSON.stringify(data, (key, value: unknown) => (key === '__typename' ? undefined : value)));

function apollo(link: ApolloLink): Driver {
  const client = new ApolloClient({ link, cache: new InMemoryCache(), defaultOptions: { query: { fetchPolicy: 'no-cache' } } });
  const codesOf = (error: unknown) => {
    if (!error) return [];
    if (CombinedGraphQLErrors.is(error)) return error.errors.map((e) => e.extensions?.code);
    throw error;
  };
  return {
    query: async (query, variables) => {
      const { data, error } = await client.query({ query: gql(query), variables, errorPolicy: 'all' });
      return { data: withoutTypename(data ?? undefined), codes: codesOf(error) };
    },
    mutate: async (query, variables) => {
      const { data, error } = await client.mutate({ mutation: gql(query), variables, errorPolicy: 'all' });
      return { data: withoutTypename(data ?? undefined), codes: codesOf(error) };
    },
    subscribe: (query, variables) =>
      new Promise((resolve, reject) => {
        const events: unknown[] = [];
        client.subscribe({ query: gql(query), variables }).subscribe({
          next: ({ data, error }) => (error ? reject(new Error(error.message, { cause: error })) : events.push(withoutTypename(data))),
          error: reject,
          complete: () => resolve(events),
        });
      }),
    close: () => client.stop(),
  };
}

contract('Apollo Client, HttpLink (multipart subscriptions)', () => apollo(new HttpLink({ uri: `${stack.url}/graphql`, fetch })));

const sha256 = (query: string) => createHash('sha256').update(query).digest('hex');
const persistedQueryLink = (fetchFn: typeof fetch) =>
  ApolloLink.from([new PersistedQueryLink({ sha256 }), new HttpLink({ uri: `${stack.url}/graphql`, fetch: fetchFn })]);

describe('Apollo Client, persisted-query link', () => {
  contract('', () => apollo(persistedQueryLink(fetch)));

  it('sends the hash alone first; told the hash is unknown, sends the query', async () => {
    const bodies: unknown[] = [];
    const recordingFetch: typeof fetch = (input, init) => {
      if (typeof init?.body === 'string') bodies.push(JSON.parse(init.body));
      return fetch(input, init);
    };
    const client = apollo(persistedQueryLink(recordingFetch));
    const query = `query Fresh${randomUUID().slice(0, 8)}($id: ID!) { fineTuneJob(id: $id) { id } }`;
    expect(await client.query(query, { id: DONE })).toEqual({ data: { fineTuneJob: { id: DONE } }, codes: [] });
    await client.close();
    // The hash of the query as Apollo prints it (with `__typename` added).
    const hash = { persistedQuery: { version: 1, sha256Hash: expect.stringMatching(/^[0-9a-f]{64}$/) } };
    expect(bodies).toEqual([
      { operationName: expect.any(String), variables: { id: DONE }, extensions: expect.objectContaining(hash) },
      expect.objectContaining({ query: expect.stringContaining('fineTuneJob'), extensions: expect.objectContaining(hash) }),
    ]);
  });
});

describe('Apollo Client, GraphQLWsLink', () => {
  // GraphQLWsLink reads the global `WebSocket` (browsers, Node 22+) when it sorts an operation's error from a closed
  // socket: on Node 20, which has none, it throws a ReferenceError (apollographql/apollo-client#11761).
  const hadWebSocket = 'WebSocket' in globalThis;
  beforeAll(() => {
    if (!hadWebSocket) Object.assign(globalThis, { WebSocket });
  });
  afterAll(() => {
    if (!hadWebSocket) delete (globalThis as { WebSocket?: unknown }).WebSocket;
  });
  contract('every operation over graphql-ws', () => {
    const ws: WsClient = createWsClient({ url: wsUrl(), webSocketImpl: WebSocket, retryAttempts: 0 });
    const driver = apollo(new GraphQLWsLink(ws));
    return { ...driver, close: async () => (driver.close(), await ws.dispose()) };
  });
});

// ------------------------------------------------------------------------------------------------------- urql

/** urql with a subscription transport for every operation (as apps with one socket do), or with fetch alone. */
function urql(forward: SubscriptionForwarder | 'fetch', dispose: () => Promise<void> | void = () => {}): Driver {
  const client = new UrqlClient({
    url: `${stack.url}/graphql`,
    fetch,
    ...(forward === 'fetch'
      ? { exchanges: [fetchExchange], fetchSubscriptions: true }
      : { exchanges: [subscriptionExchange({ forwardSubscription: forward, enableAllOperations: true }), fetchExchange] }),
    requestPolicy: 'network-only',
  });
  const settle = (result: {
    data?: unknown;
    error?: { graphQLErrors: Array<{ extensions?: Record<string, unknown> }>; networkError?: Error };
  }) => {
    if (result.error?.networkError) throw result.error.networkError;
    return { data: result.data ?? undefined, codes: (result.error?.graphQLErrors ?? []).map((e) => e.extensions?.code) };
  };
  return {
    query: async (query, variables) => settle(await client.query(query, variables).toPromise()),
    mutate: async (query, variables) => settle(await client.mutation(query, variables).toPromise()),
    subscribe: (query, variables) =>
      new Promise((resolve, reject) => {
        // urql's sources end without a completion callback: the first event is awaited, then the subscription dropped.
        const subscription = client.subscription(query, variables).subscribe((result) => {
          if (result.error) reject(result.error);
          else resolve([result.data]);
          queueMicrotask(() => subscription.unsubscribe());
        });
      }),
    close: dispose,
  };
}

contract('urql with graphql-ws (subscriptionExchange)', () => {
  const ws = createWsClient({ url: wsUrl(), webSocketImpl: WebSocket, retryAttempts: 0 });
  return urql(
    (request) => ({
      subscribe: (sink) => ({ unsubscribe: ws.subscribe({ ...request, query: request.query ?? '' }, sink) }),
    }),
    () => ws.dispose(),
  );
});

contract('urql with graphql-sse (subscriptionExchange)', () => {
  const sse = createSseClient({ url: `${stack.url}/graphql`, fetchFn: fetch, retryAttempts: 0 });
  return urql(
    (request) => ({
      subscribe: (sink) => ({ unsubscribe: sse.subscribe({ ...request, query: request.query ?? '' }, sink) }),
    }),
    () => sse.dispose(),
  );
});

// urql's own subscriptions over fetch: `Accept: text/event-stream, multipart/mixed`.
contract('urql, fetchExchange with fetchSubscriptions', () => urql('fetch'));

// ------------------------------------------------------------------------------------------ graphql-sse client

function graphqlSse(client: SseClient): Driver {
  const run = (query: string, variables: Record<string, unknown>) =>
    new Promise<{ data?: any; codes: unknown[] }>((resolve, reject) => {
      let last: { data?: any; codes: unknown[] } = { codes: [] };
      client.subscribe(
        { query, variables },
        {
          next: ({ data, errors }) => (last = { data: data ?? undefined, codes: (errors ?? []).map((e) => e.extensions?.code) }),
          error: reject,
          complete: () => resolve(last),
        },
      );
    });
  return {
    query: run,
    mutate: run,
    subscribe: async (query, variables) => {
      const events: unknown[] = [];
      for await (const { data, errors } of client.iterate({ query, variables })) {
        if (errors) throw new Error(JSON.stringify(errors));
        events.push(data);
      }
      return events;
    },
    close: () => client.dispose(),
  };
}

contract('graphql-sse client, distinct connections mode', () =>
  graphqlSse(createSseClient({ url: `${stack.url}/graphql`, fetchFn: fetch, retryAttempts: 0 })),
);
