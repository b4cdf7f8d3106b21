import type { Cache, CacheEntityRecord } from '@envelop/response-cache';
import type { ExecutionResult } from 'graphql';
import { LRUCache } from 'lru-cache';

/**
 * Where the response cache keeps answers: this in-memory LRU by default, any `Cache` of @envelop/response-cache
 * (Redis). A store shared by replicas also takes the generation each job of the answer was read under
 * (src/shared-state/job-cache.ts), and keeps the answer only while every one is current.
 */
export interface ResponseCacheStore extends Cache {
  set(
    id: string,
    data: ExecutionResult,
    entities: Iterable<CacheEntityRecord>,
    ttl: number,
    generations?: ReadonlyMap<string, string>,
  ): Promise<void> | void;
}

export interface MemoryResponseCacheOptions {
  maxEntries: number;
  /** Bound on the estimated size (UTF-16 length of each answer's JSON, times two). */
  maxBytes: number;
}

const entityKey = ({ typename, id }: CacheEntityRecord) => (id === undefined ? typename : `${typename}:${id}`);

/**
 * @envelop/response-cache's in-memory cache bounds entries only; this one also bounds bytes (an answer with a large
 * `hyperParameters.raw` weighs more than a line of ids). Same contract: answers indexed by the entities they hold
 * (`FineTuneJob:<id>`, and by bare typename), so that invalidating an entity drops every answer holding it.
 */
export class MemoryResponseCache implements ResponseCacheStore {
  private readonly answers: LRUCache<string, ExecutionResult>;
  private readonly byEntity = new Map<string, Set<string>>();
  private readonly entitiesOf = new Map<string, string[]>();

  constructor(options: MemoryResponseCacheOptions) {
    this.answers = new LRUCache<string, ExecutionResult>({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      sizeCalculation: (answer) => Math.max(1, JSON.stringify(answer).length * 2),
      // An expired answer is never served; it is dropped when read or pushed out by newer ones.
      ttlAutopurge: false,
      // Evicted, expired, replaced or deleted: its entity index goes with it.
      dispose: (_answer, key) => this.unindex(key),
    });
  }

  set(key: string, answer: ExecutionResult, entities: Iterable<CacheEntityRecord>, ttl: number): void {
    if (!Number.isFinite(ttl) || ttl <= 0) return;
    this.answers.set(key, answer, { ttl });
    // A too-large answer is refused by the LRU: nothing to index.
    if (!this.answers.has(key)) return;
    const ids = [...new Set([...entities].map(entityKey))];
    this.entitiesOf.set(key, ids);
    for (const id of ids) {
      let keys = this.byEntity.get(id);
      if (!keys) this.byEntity.set(id, (keys = new Set()));
      keys.add(key);
    }
  }

  get(key: string): ExecutionResult | null {
    const answer = this.answers.get(key);
    // A copy at the top: a plugin that adds to the answer's extensions on its way out does not change the cached one.
    return answer ? { ...answer, ...(answer.extensions && { extensions: { ...answer.extensions } }) } : null;
  }

  invalidate(entities: Iterable<CacheEntityRecord>): void {
    for (const entity of entities) {
      for (const key of [...(this.byEntity.get(entityKey(entity)) ?? [])]) this.answers.delete(key);
    }
  }

  /** Answers held now (for `/health` and metrics). */
  get size(): number {
    return this.answers.size;
  }

  private unindex(key: string): void {
    for (const id of this.entitiesOf.get(key) ?? []) {
      const keys = this.byEntity.get(id);
      keys?.delete(key);
      if (keys?.size === 0) this.byEntity.delete(id);
    }
    this.entitiesOf.delete(key);
  }
}
