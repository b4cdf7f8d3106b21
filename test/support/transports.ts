import type { GraphQLFormattedError } from 'graphql';
import { createClient as createSseClient, type Client as SseClient } from 'graphql-sse';
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import WebSocket from 'ws';
import { openSse } from './sse.js';

/** An operation as every transport sends it. */
export interface Operation {
  query: string;
  variables?: Record<string, unknown>;
  operationName?: string;
}

export interface Payload {
  data?: Record<string, any> | null;
  errors?: readonly GraphQLFormattedError[];
  extensions?: Record<string, unknown>;
}

/**
 * What a transport delivered for one operation: every result payload in order (one for a query or mutation, each
 * event of a subscription), the HTTP status where there is one, and how the connection ended where that is not the
 * protocol's normal completion (a WebSocket close, a stream cut off).
 */
export interface Outcome {
  status?: number;
  payloads: Payload[];
  /** Set when the transport failed outside the protocol: a close code, a non-GraphQL response, a refusal. */
  failure?: string;
}

export interface Transport {
  name: string;
  run(operation: Operation): Promise<Outcome>;
  close(): Promise<void>;
}

const GRAPHQL_RESPONSE = 'application/graphql-response+json';

async function jsonOutcome(response: Response): Promise<Outcome> {
  const text = await response.text();
  try {
    return { status: response.status, payloads: [JSON.parse(text) as Payload] };
  } catch {
    return { status: response.status, payloads: [], failure: `HTTP ${response.status} ${response.headers.get('content-type')}: ${text}` };
  }
}

/** GraphQL over HTTP, POST with a JSON body (the spec's media type). */
export function httpPost(baseUrl: string): Transport {
  return {
    name: 'HTTP POST',
    run: async (operation) =>
      jsonOutcome(
        await fetch(`${baseUrl}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: GRAPHQL_RESPONSE },
          body: JSON.stringify(operation),
        }),
      ),
    close: async () => {},
  };
}

/** GraphQL over HTTP, GET with the operation in the query string (queries only). */
export function httpGet(baseUrl: string): Transport {
  return {
    name: 'HTTP GET',
    run: async ({ query, variables, operationName }) => {
      const url = new URL('/graphql', baseUrl);
      url.searchParams.set('query', query);
      if (variables) url.searchParams.set('variables', JSON.stringify(variables));
      if (operationName) url.searchParams.set('operationName', operationName);
      return jsonOutcome(await fetch(url, { headers: { accept: GRAPHQL_RESPONSE } }));
    },
    close: async () => {},
  };
}

/** Server-Sent Events as a browser's fetch would read them: POST with `Accept: text/event-stream`. */
export function plainSse(baseUrl: string): Transport {
  return {
    name: 'SSE (Accept: text/event-stream)',
    run: async ({ query, variables }) => {
      const stream = await openSse(baseUrl, query, variables ?? {});
      return { status: stream.status, payloads: await stream.rest() };
    },
    close: async () => {},
  };
}

/** The GraphQL over SSE protocol, by graphql-sse's own client in its distinct-connections mode. */
export function graphqlSse(baseUrl: string): Transport {
  const client: SseClient = createSseClient({ url: `${baseUrl}/graphql`, fetchFn: fetch, retryAttempts: 0 });
  return {
    name: 'graphql-sse',
    run: (operation) =>
      new Promise<Outcome>((resolve) => {
        const payloads: Payload[] = [];
        client.subscribe(operation, {
          next: (payload) => payloads.push(payload as Payload),
          complete: () => resolve({ payloads }),
          error: (error: unknown) => resolve({ payloads, failure: describeFailure(error) }),
        });
      }),
    close: () => Promise.resolve(client.dispose()),
  };
}

/**
 * graphql-ws (`graphql-transport-ws`), every operation on one shared socket, as apps use it: an operation that fails
 * must not take the socket (and its other operations) down with it.
 */
export function graphqlWs(baseUrl: string): Transport {
  const client: WsClient = createWsClient({
    url: `${baseUrl.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
  });
  return {
    name: 'graphql-ws',
    run: (operation) =>
      new Promise<Outcome>((resolve) => {
        const payloads: Payload[] = [];
        client.subscribe(operation, {
          next: (payload) => payloads.push(payload as Payload),
          complete: () => resolve({ payloads }),
          // graphql-ws hands the `error` message's errors as an array; anything else ended the socket.
          error: (error: unknown) =>
            resolve(
              Array.isArray(error)
                ? { payloads: [...payloads, { errors: error as GraphQLFormattedError[] }] }
                : { payloads, failure: describeFailure(error) },
            ),
        });
      }),
    close: () => client.dispose() as Promise<void>,
  };
}

/** The Accept header of Apollo Client's HttpLink for a subscription (Apollo's multipart subscription protocol). */
export const APOLLO_MULTIPART_ACCEPT = 'multipart/mixed;boundary=graphql;subscriptionSpec=1.0,application/json';

/**
 * Apollo's multipart HTTP subscription protocol: POST with `Accept: multipart/mixed;subscriptionSpec=1.0`, each part
 * `{"payload": result}`, `{}` as a heartbeat, `{"payload": null, "errors": [...]}` for a transport-level error.
 * Apollo Client sends that Accept for subscriptions; a server may answer other operations as plain JSON.
 */
export function apolloMultipart(baseUrl: string): Transport {
  return {
    name: 'Apollo multipart',
    run: async (operation) => {
      const response = await fetch(`${baseUrl}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: APOLLO_MULTIPART_ACCEPT },
        body: JSON.stringify(operation),
      });
      const type = response.headers.get('content-type') ?? '';
      if (!/^multipart\/mixed/i.test(type)) return jsonOutcome(response);
      const boundary = /;\s*boundary="?([^";]+)"?/i.exec(type)?.[1] ?? '-';
      const text = await response.text();
      const payloads: Payload[] = [];
      for (const part of text.split(`--${boundary}`)) {
        const body = part.slice(part.indexOf('\r\n\r\n') + 4).trim();
        if (!part.includes('\r\n\r\n') || !body) continue;
        const parsed = JSON.parse(body) as { payload?: Payload | null; errors?: GraphQLFormattedError[] };
        if (parsed.payload) payloads.push(parsed.payload);
        else if (parsed.errors) payloads.push({ errors: parsed.errors });
      }
      return { status: response.status, payloads };
    },
    close: async () => {},
  };
}

function describeFailure(error: unknown): string {
  if (error && typeof error === 'object' && 'code' in error && 'reason' in error) {
    return `closed ${String(error.code)} ${String(error.reason)}`;
  }
  return error instanceof Error ? `${error.name}: ${error.message}` : JSON.stringify(error);
}

/** Every transport the gateway serves, for one gateway. */
export function allTransports(baseUrl: string): Transport[] {
  return [httpPost(baseUrl), httpGet(baseUrl), plainSse(baseUrl), graphqlSse(baseUrl), graphqlWs(baseUrl), apolloMultipart(baseUrl)];
}
