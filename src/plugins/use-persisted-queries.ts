import { createHash } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';
import { LRUCache } from 'lru-cache';
import { badUserInput, GatewayError } from '../errors/index.js';

const SHA256 = /^[0-9a-f]{64}$/;

/** What a request carries that persisted queries read: its query, if any, and its extensions. */
export interface PersistedQueryParams {
  query?: string | null | undefined;
  extensions?: Record<string, unknown> | null | undefined;
}

/**
 * Automatic persisted queries (Apollo's protocol, version 1): a request may carry only the SHA-256 of its query in
 * `extensions.persistedQuery`. A hash not seen yet gets PERSISTED_QUERY_NOT_FOUND, and the client sends the query with
 * its hash, which is checked and remembered. The store is bounded in entries and bytes (least recently used go first),
 * and keyed by the caller's scope (a hash of its credential): a caller cannot tell whether another has sent a query.
 * One store per gateway, read by HTTP (the plugin below) and WebSocket (src/gateway/websocket.ts) alike.
 */
export class PersistedQueries {
  private readonly store: LRUCache<string, string>;

  constructor(
    private readonly scopeOf: (headers: Headers) => string,
    { maxEntries = 1_000, maxBytes = 5_000_000 }: { maxEntries?: number; maxBytes?: number } = {},
  ) {
    this.store = new LRUCache({ max: maxEntries, maxSize: maxBytes, sizeCalculation: (query) => Math.max(1, query.length) });
  }

  /** The query to run: the one sent (its hash checked, then remembered), or the one stored for a hash-only request. */
  query(params: PersistedQueryParams, headers: Headers): string | null | undefined {
    const persisted = params.extensions?.persistedQuery as { version?: unknown; sha256Hash?: unknown } | undefined;
    if (persisted === undefined) return params.query;
    const hash = persisted?.sha256Hash;
    if (persisted?.version !== 1 || typeof hash !== 'string' || !SHA256.test(hash)) {
      throw badUserInput('extensions.persistedQuery must be { version: 1, sha256Hash: "<64 lowercase hex digits>" }.');
    }
    const key = `${this.scopeOf(headers)}:${hash}`;
    if (params.query == null) {
      const query = this.store.get(key);
      // Apollo's and urql's links look for this exact message or the code, then retry with the query.
      if (query === undefined) throw new GatewayError('PersistedQueryNotFound', { code: 'PERSISTED_QUERY_NOT_FOUND', retryable: true });
      return query;
    }
    if (createHash('sha256').update(params.query).digest('hex') !== hash) {
      throw badUserInput('extensions.persistedQuery.sha256Hash is not the SHA-256 of the query.');
    }
    this.store.set(key, params.query);
    return params.query;
  }
}

/** Persisted queries over HTTP: a hash-only request gets its query before anything else reads it. */
export function usePersistedQueries(persisted: PersistedQueries): Plugin {
  return {
    onParams({ params, request, setParams }) {
      const query = persisted.query(params, request.headers);
      if (query !== params.query) setParams({ ...params, query: query ?? undefined });
    },
  };
}
