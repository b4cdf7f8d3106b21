import { createHash } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';
import { LRUCache } from 'lru-cache';
import { badUserInput, GatewayError } from '../errors/index.js';

const SHA256 = /^[0-9a-f]{64}$/;

/** What a request carries that persisted queries read: its query or document id, if any, and its extensions. */
export interface PersistedQueryParams {
  query?: string | null | undefined;
  /** The GraphQL-over-HTTP convention for trusted documents: the document's id in the manifest. */
  documentId?: unknown;
  extensions?: Record<string, unknown> | null | undefined;
}

/** The manifest of trusted documents (PERSISTED_DOCUMENTS), and whether it is the only thing that runs. */
export interface TrustedDocuments {
  documents: ReadonlyMap<string, string>;
  only: boolean;
}

const notFound = (message: string, retryable: boolean) => new GatewayError(message, { code: 'PERSISTED_QUERY_NOT_FOUND', retryable });

/**
 * Trusted documents and automatic persisted queries, for every transport.
 *
 * Trusted documents: with a manifest (`documentId → document`, written by codegen's client preset), a request may
 * send `documentId` (in the body, or the query string of a GET: cacheable) or Apollo's
 * `extensions.persistedQuery.sha256Hash` naming a manifest entry. With `only`, nothing else runs: any other document
 * is PERSISTED_QUERY_ONLY before it is parsed, so it is never executed and never reaches the upstream.
 *
 * Automatic persisted queries (Apollo's protocol, version 1), outside `only` mode: a request may carry only the
 * SHA-256 of its query. A hash not seen yet gets PERSISTED_QUERY_NOT_FOUND, and the client sends the query with its
 * hash, which is checked and remembered. The store is bounded in entries and bytes (least recently used go first),
 * and keyed by the caller's scope (a hash of its credential): a caller cannot tell whether another has sent a query.
 *
 * Hand-written rather than @graphql-yoga/plugin-persisted-operations (+ plugin-apq): those run only in yoga's
 * `onParams`, but our graphql-ws transport (src/gateway/websocket.ts) runs operations through `getEnveloped` and
 * needs the same resolution as a function; plugin-apq's store sees only the hash, not the request, so it cannot be
 * kept per credential; and two plugins would answer with two sets of codes. One store per gateway, read by HTTP
 * and SSE (the plugin below) and WebSocket alike.
 */
export class PersistedQueries {
  private readonly store: LRUCache<string, string>;
  private readonly trusted: TrustedDocuments | undefined;
  /** The manifest's documents, as text: a listed document sent in full is still allowed in `only` mode. */
  private readonly trustedTexts: ReadonlySet<string>;

  constructor(
    private readonly scopeOf: (headers: Headers) => string,
    {
      maxEntries = 1_000,
      maxBytes = 5_000_000,
      trusted,
    }: { maxEntries?: number; maxBytes?: number; trusted?: TrustedDocuments | undefined } = {},
  ) {
    this.store = new LRUCache({ max: maxEntries, maxSize: maxBytes, sizeCalculation: (query) => Math.max(1, query.length) });
    this.trusted = trusted;
    this.trustedTexts = new Set(trusted?.documents.values() ?? []);
  }

  /** The query to run: the one sent, the manifest's for a document id or hash, or the one stored for a hash-only request. */
  query(params: PersistedQueryParams, headers: Headers): string | null | undefined {
    if (params.documentId != null) return this.byDocumentId(params);
    const persisted = params.extensions?.persistedQuery as { version?: unknown; sha256Hash?: unknown } | undefined;
    if (persisted === undefined) return this.allowed(params.query);
    const hash = persisted?.sha256Hash;
    if (persisted?.version !== 1 || typeof hash !== 'string' || !SHA256.test(hash)) {
      throw badUserInput('extensions.persistedQuery must be { version: 1, sha256Hash: "<64 lowercase hex digits>" }.');
    }
    const listed = this.listed(hash);
    if (params.query == null && listed !== undefined) return listed;
    if (this.trusted?.only) {
      // No registering in `only` mode: that would let any document in. Apollo's link resends the query on this code;
      // a listed one then runs, any other is refused.
      if (params.query == null) throw notFound('PersistedQueryNotFound', false);
      return this.allowed(params.query);
    }
    const key = `${this.scopeOf(headers)}:${hash}`;
    if (params.query == null) {
      const query = this.store.get(key);
      // Apollo's and urql's links look for this exact message or the code, then retry with the query.
      if (query === undefined) throw notFound('PersistedQueryNotFound', true);
      return query;
    }
    if (createHash('sha256').update(params.query).digest('hex') !== hash) {
      throw badUserInput('extensions.persistedQuery.sha256Hash is not the SHA-256 of the query.');
    }
    this.store.set(key, params.query);
    return params.query;
  }

  private byDocumentId({ documentId, query, extensions }: PersistedQueryParams): string {
    if (typeof documentId !== 'string') throw badUserInput('documentId must be a string.');
    if (query != null) throw badUserInput('Send either documentId or query, not both.');
    const document = this.listed(documentId);
    if (document === undefined) {
      throw notFound(
        this.trusted
          ? 'No trusted document has this documentId: deploy the manifest your client was built with.'
          : 'This gateway has no trusted documents.',
        false,
      );
    }
    // Two names for the document: running one and ignoring the other would run what the client may not have meant
    // (and what a cache or log keyed by the hash would misreport). They must name the same document.
    const persisted = extensions?.persistedQuery as { sha256Hash?: unknown } | undefined;
    if (persisted !== undefined) {
      const hash = persisted?.sha256Hash;
      const same =
        typeof hash === 'string' &&
        (this.listed(hash) === document || createHash('sha256').update(document).digest('hex') === hash.replace(/^sha256:/, ''));
      if (!same)
        throw badUserInput('documentId and extensions.persistedQuery.sha256Hash name different documents: send one, or both for the same.');
    }
    return document;
  }

  /**
   * A manifest entry by its id. The GraphQL-over-HTTP draft (and codegen's client preset) prefix SHA-256 ids with
   * `sha256:`; Apollo's `persistedQuery.sha256Hash` and other manifests use the bare hex: either finds either.
   */
  private listed(id: string): string | undefined {
    const documents = this.trusted?.documents;
    if (!documents) return undefined;
    return documents.get(id) ?? (id.startsWith('sha256:') ? documents.get(id.slice(7)) : documents.get(`sha256:${id}`));
  }

  private allowed(query: string | null | undefined): string | null | undefined {
    if (this.trusted?.only && query != null && !this.trustedTexts.has(query)) {
      throw new GatewayError('This gateway runs trusted documents only: send the documentId of a document in its manifest.', {
        code: 'PERSISTED_QUERY_ONLY',
        retryable: false,
      });
    }
    return query;
  }
}

/** Persisted queries and trusted documents over HTTP and SSE: the document is resolved before anything else reads it. */
export function usePersistedQueries(persisted: PersistedQueries): Plugin {
  return {
    onParams({ params, request, setParams }) {
      // yoga's GET parser reads only query, variables, operationName and extensions.
      const documentId =
        (params as PersistedQueryParams).documentId ??
        (request.method === 'GET' ? (new URL(request.url).searchParams.get('documentId') ?? undefined) : undefined);
      const query = persisted.query({ ...params, documentId }, request.headers);
      if (query === params.query && documentId === undefined) return;
      // Without `documentId`: yoga refuses parameters it does not know.
      const next: typeof params & { documentId?: unknown } = { ...params, query: query ?? undefined };
      delete next.documentId;
      setParams(next);
    },
  };
}
