import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors/index.js';
import { IdempotencyStore } from '../../src/modules/fine-tune-job/idempotency.js';
import {
  CLOCK_SKEW_MS,
  compareWithCreate,
  SEARCH_MAX_PAGES,
  SEARCH_PAGE_SIZE,
  findCreatedJob,
  idempotencyMarker,
  matchesCreate,
  type CreatedJobQuery,
} from '../../src/modules/fine-tune-job/reconcile.js';
import {
  UpstreamError,
  mayHaveTakenEffect,
  mayStillBeProcessed,
  type FineTuneJobRecord,
  type UpstreamFailure,
} from '../../src/upstream/dashscope/index.js';

const SINCE = Date.parse('2026-05-27T10:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

function job(id: string, name: string, createdMs: number | null, overrides: Partial<FineTuneJobRecord> = {}): FineTuneJobRecord {
  return {
    id,
    name,
    model: 'qwen3-8b',
    trainingFileIds: ['file-1'],
    createdAt: createdMs === null ? null : iso(createdMs),
    validationFileIds: [],
    trainingType: 'sft',
    hyperParameters: { raw: {} },
    modelName: null,
    fineTunedModel: null,
    trainingDatasets: null,
    validationDatasets: null,
    reinforcement: {},
    ...overrides,
  } as FineTuneJobRecord;
}

const hp = (raw: Record<string, unknown>) => ({ hyperParameters: { raw } }) as unknown as Partial<FineTuneJobRecord>;

const marked: CreatedJobQuery = { name: 'gw-idem-abc', marked: true, model: 'qwen3-8b', trainingFileIds: ['file-1'], since: SINCE };
const named: CreatedJobQuery = { ...marked, name: 'my-run', marked: false };

/** Pages of `jobs` (newest first), recording which pages were read. */
function pages(jobs: FineTuneJobRecord[], invalidJobs = 0) {
  const read: number[] = [];
  const list = (page: number, pageSize: number) => {
    read.push(page);
    const slice = jobs.slice((page - 1) * pageSize, page * pageSize);
    return Promise.resolve({ total: jobs.length, jobs: slice, invalidJobs: page === 1 ? invalidJobs : 0 });
  };
  return { list, read };
}

async function refusal(promise: Promise<unknown>): Promise<GatewayError> {
  const error = await promise.then(
    () => expect.unreachable('expected a refusal'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GatewayError);
  expect((error as GatewayError).extensions).toMatchObject({ code: 'CONFLICT', retryable: false, jobMayExist: true });
  return error as GatewayError;
}

describe('idempotencyMarker', () => {
  it('is stable for one intent, different for another scope, key or input, and reveals none of them', () => {
    const marker = idempotencyMarker('scope', 'key', 'input');
    expect(marker).toMatch(/^gw-idem-[0-9a-f]{32}$/);
    expect(idempotencyMarker('scope', 'key', 'input')).toBe(marker);
    expect(new Set([marker, idempotencyMarker('other', 'key', 'input'), idempotencyMarker('scope', 'k', 'input')]).size).toBe(3);
    expect(idempotencyMarker('scope', 'key', 'other input')).not.toBe(marker);
    expect(idempotencyMarker('scope\u0000key', '', 'input')).not.toBe(idempotencyMarker('scope', 'key', 'input'));
  });
});

describe('matchesCreate', () => {
  it('a marked create: the marker and the model, whatever the age', () => {
    expect(matchesCreate(job('a', 'gw-idem-abc', SINCE - 3_600_000), marked)).toBe(true);
    expect(matchesCreate(job('a', 'gw-idem-abd', SINCE), marked)).toBe(false);
    expect(matchesCreate(job('a', 'gw-idem-abc', SINCE, { model: 'qwen3-14b' }), marked)).toBe(false);
  });

  it('a caller-named create: name, model, the same files in order, created since the attempt less the clock skew', () => {
    expect(matchesCreate(job('a', 'my-run', SINCE + 1_000), named)).toBe(true);
    expect(matchesCreate(job('a', 'my-run', SINCE - CLOCK_SKEW_MS), named)).toBe(true);
    expect(matchesCreate(job('a', 'my-run', SINCE - CLOCK_SKEW_MS - 1_000), named)).toBe(false);
    expect(matchesCreate(job('a', 'my-run', SINCE, { trainingFileIds: ['file-2'] }), named)).toBe(false);
    expect(matchesCreate(job('a', 'my-run', SINCE, { trainingFileIds: ['file-1', 'file-2'] }), named)).toBe(false);
    // Unknown age counts as a candidate: it can only make the search refuse.
    expect(matchesCreate(job('a', 'my-run', null), named)).toBe(true);
  });
});

describe('compareWithCreate: a caller-named create against what DashScope echoes', () => {
  const sent: CreatedJobQuery = { ...named, hyperParameters: { n_epochs: 3, learning_rate: 1.6e-5 } };

  it('matches the same hyper-parameters, numbers by value however DashScope re-serialised them', () => {
    expect(compareWithCreate(job('a', 'my-run', SINCE, hp({ n_epochs: 3, learning_rate: 1.6e-5 })), sent)).toBe('yes');
    expect(compareWithCreate(job('a', 'my-run', SINCE, hp({ n_epochs: '3', learning_rate: '0.000016' })), sent)).toBe('yes');
    expect(compareWithCreate(job('a', 'my-run', SINCE, hp({ n_epochs: 3, learning_rate: '2.0E-5' })), sent)).toBe('no');
  });

  it("is another intent's job when a sent value is echoed differently", () => {
    expect(compareWithCreate(job('a', 'my-run', SINCE, hp({ n_epochs: 5, learning_rate: 1.6e-5 })), sent)).toBe('no');
    expect(compareWithCreate(job('a', 'my-run', SINCE, { trainingType: 'efficient_sft' }), { ...named, trainingType: 'sft' })).toBe('no');
    expect(compareWithCreate(job('a', 'my-run', SINCE, { validationFileIds: ['v-2'] }), { ...named, validationFileIds: ['v-1'] })).toBe(
      'no',
    );
    expect(compareWithCreate(job('a', 'my-run', SINCE, { validationFileIds: ['v-1'] }), named)).toBe('maybe');
    expect(compareWithCreate(job('a', 'my-run', SINCE, { modelName: 'theirs' }), { ...named, modelName: 'mine' })).toBe('no');
    expect(
      compareWithCreate(job('a', 'my-run', SINCE, { fineTunedModel: 'qwen3-8b-ft-x-theirs' }), { ...named, outputSuffix: 'mine' }),
    ).toBe('no');
  });

  it('cannot tell when the echo lacks what was sent, or shows a parameter that was not', () => {
    expect(compareWithCreate(job('a', 'my-run', SINCE, hp({ n_epochs: 3 })), sent)).toBe('maybe');
    expect(compareWithCreate(job('a', 'my-run', SINCE, hp({ n_epochs: 3, learning_rate: 1.6e-5, batch_size: 16 })), sent)).toBe('maybe');
    expect(compareWithCreate(job('a', 'my-run', SINCE), { ...named, outputSuffix: 'mine' })).toBe('maybe');
    expect(compareWithCreate(job('a', 'my-run', SINCE), { ...named, modelName: 'mine' })).toBe('maybe');
    expect(compareWithCreate(job('a', 'my-run', SINCE, { trainingType: 'efficient_sft' }), named)).toBe('maybe');
  });
});

describe('findCreatedJob', () => {
  it('returns the marked job, stopping at the page that holds it', async () => {
    const jobs = [
      ...Array.from({ length: SEARCH_PAGE_SIZE }, (_, i) => job(`n${i}`, `other-${i}`, SINCE + 5_000)),
      job('mine', 'gw-idem-abc', SINCE + 1_000),
    ];
    const { list, read } = pages(jobs);
    expect((await findCreatedJob(list, marked))?.id).toBe('mine');
    expect(read).toEqual([1, 2]);
  });

  it('finds none when the list ends, or reaches jobs older than the attempt, without the marker', async () => {
    expect(await findCreatedJob(pages([job('x', 'other', SINCE)]).list, marked)).toBeUndefined();
    const older = Array.from({ length: SEARCH_PAGE_SIZE * 3 }, (_, i) => job(`o${i}`, 'other', SINCE - CLOCK_SKEW_MS - 1_000 - i));
    const { list, read } = pages(older);
    expect(await findCreatedJob(list, marked)).toBeUndefined();
    expect(read).toEqual([1]);
  });

  it('refuses when more recent jobs exist than it reads', async () => {
    const recent = Array.from({ length: SEARCH_PAGE_SIZE * (SEARCH_MAX_PAGES + 1) }, (_, i) => job(`r${i}`, 'other', SINCE + 1_000));
    const { list, read } = pages(recent);
    expect((await refusal(findCreatedJob(list, marked))).message).toContain('could not check');
    expect(read).toHaveLength(SEARCH_MAX_PAGES);
  });

  it('refuses when a list element could not be read and no job matched', async () => {
    expect((await refusal(findCreatedJob(pages([job('x', 'other', SINCE)], 1).list, marked))).message).toContain('could not read');
  });

  it('a caller-named create: one match is the job, none is none, several refuse', async () => {
    expect((await findCreatedJob(pages([job('x', 'other', SINCE), job('mine', 'my-run', SINCE + 1)]).list, named))?.id).toBe('mine');
    expect(await findCreatedJob(pages([job('old', 'my-run', SINCE - CLOCK_SKEW_MS - 1)]).list, named)).toBeUndefined();
    const two = [job('a', 'my-run', SINCE + 2), job('b', 'my-run', SINCE + 1)];
    expect((await refusal(findCreatedJob(pages(two).list, named))).message).toContain('2 jobs named "my-run" match this create (a, b)');
  });

  it('a caller-named create: a job that cannot be confirmed as this one refuses, and so does any match for an unknown key', async () => {
    const unconfirmed = [job('x', 'my-run', SINCE + 1, hp({ n_epochs: 3 }))];
    expect((await refusal(findCreatedJob(pages(unconfirmed).list, named))).message).toContain('cannot tell whether it is');
    const exact = [job('x', 'my-run', SINCE + 1)];
    expect((await findCreatedJob(pages(exact).list, named))?.id).toBe('x');
    expect((await refusal(findCreatedJob(pages(exact).list, { ...named, unknownKey: true }))).message).toContain(
      'has no record of the key',
    );
    // A marked create is this intent's whatever process made it.
    expect((await findCreatedJob(pages([job('m', 'gw-idem-abc', SINCE)]).list, { ...marked, unknownKey: true }))?.id).toBe('m');
  });
});

describe('mayHaveTakenEffect', () => {
  const f = (failure: Partial<UpstreamFailure>): UpstreamFailure => ({
    subject: 'a job',
    action: 'creating',
    kind: 'unavailable',
    ...failure,
  });
  it.each<[string, Partial<UpstreamFailure>, boolean]>([
    ['a headers timeout', { kind: 'timeout', detail: 'UND_ERR_HEADERS_TIMEOUT' }, true],
    ['a body timeout', { kind: 'timeout', detail: 'UND_ERR_BODY_TIMEOUT' }, true],
    ['a connect timeout', { kind: 'timeout', detail: 'UND_ERR_CONNECT_TIMEOUT' }, false],
    ['a reset', { kind: 'unavailable', detail: 'ECONNRESET' }, true],
    ['a socket closed by the other side', { kind: 'unavailable', detail: 'UND_ERR_SOCKET' }, true],
    ['the pool destroyed at shutdown', { kind: 'unavailable', detail: 'UND_ERR_DESTROYED' }, true],
    ['a refused connection', { kind: 'unavailable', detail: 'ECONNREFUSED' }, false],
    ['an unknown host', { kind: 'unavailable', detail: 'ENOTFOUND' }, false],
    ['a call shed by the breaker', { kind: 'unavailable', detail: 'the circuit breaker is open', shed: true }, false],
    ['an unreadable 2xx', { kind: 'bad-response' }, true],
    ['a refused request', { kind: 'invalid-request' }, false],
    ['a 400', { kind: 'http', httpStatus: 400, code: 'InvalidParameter' }, false],
    ['a 429', { kind: 'http', httpStatus: 429, code: 'Throttling' }, false],
    // A server fault may come after the job was stored: only a 4xx proves nothing was created.
    ['a DashScope 500', { kind: 'http', httpStatus: 500, code: 'InternalError' }, true],
    ['a DashScope 503', { kind: 'http', httpStatus: 503, code: 'ServiceUnavailable' }, true],
    ['a 408 RequestTimeOut', { kind: 'http', httpStatus: 408, code: 'RequestTimeOut' }, true],
    ['a 409', { kind: 'http', httpStatus: 409, code: 'Conflict' }, false],
    ['a proxy 502 page', { kind: 'http', httpStatus: 502 }, true],
    ['a 504', { kind: 'http', httpStatus: 504, code: 'GatewayTimeout' }, true],
  ])('%s: %s', (_name, failure, expected) => {
    expect(mayHaveTakenEffect(f(failure))).toBe(expected);
  });
});

describe('mayStillBeProcessed', () => {
  const f = (failure: Partial<UpstreamFailure>): UpstreamFailure => ({
    subject: 'a job',
    action: 'creating',
    kind: 'unavailable',
    ...failure,
  });
  it.each<[string, Partial<UpstreamFailure>, boolean]>([
    ['a headers timeout', { kind: 'timeout', detail: 'UND_ERR_HEADERS_TIMEOUT' }, true],
    ['a reset', { kind: 'unavailable', detail: 'ECONNRESET' }, true],
    ['a refused connection', { kind: 'unavailable', detail: 'ECONNREFUSED' }, false],
    ['a 504', { kind: 'http', httpStatus: 504 }, true],
    ['a 408', { kind: 'http', httpStatus: 408, code: 'RequestTimeOut' }, true],
    ['a DashScope 500 (it answered: it is done)', { kind: 'http', httpStatus: 500, code: 'InternalError' }, false],
    ['an unreadable 2xx', { kind: 'bad-response' }, false],
    ['a 400', { kind: 'http', httpStatus: 400 }, false],
  ])('%s: %s', (_name, failure, expected) => {
    expect(mayStillBeProcessed(f(failure))).toBe(expected);
  });
});

describe('IdempotencyStore after an ambiguous failure', () => {
  const ambiguous = () => new UpstreamError({ kind: 'unavailable', detail: 'ECONNRESET', subject: 'a job', action: 'creating' });
  const mayHaveCreated = (error: unknown) => error instanceof UpstreamError && mayHaveTakenEffect(error.failure);

  it('remembers it: the next attempt is told since when, and so is every one after until one succeeds', async () => {
    const store = new IdempotencyStore<{ id: string }>();
    const attempts: Array<number | undefined> = [];
    const before = Date.now();
    await expect(
      store.run('s', 'k', {}, (a) => (attempts.push(a.ambiguousSince), Promise.reject(ambiguous())), { mayHaveCreated }),
    ).rejects.toThrow();
    // The look-up failing (even plainly) keeps the key ambiguous.
    await expect(
      store.run('s', 'k', {}, (a) => (attempts.push(a.ambiguousSince), Promise.reject(new Error('list failed'))), { mayHaveCreated }),
    ).rejects.toThrow('list failed');
    const result = await store.run('s', 'k', {}, (a) => (attempts.push(a.ambiguousSince), Promise.resolve({ id: 'found' })), {
      mayHaveCreated,
    });
    expect(result).toEqual({ id: 'found' });
    expect(attempts[0]).toBeUndefined();
    expect(attempts[1]).toBeGreaterThanOrEqual(before);
    expect(attempts[2]).toBe(attempts[1]);
    // Then the job is served from memory.
    expect(await store.run('s', 'k', {}, () => Promise.reject(new Error('not called')), { mayHaveCreated })).toEqual({ id: 'found' });
  });

  it('forgets a failure that cannot have created, and answers CONFLICT for another input after an ambiguous one', async () => {
    const store = new IdempotencyStore<{ id: string }>();
    await expect(store.run('s', 'plain', {}, () => Promise.reject(new Error('refused')), { mayHaveCreated })).rejects.toThrow();
    let told: number | undefined = 0;
    await store.run('s', 'plain', {}, (a) => ((told = a.ambiguousSince), Promise.resolve({ id: 'x' })), { mayHaveCreated });
    expect(told).toBeUndefined();

    await expect(store.run('s', 'k', { a: 1 }, () => Promise.reject(ambiguous()), { mayHaveCreated })).rejects.toThrow();
    expect(() => store.run('s', 'k', { a: 2 }, () => Promise.resolve({ id: 'y' }), { mayHaveCreated })).toThrow(GatewayError);
  });
});

describe('IdempotencyStore: the settling window after an unanswered attempt', () => {
  const unanswered = () => new UpstreamError({ kind: 'timeout', detail: 'UND_ERR_HEADERS_TIMEOUT', subject: 'a job', action: 'creating' });
  const answered = () => new UpstreamError({ kind: 'http', httpStatus: 500, code: 'InternalError', subject: 'a job', action: 'creating' });
  const classes = {
    mayHaveCreated: (e: unknown) => e instanceof UpstreamError && mayHaveTakenEffect(e.failure),
    mayStillBeProcessed: (e: unknown) => e instanceof UpstreamError && mayStillBeProcessed(e.failure),
  };

  it('refuses a retry until the window has passed (retryable, with retryAfterSeconds, creating nothing), then lets it search', async () => {
    let now = 1_000_000;
    const store = new IdempotencyStore<{ id: string }>({ settleMs: 20_000, now: () => now });
    await expect(store.run('s', 'k', {}, () => Promise.reject(unanswered()), classes)).rejects.toThrow();
    now += 5_500;
    let calls = 0;
    const attempt = (a: { ambiguousSince?: number }) => (calls++, Promise.resolve({ id: `found-${a.ambiguousSince !== undefined}` }));
    let refused: unknown;
    try {
      void store.run('s', 'k', {}, attempt, classes);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(GatewayError);
    expect((refused as GatewayError).extensions).toMatchObject({
      code: 'CONFLICT',
      retryable: true,
      jobMayExist: true,
      retryAfterSeconds: 15,
    });
    expect(calls).toBe(0);
    now += 14_500;
    expect(await store.run('s', 'k', {}, attempt, classes)).toEqual({ id: 'found-true' });
  });

  it('does not hold back a retry after an answered failure (DashScope is done with it), nor with a window of 0', async () => {
    const store = new IdempotencyStore<{ id: string }>({ settleMs: 20_000 });
    await expect(store.run('s', 'k', {}, () => Promise.reject(answered()), classes)).rejects.toThrow();
    expect(await store.run('s', 'k', {}, () => Promise.resolve({ id: 'x' }), classes)).toEqual({ id: 'x' });
    const none = new IdempotencyStore<{ id: string }>({ settleMs: 0 });
    await expect(none.run('s', 'k', {}, () => Promise.reject(unanswered()), classes)).rejects.toThrow();
    expect(await none.run('s', 'k', {}, () => Promise.resolve({ id: 'y' }), classes)).toEqual({ id: 'y' });
  });
});

describe('compareWithCreate: datasets and reinforcement fields', () => {
  const oss = { data_source_type: 'oss_mount', mount_storage: { region: 'cn-beijing', bucket: 'b-1', file_path: 'a.jsonl' } };
  const echoed = (raw: Record<string, unknown>[]) =>
    raw.map((r) => ({ sourceType: null, fileId: null, ossMount: null, raw: r })) as FineTuneJobRecord['trainingDatasets'];
  const at = SINCE + 1000;
  const query: CreatedJobQuery = { ...named, trainingFileIds: undefined, trainingDatasets: [oss], rollout: { n: 8 } };
  const withData = (datasets: Record<string, unknown>[] | null, reinforcement: FineTuneJobRecord['reinforcement']) =>
    job('ft-1', 'my-run', at, { trainingFileIds: [], trainingDatasets: datasets && echoed(datasets), reinforcement });

  it('is the job when the datasets and rollout come back as sent', () => {
    expect(compareWithCreate(withData([oss], { rollout: { n: 8 } }), query)).toBe('yes');
  });
  it("is another intent's job when a dataset or the rollout differs", () => {
    const other = { ...oss, mount_storage: { ...oss.mount_storage, file_path: 'b.jsonl' } };
    expect(compareWithCreate(withData([other], { rollout: { n: 8 } }), query)).toBe('no');
    expect(compareWithCreate(withData([oss, oss], { rollout: { n: 8 } }), query)).toBe('no');
    expect(compareWithCreate(withData([oss], { rollout: { n: 4 } }), query)).toBe('no');
  });
  it('cannot tell when the echo lacks them, or adds to them', () => {
    expect(compareWithCreate(withData(null, { rollout: { n: 8 } }), query)).toBe('maybe');
    expect(compareWithCreate(withData([oss], {}), query)).toBe('maybe');
    expect(compareWithCreate(withData([{ ...oss, file_name: 'a.jsonl' }], { rollout: { n: 8 } }), query)).toBe('maybe');
    // Not sent, but echoed: maybe a default DashScope filled in.
    expect(compareWithCreate(withData([oss], { rollout: { n: 8 }, rewards: [1] }), query)).toBe('maybe');
  });
});
