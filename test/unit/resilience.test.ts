import { describe, expect, it } from 'vitest';
import { UpstreamError, type UpstreamFailure } from '../../src/upstream/dashscope/errors.js';
import { Resilience, isWorthRetrying, type GuardedCall, type ResilienceOptions } from '../../src/upstream/dashscope/resilience.js';
import { endOnAbort } from '../../src/plugins/use-subscription-shutdown.js';

const GET: GuardedCall = { idempotent: true, subject: 'fine-tune job "ft-1"', action: 'reading' };
const POST: GuardedCall = { idempotent: false, subject: 'fine-tune job "ft-1"', action: 'canceling' };

const failure = (extra: Partial<UpstreamFailure>) => new UpstreamError({ kind: 'http', subject: 's', action: 'reading', ...extra });
const http = (httpStatus: number, extra: Partial<UpstreamFailure> = {}) => failure({ kind: 'http', httpStatus, ...extra });

/** No back-off wait, a manual clock, and retries that never run out unless a test says so. */
function guard(options: Partial<ResilienceOptions> = {}) {
  const clock = { now: 1_000_000 };
  const resilience = new Resilience({
    retryBaseMs: 1,
    random: () => 0,
    retryBudgetMin: 1_000,
    breakerFailures: 1_000,
    now: () => clock.now,
    ...options,
  });
  return { resilience, clock };
}

/** A send that fails with each of `errors` in turn, then answers 'ok'; counts its calls. */
function upstream(...errors: Error[]) {
  const calls = { count: 0 };
  const send = () => {
    const error = errors[calls.count++];
    return error ? Promise.reject(error) : Promise.resolve('ok');
  };
  return { send, calls };
}

function deferred<T = string>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('what is retried', () => {
  it.each([
    ['429 Throttling', http(429, { code: 'Throttling' }), true],
    ['429 PrepaidBillOverdue', http(429, { code: 'PrepaidBillOverdue' }), false],
    [
      '429 Throttling, the per-user job quota',
      http(429, { code: 'Throttling', upstreamMessage: 'Only 20 fine-tune job in running or succeeded allowed per user.' }),
      false,
    ],
    ['500', http(500), true],
    ['503', http(503), true],
    ['400', http(400), false],
    ['401', http(401), false],
    ['404', http(404), false],
    ['409', http(409), false],
    ['connection reset', failure({ kind: 'unavailable', detail: 'ECONNRESET' }), true],
    ['connect timeout', failure({ kind: 'timeout', detail: 'UND_ERR_CONNECT_TIMEOUT' }), true],
    ['headers timeout', failure({ kind: 'timeout', detail: 'UND_ERR_HEADERS_TIMEOUT' }), false],
    ['bad response', failure({ kind: 'bad-response' }), false],
    ['breaker open', failure({ kind: 'unavailable', shed: true }), false],
  ])('%s → %s', (_name, error, retryable) => {
    expect(isWorthRetrying(error.failure)).toBe(retryable);
  });

  it('a GET that fails with 503 once is retried and succeeds', async () => {
    const { resilience } = guard();
    const { send, calls } = upstream(http(503));
    await expect(resilience.run(GET, send)).resolves.toBe('ok');
    expect(calls.count).toBe(2);
  });

  it('gives up after the configured retries, with the last error', async () => {
    const { resilience } = guard({ retries: 2 });
    const last = http(502);
    const { send, calls } = upstream(http(500), http(503), last, http(500));
    await expect(resilience.run(GET, send)).rejects.toBe(last);
    expect(calls.count).toBe(3);
  });

  it('a mutation is never retried', async () => {
    const { resilience } = guard();
    const { send, calls } = upstream(failure({ kind: 'unavailable', detail: 'ECONNRESET' }));
    await expect(resilience.run(POST, send)).rejects.toBeInstanceOf(UpstreamError);
    expect(calls.count).toBe(1);
  });

  it('a Retry-After beyond the cap fails at once, carrying it', async () => {
    const { resilience } = guard({ retryMaxAfterMs: 2_000 });
    const throttled = http(429, { code: 'Throttling', retryAfterSeconds: 30 });
    const { send, calls } = upstream(throttled);
    await expect(resilience.run(GET, send)).rejects.toBe(throttled);
    expect(calls.count).toBe(1);
  });
});

describe('retry budget', () => {
  it('under a sustained outage, retries add at most the budget ratio (plus the initial reserve) to the calls', async () => {
    const { resilience } = guard({ retries: 2, retryBudgetRatio: 0.1, retryBudgetMin: 1 });
    const requests = 50;
    let calls = 0;
    for (let i = 0; i < requests; i++) {
      await resilience
        .run(GET, () => {
          calls++;
          return Promise.reject(http(503));
        })
        .catch(() => {});
    }
    expect(calls).toBeGreaterThan(requests);
    expect(calls).toBeLessThanOrEqual(requests * 1.1 + 1);
  });
});

describe('circuit breaker', () => {
  async function openBreaker(threshold: number) {
    const g = guard({ retries: 0, breakerFailures: threshold, breakerOpenMs: 5_000 });
    for (let i = 0; i < threshold; i++) await g.resilience.run(GET, () => Promise.reject(http(503))).catch(() => {});
    return g;
  }

  it('opens after consecutive upstream faults, then fails at once without calling the upstream', async () => {
    const { resilience } = await openBreaker(3);
    expect(resilience.state().breaker).toBe('open');
    const { send, calls } = upstream();
    const error = await resilience.run(GET, send).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as UpstreamError).failure).toMatchObject({ kind: 'unavailable', shed: true, retryAfterSeconds: 5 });
    expect(calls.count).toBe(0);
  });

  it('answers that are not faults (4xx, 429) do not open it', async () => {
    const { resilience } = guard({ retries: 0, breakerFailures: 2 });
    for (const error of [http(404), http(429, { code: 'Throttling' }), http(400), http(401)]) {
      await resilience.run(GET, () => Promise.reject(error)).catch(() => {});
    }
    expect(resilience.state().breaker).toBe('closed');
  });

  it('after the open interval one probe goes; others still fail fast; its success closes the breaker', async () => {
    const { resilience, clock } = await openBreaker(3);
    clock.now += 5_000;
    expect(resilience.state().breaker).toBe('half-open');
    const probe = deferred();
    const probing = resilience.run(GET, () => probe.promise);
    const { send, calls } = upstream();
    await expect(resilience.run(GET, send)).rejects.toMatchObject({ failure: { shed: true } });
    expect(calls.count).toBe(0);
    probe.resolve('ok');
    await expect(probing).resolves.toBe('ok');
    expect(resilience.state().breaker).toBe('closed');
    await expect(resilience.run(GET, send)).resolves.toBe('ok');
  });

  it('a failed probe opens it again for another interval', async () => {
    const { resilience, clock } = await openBreaker(3);
    clock.now += 5_000;
    await resilience.run(GET, () => Promise.reject(http(500))).catch(() => {});
    expect(resilience.state().breaker).toBe('open');
    clock.now += 4_999;
    expect(resilience.state().breaker).toBe('open');
  });
});

describe('bulkhead', () => {
  it('at most maxConcurrent requests run; maxQueued wait; beyond that, calls fail at once', async () => {
    const { resilience } = guard({ maxConcurrent: 2, maxQueued: 1 });
    const pending = [deferred(), deferred(), deferred()];
    let running = 0;
    let peak = 0;
    const sendVia = (d: { promise: Promise<string> }) => () => {
      peak = Math.max(peak, ++running);
      return d.promise.finally(() => running--);
    };
    const runs = pending.map((d) => resilience.run(GET, sendVia(d)));
    expect(resilience.state()).toMatchObject({ active: 2, queued: 1 });
    await expect(resilience.run(GET, () => Promise.resolve('never sent'))).rejects.toMatchObject({ failure: { shed: true } });
    for (const d of pending) d.resolve('ok');
    await expect(Promise.all(runs)).resolves.toEqual(['ok', 'ok', 'ok']);
    expect(peak).toBe(2);
    expect(resilience.state()).toMatchObject({ active: 0, queued: 0 });
  });

  it('a queued call whose operation is aborted leaves the queue; a deadline is an UPSTREAM_TIMEOUT failure', async () => {
    const { resilience } = guard({ maxConcurrent: 1 });
    const first = deferred();
    const running = resilience.run(GET, () => first.promise);
    const deadline = new AbortController();
    const queued = resilience.run({ ...GET, signal: deadline.signal }, () => Promise.resolve('never sent'));
    expect(resilience.state().queued).toBe(1);
    deadline.abort(new DOMException('deadline', 'TimeoutError'));
    await expect(queued).rejects.toMatchObject({ failure: { kind: 'timeout', detail: 'the operation deadline passed' } });
    expect(resilience.state().queued).toBe(0);
    first.resolve('ok');
    await running;
    expect(resilience.state().active).toBe(0);
  });
});

describe('shared by tenants (forward mode)', () => {
  const as = (credential: string, call: GuardedCall = GET): GuardedCall => ({ ...call, credential });
  const fail = (resilience: Resilience, call: GuardedCall, error: Error = http(503)) =>
    resilience.run(call, () => Promise.reject(error)).catch((e: unknown) => e);

  it("one credential's faults open its own breaker, never the shared one; another credential is still served", async () => {
    const { resilience } = guard({ retries: 0, breakerFailures: 4, tenants: true });
    for (let i = 0; i < 10; i++) await fail(resilience, as('a'));
    expect(resilience.state()).toMatchObject({ breaker: 'closed', credentialBreakersOpen: 1 });
    const { send, calls } = upstream();
    await expect(resilience.run(as('a'), send)).rejects.toMatchObject({ failure: { shed: true, retryAfterSeconds: 5 } });
    expect(calls.count).toBe(0);
    await expect(resilience.run(as('b'), send)).resolves.toBe('ok');
  });

  it('faults of two credentials open the shared breaker: each counts for half the threshold', async () => {
    const { resilience } = guard({ retries: 0, breakerFailures: 4, tenants: true });
    for (const key of ['a', 'b']) await resilience.run(as(key), () => Promise.resolve('known'));
    for (let i = 0; i < 3; i++) await fail(resilience, as('a'));
    await fail(resilience, as('b'));
    expect(resilience.state().breaker).toBe('closed');
    await fail(resilience, as('b'));
    expect(resilience.state().breaker).toBe('open');
    await expect(resilience.run(as('c'), () => Promise.resolve('never sent'))).rejects.toMatchObject({ failure: { shed: true } });
  });

  it("the caller's own failure (kind caller) counts neither as a fault nor as an answer, even as a probe", async () => {
    const { resilience, clock } = guard({ retries: 0, breakerFailures: 2, breakerOpenMs: 1_000 });
    const own = failure({ kind: 'caller', action: 'creating' });
    for (let i = 0; i < 5; i++) expect(await fail(resilience, POST, own)).toBe(own);
    expect(resilience.state().breaker).toBe('closed');
    for (let i = 0; i < 2; i++) await fail(resilience, GET);
    clock.now += 1_000;
    await fail(resilience, POST, own);
    // Still half-open: the caller's failure proved nothing; the next call is the probe.
    expect(resilience.state().breaker).toBe('half-open');
    await expect(resilience.run(GET, () => Promise.resolve('ok'))).resolves.toBe('ok');
    expect(resilience.state().breaker).toBe('closed');
  });

  it('one credential holds at most its share of the bulkhead; a freed slot goes to a waiting call under its share', async () => {
    const { resilience } = guard({ maxConcurrent: 3, maxConcurrentPerCredential: 2, maxQueued: 10, maxQueuedPerCredential: 1 });
    const a = [deferred(), deferred(), deferred()];
    const runsA = a.slice(0, 3).map((d) => resilience.run(as('a'), () => d.promise));
    // a holds two slots and waits with its third; its fourth is over its share of the queue.
    expect(resilience.state()).toMatchObject({ active: 2, queued: 1 });
    await expect(resilience.run(as('a'), () => Promise.resolve('never sent'))).rejects.toMatchObject({ failure: { shed: true } });
    // b gets the free slot at once, though a was waiting first.
    await expect(resilience.run(as('b'), () => Promise.resolve('b'))).resolves.toBe('b');
    const b = deferred();
    const runB = resilience.run(as('b'), () => b.promise);
    const c = deferred();
    const runC = resilience.run(as('c'), () => c.promise);
    expect(resilience.state()).toMatchObject({ active: 3, queued: 2 });
    // b's slot freed: a's waiting call is at its share, so c (under its share) gets it.
    b.resolve('b');
    await runB;
    expect(resilience.state()).toMatchObject({ active: 3, queued: 1 });
    for (const d of [...a, c]) d.resolve('ok');
    await expect(Promise.all([...runsA, runC])).resolves.toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(resilience.state()).toMatchObject({ active: 0, queued: 0 });
  });

  it('keys DashScope has not answered (made-up ones) share one bulkhead share, and have no say in the shared breaker', async () => {
    const { resilience } = guard({
      retries: 0,
      breakerFailures: 2,
      tenants: true,
      maxConcurrent: 4,
      maxConcurrentPerCredential: 2,
      maxQueued: 0,
    });
    // A new key's first call counts in the unknown keys' share; answered, the key has a share of its own.
    await expect(resilience.run(as('real'), () => Promise.resolve('ok'))).resolves.toBe('ok');
    const held = [deferred(), deferred()];
    const runs = held.map((d, i) => resilience.run(as(`made-up-${i}`), () => d.promise));
    await expect(resilience.run(as('made-up-2'), () => Promise.resolve('never sent'))).rejects.toMatchObject({ failure: { shed: true } });
    const mine = [deferred(), deferred()];
    const myRuns = mine.map((d) => resilience.run(as('real'), () => d.promise));
    expect(resilience.state()).toMatchObject({ active: 4, queued: 0 });
    for (const d of [...held, ...mine]) d.resolve('ok');
    await Promise.all([...runs, ...myRuns]);
    for (let i = 0; i < 6; i++) await fail(resilience, as(`never-answered-${i}`));
    expect(resilience.state().breaker).toBe('closed');
    expect(resilience.knows('real')).toBe(true);
    expect(resilience.knows('never-answered-0')).toBe(false);
    await fail(resilience, as('never-answered-0'), http(401));
    expect(resilience.knows('never-answered-0')).toBe(false);
  });

  it("a made-up key's 401 does not reset the shared breaker's count either", async () => {
    const { resilience } = guard({ retries: 0, breakerFailures: 4, tenants: true });
    for (const key of ['a', 'b']) await resilience.run(as(key), () => Promise.resolve('known'));
    for (const key of ['a', 'a', 'b']) await fail(resilience, as(key));
    await fail(resilience, as('made-up'), http(401));
    await fail(resilience, as('b'));
    expect(resilience.state().breaker).toBe('open');
  });

  it('a call holding a slot of its own (an upload) takes no bulkhead slot', async () => {
    const { resilience } = guard({ maxConcurrent: 1, maxQueued: 0 });
    const held = deferred();
    const upload = resilience.run({ ...POST, bulkhead: false }, () => held.promise);
    await expect(resilience.run(GET, () => Promise.resolve('read'))).resolves.toBe('read');
    held.resolve('uploaded');
    await expect(upload).resolves.toBe('uploaded');
  });
});

describe('endOnAbort (subscriptions at shutdown)', () => {
  it('ends a stream that would never end, and releases it', async () => {
    let released = false;
    let pulls = 0;
    const source: AsyncIterable<number> = {
      [Symbol.asyncIterator]: () => ({
        next: () => (pulls++ === 0 ? Promise.resolve({ done: false, value: 1 }) : new Promise(() => {})),
        return: () => {
          released = true;
          return Promise.resolve({ done: true, value: undefined });
        },
      }),
    };
    const closing = new AbortController();
    const stream = endOnAbort(source, closing.signal);
    await expect(stream.next()).resolves.toEqual({ done: false, value: 1 });
    const waiting = stream.next();
    closing.abort();
    await expect(waiting).resolves.toEqual({ done: true, value: undefined });
    await expect(stream.next()).resolves.toEqual({ done: true, value: undefined });
    expect(released).toBe(true);
  });
});
