import { createHash } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';
import { LRUCache } from 'lru-cache';
import { badUserInput, GatewayError } from '../errors/index.js';

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * Automatic persisted queries (Apollo's protocol, version 1): a request may carry only the SHA-256 of its query in
 * `extensions.persistedQuery`. A hash not seen yet gets PERSISTED_QUERY_NOT_FOUND, and the client sends the query with
 * its hash, which is checked and remembered. The store is bounded in entries and bytes (least recently used go first).
 */
export function usePersistedQueries({ maxEntries = 1_000, maxBytes = 5_000_000 }: { maxEntries?: number; maxBytes?: number } = {}): Plugin {
  const store = new LRUCache<string, string>({ max: maxEntries, maxSize: maxBytes, sizeCalculation: (query) => Math.max(1, query.length) });
  return {
    onParams({ params, setParams }) {
      const persisted = params.extensions?.persistedQuery as { version?: unknown; sha256Hash?: unknown } | undefined;
      if (persisted === undefined) return;
      const hash = persisted?.sha256Hash;
      if (persisted?.version !== 1 || typeof hash !== 'string' || !SHA256.test(hash)) {
        throw badUserInput('extensions.persistedQuery must be { version: 1, sha256Hash: "<64 lowercase hex digits>" }.');
      }
      if (params.query == null) {
        const query = store.get(hash);
        // Apollo's and urql's links look for this exact message or the code, then retry with the query.
        if (query === undefined) throw new GatewayError('PersistedQueryNotFound', { code: 'PERSISTED_QUERY_NOT_FOUND', retryable: true });
        setParams({ ...params, query });
        return;
      }
      if (createHash('sha256').update(params.query).digest('hex') !== hash) {
        throw badUserInput('extensions.persistedQuery.sha256Hash is not the SHA-256 of the query.');
      }
      store.set(hash, params.query);
    },
  };
}
