import type { TypedDocumentString } from './gql/graphql.js';

/*
 * A typed GraphQL client in plain fetch: no GraphQL library at run time. Each document comes from ./gql/ (codegen's
 * client preset), so results and variables are typed; `documentIdOnly` sends only the document's id from the trusted
 * documents manifest, as a gateway in PERSISTED_DOCUMENTS_ONLY mode requires.
 */

export interface ClientOptions {
  /** The gateway's GraphQL endpoint, e.g. http://localhost:4000/graphql. */
  url: string;
  /** Send `documentId` (the manifest's id) instead of the document's text. */
  documentIdOnly?: boolean;
  /** E.g. `authorization: Bearer sk-...` for a gateway in forward mode. */
  headers?: Record<string, string>;
}

export interface GraphQLErrorShape {
  message: string;
  extensions?: { code?: string; [key: string]: unknown };
}

/** A response with errors: `codes` are the gateway's `extensions.code`s (docs/api.md#error-codes). */
export class GraphQLResponseError extends Error {
  readonly codes: string[];
  constructor(readonly errors: GraphQLErrorShape[]) {
    super(errors.map((error) => `${error.extensions?.code ?? 'ERROR'}: ${error.message}`).join('; '));
    this.codes = errors.map((error) => error.extensions?.code ?? 'ERROR');
  }
}

interface ExecutionResult<T> {
  data?: T | null;
  errors?: GraphQLErrorShape[];
}

function documentId(document: { __meta__?: Record<string, unknown> | undefined }): string {
  const id = document.__meta__?.hash;
  if (typeof id !== 'string') throw new Error('This document has no id: run `npm run codegen` (persistedDocuments: true).');
  return id;
}

function resultOf<T>(result: ExecutionResult<T>): T {
  if (result.errors?.length) throw new GraphQLResponseError(result.errors);
  if (result.data == null) throw new Error('The response has neither data nor errors.');
  return result.data;
}

/**
 * A query or mutation. A query sent by id goes as a GET (`?documentId=…&variables=…`): a URL that HTTP caches and
 * CDNs can keep. Everything else is a POST.
 */
export async function execute<TResult, TVariables>(
  options: ClientOptions,
  document: TypedDocumentString<TResult, TVariables>,
  variables: TVariables,
): Promise<TResult> {
  const headers = { accept: 'application/graphql-response+json, application/json', ...options.headers };
  let response: Response;
  if (options.documentIdOnly && /^\s*query\b/.test(document.toString())) {
    const url = new URL(options.url);
    url.searchParams.set('documentId', documentId(document));
    url.searchParams.set('variables', JSON.stringify(variables));
    response = await fetch(url, { headers });
  } else {
    const body = options.documentIdOnly ? { documentId: documentId(document), variables } : { query: document.toString(), variables };
    response = await fetch(options.url, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }
  return resultOf((await response.json()) as ExecutionResult<TResult>);
}

/**
 * A subscription over Server-Sent Events (GraphQL over SSE, distinct connections): a POST with
 * `Accept: text/event-stream`, read as `next` events until `complete`. Breaking out of the loop (or `signal`) ends it.
 */
export async function* subscribe<TResult, TVariables>(
  options: ClientOptions,
  document: TypedDocumentString<TResult, TVariables>,
  variables: TVariables,
  signal?: AbortSignal,
): AsyncGenerator<TResult> {
  const body = options.documentIdOnly ? { documentId: documentId(document), variables } : { query: document.toString(), variables };
  const controller = new AbortController();
  signal?.addEventListener('abort', () => controller.abort(signal.reason));
  const response = await fetch(options.url, {
    method: 'POST',
    headers: { accept: 'text/event-stream', 'content-type': 'application/json', ...options.headers },
    body: JSON.stringify(body),
    signal: controller.signal,
  });
  if (!response.ok || !response.body) throw new Error(`The subscription was refused: HTTP ${response.status} ${await response.text()}`);
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    // Node's fetch body is async-iterable (a browser would use response.body.getReader()).
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      // Events end with a blank line; lines starting with ':' are keep-alive comments.
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const lines = buffer.slice(0, end).split('\n');
        buffer = buffer.slice(end + 2);
        const event = lines
          .find((line) => line.startsWith('event:'))
          ?.slice(6)
          .trim();
        const data = lines
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).trimStart())
          .join('\n');
        if (event === 'complete') return;
        if (event === 'next' || (!event && data)) yield resultOf(JSON.parse(data) as ExecutionResult<TResult>);
      }
    }
  } finally {
    controller.abort();
  }
}
