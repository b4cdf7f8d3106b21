import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { FineTuneJobRecordModel, parseStored } from '../../src/shared-state/records.js';
import { redisLocation } from '../../src/shared-state/redis.js';
import { JobModel, toJobRecord } from '../../src/upstream/dashscope/models.js';
import { LocalBuckets, reserveToken } from '../../src/upstream/rate-limit.js';

/* The pure parts of the shared state: the bucket arithmetic, the strict models of what Redis gives back, the config. */

describe('the token bucket', () => {
  const options = { ratePerSecond: 5, burst: 5, maxWaitMs: 1_000 };

  it('grants the burst at once, then makes each request wait for its token, and refuses past the longest wait', () => {
    let state: Parameters<typeof reserveToken>[0];
    const waits: Array<number | string> = [];
    for (let i = 0; i < 12; i++) {
      const result = reserveToken(state, 0, options);
      state = result.state;
      waits.push(result.reservation.granted ? result.reservation.waitMs : `refused ${result.reservation.retryAfterMs}`);
    }
    // 5 at once; then one every 200 ms, up to 1 s of waiting; then refused, told when a token would fit.
    expect(waits).toEqual([0, 0, 0, 0, 0, 200, 400, 600, 800, 1000, 'refused 200', 'refused 200']);
  });

  it('refills at the rate, never past the burst', () => {
    let state = reserveToken(undefined, 0, options).state;
    for (let i = 0; i < 4; i++) state = reserveToken(state, 0, options).state;
    expect(state).toEqual({ tokens: 0, at: 0 });
    expect(reserveToken(state, 400, options).state).toEqual({ tokens: 1, at: 400 });
    expect(reserveToken(state, 60_000, options).state).toEqual({ tokens: 4, at: 60_000 });
  });

  it('keeps one bucket per credential in this process', async () => {
    const buckets = new LocalBuckets(() => 0);
    const one = { ...options, burst: 1 };
    expect(await buckets.reserve('a', one)).toEqual({ granted: true, waitMs: 0 });
    expect(await buckets.reserve('a', one)).toEqual({ granted: true, waitMs: 200 });
    expect(await buckets.reserve('b', one)).toEqual({ granted: true, waitMs: 0 });
  });
});

describe('a job read back from Redis', () => {
  const job = toJobRecord(
    JobModel.parse({ job_id: 'ft-1', status: 'SUCCEEDED', model: 'qwen3-8b', hyper_parameters: { n_epochs: 3 }, usage: 10 }),
    480,
  );

  it('is the same record the gateway stored', () => {
    expect(parseStored(FineTuneJobRecordModel, JSON.stringify(job))).toEqual(job);
  });

  it.each([
    ['not JSON', 'garbage'],
    ['JSON of another shape', '[1, 2]'],
    ['a field the gateway never writes', JSON.stringify({ ...job, injected: '<script>' })],
    ['a field of the wrong type', JSON.stringify({ ...job, usageTokens: '10' })],
    ['a status the gateway does not know', JSON.stringify({ ...job, status: 'PWNED' })],
    ['a missing field', JSON.stringify({ ...job, isTerminal: undefined })],
  ])('is absent when it is %s', (_name, raw) => {
    expect(parseStored(FineTuneJobRecordModel, raw)).toBeUndefined();
  });
});

describe('the Redis configuration', () => {
  it('is off without REDIS_URL, and bounded by default with it', () => {
    expect(loadConfig({}).redis).toBeUndefined();
    expect(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }).redis).toEqual({
      url: 'redis://127.0.0.1:6379',
      keyPrefix: 'ftgw:',
      commandTimeoutMs: 500,
      connectTimeoutMs: 2_000,
    });
  });

  it('never echoes a REDIS_URL it refuses (it may hold a password), and names where Redis is without it', () => {
    const error = (() => {
      try {
        loadConfig({ REDIS_URL: 'http://user:s3cret@redis.internal:6379' });
      } catch (caught) {
        return caught as ConfigError;
      }
      throw new Error('accepted');
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain('REDIS_URL');
    expect(error.message).not.toContain('s3cret');
    expect(redisLocation('rediss://user:s3cret@redis.internal:6380/2')).toBe('rediss://redis.internal:6380/2');
  });

  it('takes the upstream rate with a burst of one second by default, and refuses a burst without a rate', () => {
    expect(loadConfig({ UPSTREAM_RATE_PER_SECOND: '2.5' }).upstream.rateLimit).toEqual({ ratePerSecond: 2.5, burst: 3, maxWaitMs: 2_000 });
    expect(loadConfig({}).upstream.rateLimit).toBeUndefined();
    expect(() => loadConfig({ UPSTREAM_BURST: '10' })).toThrow(/UPSTREAM_BURST: only with UPSTREAM_RATE_PER_SECOND/);
  });
});
