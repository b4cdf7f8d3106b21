import { isObjectType, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { CACHEABLE_COORDINATES, isCacheableOperation } from '../../src/plugins/response-cache-policy.js';
import { MemoryResponseCache } from '../../src/plugins/response-cache-store.js';
import { matchesEtag } from '../../src/plugins/use-response-cache.js';
import { buildSchema } from '../../src/schema.js';

const schema = buildSchema();
const cacheable = (query: string, operationName?: string) => isCacheableOperation(schema, parse(query), operationName);

/** The FineTuneJob fields left out of the cache on purpose (see response-cache-policy.ts for why). */
const VOLATILE_JOB_FIELDS = ['checkpoints', 'logs', 'validationResults', 'deployments', 'trainingFiles'];

describe('the response cache policy', () => {
  it('names only coordinates of the schema', () => {
    for (const coordinate of CACHEABLE_COORDINATES) {
      const [typeName, field] = coordinate.split('.') as [string, string];
      const type = schema.getType(typeName);
      expect(isObjectType(type) && type.getFields()[field], coordinate).toBeTruthy();
    }
  });

  it('has decided about every FineTuneJob field: a new one fails here until it is classified', () => {
    const type = schema.getType('FineTuneJob');
    if (!isObjectType(type)) throw new Error('FineTuneJob is not an object type');
    const undecided = Object.keys(type.getFields()).filter(
      (field) => !CACHEABLE_COORDINATES.has(`FineTuneJob.${field}`) && !VOLATILE_JOB_FIELDS.includes(field),
    );
    expect(undecided).toEqual([]);
    for (const field of VOLATILE_JOB_FIELDS) expect(CACHEABLE_COORDINATES.has(`FineTuneJob.${field}`)).toBe(false);
  });

  it('accepts queries of listed fields, through aliases, fragments, inline fragments and __typename', () => {
    expect(cacheable('{ fineTuneJob(id: "a") { id status costEstimate { amount } hyperParameters { raw } } }')).toBe(true);
    expect(cacheable('{ j: fineTuneJob(id: "a") { s: status __typename } }')).toBe(true);
    expect(
      cacheable('query Q { fineTuneJobsByIds(ids: ["a"]) { ...J } } fragment J on FineTuneJob { ... on FineTuneJob { failure { code } } }'),
    ).toBe(true);
    expect(cacheable('query A { fineTuneJob(id: "a") { id } } mutation B { deleteFineTuneJob(id: "a") { id } }', 'A')).toBe(true);
  });

  it('refuses any other field, wherever it hides, and anything but a query', () => {
    expect(cacheable('{ fineTuneJob(id: "a") { status: logs { total } } }')).toBe(false);
    expect(cacheable('{ fineTuneJob(id: "a") { ...J } } fragment J on FineTuneJob { checkpoints { id } }')).toBe(false);
    expect(cacheable('{ fineTuneJob(id: "a") { ... on FineTuneJob { deployments { id } } } }')).toBe(false);
    expect(cacheable('{ fineTuneJobs { items { id } } }')).toBe(false);
    expect(cacheable('{ __schema { types { name } } }')).toBe(false);
    expect(cacheable('{ __type(name: "Query") { name } }')).toBe(false);
    expect(cacheable('mutation { deleteFineTuneJob(id: "a") { id } }')).toBe(false);
    expect(cacheable('subscription { fineTuneJobUpdated(id: "a") { id } }')).toBe(false);
    // Which operation runs is the request's: none named among several, or a name that is not there.
    expect(cacheable('query A { fineTuneJob(id: "a") { id } } query B { fineTuneJob(id: "b") { id } }')).toBe(false);
    expect(cacheable('query A { fineTuneJob(id: "a") { id } }', 'B')).toBe(false);
    expect(cacheable('query A { fineTuneJob(id: "a") { id } } mutation B { deleteFineTuneJob(id: "a") { id } }', 'B')).toBe(false);
  });
});

describe('If-None-Match', () => {
  it('matches weakly, in a list, or *', () => {
    expect(matchesEtag('W/"abc"', 'W/"abc"')).toBe(true);
    expect(matchesEtag('"abc"', 'W/"abc"')).toBe(true);
    expect(matchesEtag('"x", W/"abc"', 'W/"abc"')).toBe(true);
    expect(matchesEtag('*', 'W/"abc"')).toBe(true);
    expect(matchesEtag('W/"abd"', 'W/"abc"')).toBe(false);
    expect(matchesEtag(null, 'W/"abc"')).toBe(false);
  });
});

describe('MemoryResponseCache', () => {
  const answer = (id: string, padding = '') => ({ data: { fineTuneJob: { id, padding } } });
  const job = (id: string) => [{ typename: 'FineTuneJob', id }, { typename: 'Query' }];

  it('drops every answer holding an invalidated job, and only those', () => {
    const cache = new MemoryResponseCache({ maxEntries: 10, maxBytes: 1_000_000 });
    cache.set('k1', answer('a'), job('a'), 60_000);
    cache.set('k2', answer('a'), job('a'), 60_000);
    cache.set('k3', answer('b'), job('b'), 60_000);
    cache.invalidate([{ typename: 'FineTuneJob', id: 'a' }]);
    expect([cache.get('k1'), cache.get('k2')]).toEqual([null, null]);
    expect(cache.get('k3')).toEqual(answer('b'));
    expect(cache.size).toBe(1);
  });

  it('is bounded in entries and in bytes, least recently used first out', () => {
    const byCount = new MemoryResponseCache({ maxEntries: 2, maxBytes: 1_000_000 });
    for (const key of ['k1', 'k2', 'k3']) byCount.set(key, answer(key), job(key), 60_000);
    expect([byCount.get('k1'), byCount.size]).toEqual([null, 2]);

    const byBytes = new MemoryResponseCache({ maxEntries: 100, maxBytes: 1_000 });
    byBytes.set('big', answer('a', 'x'.repeat(400)), job('a'), 60_000);
    byBytes.set('big2', answer('b', 'x'.repeat(400)), job('b'), 60_000);
    expect(byBytes.get('big')).toBeNull();
    expect(byBytes.get('big2')).not.toBeNull();
    byBytes.set('huge', answer('c', 'x'.repeat(600)), job('c'), 60_000);
    expect(byBytes.get('huge')).toBeNull();
    // An evicted answer's index went with it: invalidating its job later touches nothing.
    byBytes.invalidate([{ typename: 'FineTuneJob', id: 'a' }]);
    expect(byBytes.get('big2')).not.toBeNull();
  });

  it('hands out copies whose extensions can be added to without touching the kept answer', () => {
    const cache = new MemoryResponseCache({ maxEntries: 10, maxBytes: 1_000_000 });
    cache.set('k', { ...answer('a'), extensions: { http: { headers: { ETag: 'W/"x"' } } } }, job('a'), 60_000);
    const served = cache.get('k')!;
    (served.extensions as Record<string, unknown>).added = true;
    expect(cache.get('k')!.extensions).not.toHaveProperty('added');
  });
});
