import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors/index.js';
import { IdempotencyStore } from '../../src/modules/fine-tune-job/idempotency.js';

function counter() {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    create: () => Promise.resolve({ id: `job-${++calls}` }),
  };
}

describe('IdempotencyStore', () => {
  it('runs a create once per scope and key, for concurrent and later duplicates alike', async () => {
    const store = new IdempotencyStore<{ id: string }>();
    const upstream = counter();
    const results = await Promise.all([1, 2, 3].map(() => store.run('scope', 'key', { a: 1 }, upstream.create)));
    expect(await store.run('scope', 'key', { a: 1 }, upstream.create)).toEqual({ id: 'job-1' });
    expect(results).toEqual([{ id: 'job-1' }, { id: 'job-1' }, { id: 'job-1' }]);
    expect(upstream.calls).toBe(1);
  });

  it('keeps scopes and keys apart', async () => {
    const store = new IdempotencyStore<{ id: string }>();
    const upstream = counter();
    await store.run('scope-a', 'key', {}, upstream.create);
    await store.run('scope-b', 'key', {}, upstream.create);
    await store.run('scope-a', 'other', {}, upstream.create);
    expect(upstream.calls).toBe(3);
  });

  it('answers CONFLICT for the same key with another input, whatever the order of object keys', async () => {
    const store = new IdempotencyStore<{ id: string }>();
    const upstream = counter();
    await store.run('s', 'k', { a: 1, b: { c: [1, 2] } }, upstream.create);
    await store.run('s', 'k', { b: { c: [1, 2] }, a: 1 }, upstream.create);
    expect(() => store.run('s', 'k', { a: 2, b: { c: [1, 2] } }, upstream.create)).toThrow(GatewayError);
    try {
      void store.run('s', 'k', { a: 1, b: { c: [2, 1] } }, upstream.create);
      expect.unreachable();
    } catch (error) {
      expect((error as GatewayError).extensions.code).toBe('CONFLICT');
    }
    expect(upstream.calls).toBe(1);
  });

  it('forgets a failed create', async () => {
    const store = new IdempotencyStore<{ id: string }>();
    await expect(store.run('s', 'k', {}, () => Promise.reject(new Error('upstream down')))).rejects.toThrow('upstream down');
    expect(await store.run('s', 'k', {}, () => Promise.resolve({ id: 'job-2' }))).toEqual({ id: 'job-2' });
  });

  it('forgets a key after its time to live', async () => {
    let now = 1_000_000;
    const store = new IdempotencyStore<{ id: string }>({ ttlMs: 600_000, now: () => now });
    const upstream = counter();
    await store.run('s', 'k', {}, upstream.create);
    now += 599_000;
    await store.run('s', 'k', {}, upstream.create);
    now += 2_000;
    expect(await store.run('s', 'k', { other: true }, upstream.create)).toEqual({ id: 'job-2' });
  });

  it('holds a bounded number of keys', async () => {
    const store = new IdempotencyStore<{ id: string }>({ maxEntries: 2 });
    const upstream = counter();
    for (const key of ['a', 'b', 'c']) await store.run('s', key, {}, upstream.create);
    await store.run('s', 'a', {}, upstream.create);
    expect(upstream.calls).toBe(4);
  });

  it("bounds keys per caller scope: one caller's keys push out its own oldest, never another caller's", async () => {
    const store = new IdempotencyStore<{ id: string }>({ maxEntries: 10, maxEntriesPerScope: 2 });
    const upstream = counter();
    await store.run('victim', 'k', {}, upstream.create);
    for (const key of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l']) await store.run('flooder', key, {}, upstream.create);
    expect(upstream.calls).toBe(13);
    // The victim's key is still known (no new create); the flooder's first keys are not.
    expect(await store.run('victim', 'k', {}, upstream.create)).toEqual({ id: 'job-1' });
    await store.run('flooder', 'a', {}, upstream.create);
    expect(upstream.calls).toBe(14);
  });
});
