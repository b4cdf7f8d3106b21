import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DEMO_ACCOUNT, SEED_JOB_IDS } from '../../src/emulator/index.js';
import { openSse, type SseStream, type StreamPayload } from '../support/sse.js';
import { startStack, type Stack } from '../support/stack.js';
import { APOLLO_MULTIPART_ACCEPT } from '../support/transports.js';

/*
 * One tenant against another on the live updates (forward mode): the pollers and the subscription slots are shared by
 * every caller of a process, so each says what one credential (one API key, whatever the workspace) may take of them,
 * and a poller that never got an answer from DashScope does not hold its slot for ever.
 */

const WATCH = `subscription($id: ID!) { fineTuneJobUpdated(id: $id) { id status } }`;
const REAL = { authorization: `Bearer ${DEMO_ACCOUNT.apiKey}` };
const madeUpId = (n: number) => `ft-209901010000-${n.toString(16).padStart(4, '0')}`;

/** The first payload of a stream, or `null` when none came within `ms` (a poller still retrying). */
async function firstWithin(stream: SseStream, ms: number): Promise<StreamPayload | null | 'nothing yet'> {
  let timer: NodeJS.Timeout | undefined;
  const nothing = new Promise<'nothing yet'>((resolve) => (timer = setTimeout(() => resolve('nothing yet'), ms)));
  try {
    return await Promise.race([stream.next(), nothing]);
  } finally {
    clearTimeout(timer);
  }
}

async function pollersActive(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const values: Record<string, number> = {};
  for (const match of text.matchAll(/^(gateway_(?:pollers|subscriptions)_[a-z_]+) (\S+)$/gm)) values[match[1]!] = Number(match[2]);
  return values;
}

describe('live pollers with UPSTREAM_RATE_PER_SECOND set: a made-up key cannot pin them', () => {
  let stack: Stack;
  const opened: SseStream[] = [];
  beforeAll(async () => {
    stack = await startStack({
      env: {
        AUTH_MODE: 'forward',
        POLL_INTERVAL_MS: '50',
        MAX_POLLERS: '8',
        // One request a second per key, none saved up, no waiting: the made-up key's bucket is empty after one call.
        UPSTREAM_RATE_PER_SECOND: '1',
        UPSTREAM_BURST: '1',
        UPSTREAM_RATE_MAX_WAIT_MS: '0',
        CACHE_ENABLED: 'false',
      },
    });
  });
  afterAll(async () => {
    for (const stream of opened) stream.close();
    await stack.close();
  });
  beforeEach(() => {
    for (const stream of opened.splice(0)) stream.close();
    stack.emulator.clearFaults();
  });

  const open = async (id: string, headers: Record<string, string>) => {
    const stream = await openSse(stack.url, WATCH, { id }, { headers });
    opened.push(stream);
    return stream;
  };

  it('gives one key its share of the pollers (maxPollersPerCredential): a real tenant still subscribes', async () => {
    const fake = { authorization: 'Bearer sk-made-up-attacker-0001' };
    // Its one token of the second spent (DashScope refuses the key): every poll of its subscriptions is now refused by
    // the gateway itself (RATE_LIMITED, retryable), and retried.
    expect((await stack.gql('{ fineTuneJobs(pageSize: 1) { total } }', {}, fake)).body.errors?.[0]?.extensions?.code).toBe(
      'UNAUTHENTICATED',
    );
    const attack = await Promise.all(Array.from({ length: 8 }, (_, n) => open(madeUpId(n), fake)));
    const refusals = await Promise.all(attack.map((stream) => firstWithin(stream, 200)));
    const refused = refusals.filter((payload) => payload !== 'nothing yet');
    // Two of eight (a quarter) hold a poller; the rest are refused at once with the cap's name.
    expect(refused.map((payload) => payload && payload.errors?.[0]?.extensions)).toEqual(
      Array.from({ length: 6 }, () => ({ code: 'RATE_LIMITED', retryable: true, limit: 'maxPollersPerCredential' })),
    );
    expect((await pollersActive(stack.url)).gateway_pollers_largest_share).toBe(2);

    // A tenant DashScope has answered (a dashboard reads before it watches): its key has a share of its own.
    await stack.ok('{ fineTuneJobs(pageSize: 1) { total } }', {}, REAL);
    const real = await open(SEED_JOB_IDS.running, REAL);
    const first = await real.next();
    expect(first?.errors, JSON.stringify(first)).toBeUndefined();
    expect(first?.data?.fineTuneJobUpdated).toMatchObject({ id: SEED_JOB_IDS.running });
  });
});

describe('live pollers: a poller that never got an answer', () => {
  let stack: Stack;
  beforeAll(async () => {
    // No retries inside a poll: each of the poller's attempts is one request.
    stack = await startStack({ env: { AUTH_MODE: 'forward', POLL_INTERVAL_MS: '50', UPSTREAM_RETRIES: '0' } });
  });
  afterAll(() => stack.close());

  it('ends a poller that never got an answer after a bounded number of attempts, with the coded error', async () => {
    const fake = { authorization: 'Bearer sk-made-up-attacker-0002' };
    // DashScope throttles this key for good (retryable 429s): without a bound its pollers would retry for ever.
    stack.emulator.injectFault({
      match: { apiKey: fake.authorization.slice(7) },
      fault: { kind: 'status', status: 429, code: 'Throttling' },
    });
    const streams = await Promise.all([madeUpId(100), madeUpId(101)].map((id) => openSse(stack.url, WATCH, { id }, { headers: fake })));
    const ends = await Promise.all(streams.map((stream) => firstWithin(stream, 10_000)));
    for (const end of ends) {
      expect(end).not.toBe('nothing yet');
      expect((end as StreamPayload).errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryable: true });
    }
    // Each stream then completes, and its poller is gone.
    for (const stream of streams) expect(await stream.next()).toBeNull();
    expect((await pollersActive(stack.url)).gateway_pollers_largest_share ?? 0).toBe(0);
  });
});

describe('live pollers: a poller whose reads never come back', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { AUTH_MODE: 'forward', POLL_INTERVAL_MS: '50', UPSTREAM_HEADERS_TIMEOUT_MS: '60000' } });
  });
  afterAll(() => stack.close());

  it('ends once it has had no value for 100 poll intervals, with UPSTREAM_TIMEOUT, even while its read hangs', async () => {
    const fake = 'sk-made-up-hanging-0001';
    // DashScope never answers this key (with Redis, a replica waiting on another's lease sees the same: nothing).
    stack.emulator.injectFault({ match: { apiKey: fake }, fault: { kind: 'hang' } });
    const stream = await openSse(stack.url, WATCH, { id: madeUpId(300) }, { headers: { authorization: `Bearer ${fake}` } });
    try {
      const end = await firstWithin(stream, 12_000);
      expect(end).not.toBe('nothing yet');
      expect((end as StreamPayload).errors?.[0]?.extensions).toMatchObject({ code: 'UPSTREAM_TIMEOUT', retryable: true });
      expect(await stream.next()).toBeNull();
      expect((await pollersActive(stack.url)).gateway_pollers_active).toBe(0);
    } finally {
      stream.close();
      stack.emulator.clearFaults();
    }
  });
});

describe('live pollers: a flood of made-up keys, each its own string, that DashScope is slow to refuse', () => {
  let stack: Stack;
  const opened: SseStream[] = [];
  beforeAll(async () => {
    stack = await startStack({ env: { AUTH_MODE: 'forward', POLL_INTERVAL_MS: '50', MAX_POLLERS: '8', CACHE_ENABLED: 'false' } });
  });
  afterAll(async () => {
    for (const stream of opened) stream.close();
    await stack.close();
  });

  it('holds one share of the pollers for all such keys together: a tenant DashScope knows still subscribes', async () => {
    // The real tenant has been answered by DashScope before: its key is known.
    await stack.ok('{ fineTuneJobs(pageSize: 1) { total } }', {}, REAL);
    // DashScope takes 3 s to refuse a key it does not know: each made-up key's poller waits that long.
    stack.emulator.injectFault({ match: { unknownKey: true }, fault: { kind: 'delay', ms: 3_000 } });
    const attack = await Promise.all(
      Array.from({ length: 8 }, (_, n) =>
        openSse(stack.url, WATCH, { id: madeUpId(200 + n) }, { headers: { authorization: `Bearer sk-made-up-flood-${n}` } }),
      ),
    );
    opened.push(...attack);
    const refused = (await Promise.all(attack.map((stream) => firstWithin(stream, 200)))).filter((p) => p !== 'nothing yet');
    expect(refused.map((payload) => payload && payload.errors?.[0]?.extensions?.limit)).toEqual(
      Array.from({ length: 6 }, () => 'maxPollersPerCredential'),
    );
    const real = await openSse(stack.url, WATCH, { id: SEED_JOB_IDS.running }, { headers: REAL });
    opened.push(real);
    const first = await real.next();
    expect(first?.errors, JSON.stringify(first)).toBeUndefined();
  });
});

describe('subscription slots per credential hold on every transport, whatever the workspace header says', () => {
  let stack: Stack;
  const clients: Client[] = [];
  beforeAll(async () => {
    stack = await startStack({
      env: { AUTH_MODE: 'forward', POLL_INTERVAL_MS: '50', MAX_SUBSCRIPTIONS: '100', MAX_SUBSCRIPTIONS_PER_CREDENTIAL: '2' },
    });
  });
  afterAll(async () => {
    for (const client of clients) await client.dispose();
    await stack.close();
  });

  const overWs = (headers: Record<string, string>) => {
    const client = createClient({
      url: `${stack.url.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: headers,
    });
    clients.push(client);
    const payloads: StreamPayload[] = [];
    const waiting: Array<() => void> = [];
    client.subscribe(
      { query: WATCH, variables: { id: SEED_JOB_IDS.running } },
      {
        next: (payload) => {
          payloads.push(payload as StreamPayload);
          waiting.splice(0).forEach((wake) => wake());
        },
        error: (errors) => {
          payloads.push({ errors: errors as never });
          waiting.splice(0).forEach((wake) => wake());
        },
        complete: () => undefined,
      },
    );
    return async () => {
      while (payloads.length === 0) await new Promise<void>((resolve) => waiting.push(resolve));
      return payloads[0]!;
    };
  };

  const overMultipart = async (headers: Record<string, string>) => {
    const controller = new AbortController();
    const response = await fetch(`${stack.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: APOLLO_MULTIPART_ACCEPT, ...headers },
      body: JSON.stringify({ query: WATCH, variables: { id: SEED_JOB_IDS.running } }),
      signal: controller.signal,
    });
    // A refusal before the stream starts is a plain JSON answer; a stream's first part is `{"payload": …}`.
    if (!/^multipart\/mixed/i.test(response.headers.get('content-type') ?? '')) return (await response.json()) as StreamPayload;
    const reader = response.body!.getReader();
    let text = '';
    for (let chunk = await reader.read(); !chunk.done && !/"payload":\{.*\}/.test(text); chunk = await reader.read())
      text += new TextDecoder().decode(chunk.value);
    controller.abort();
    return (JSON.parse(/\{"payload":.*\}/.exec(text)?.[0] ?? '{"payload":{}}') as { payload: StreamPayload }).payload;
  };

  it('holds two over SSE and graphql-ws; a third is refused over SSE, graphql-ws and multipart, and under another workspace', async () => {
    // A key DashScope has answered: counted as itself (a key it has not yet answered shares the made-up keys' share).
    await stack.ok('{ fineTuneJobs(pageSize: 1) { total } }', {}, REAL);
    const sse = await openSse(stack.url, WATCH, { id: SEED_JOB_IDS.running }, { headers: REAL });
    try {
      expect((await sse.next())?.errors).toBeUndefined();
      expect((await overWs(REAL)())?.errors).toBeUndefined();
      const capped = { code: 'RATE_LIMITED', retryable: true, limit: 'maxSubscriptionsPerCredential' };
      const third = await openSse(stack.url, WATCH, { id: SEED_JOB_IDS.running }, { headers: REAL });
      expect((await third.next())?.errors?.[0]?.extensions).toEqual(capped);
      third.close();
      expect((await overWs(REAL)())?.errors?.[0]?.extensions).toEqual(capped);
      expect((await overMultipart(REAL)).errors?.[0]?.extensions).toEqual(capped);
      // The same key naming its workspace explicitly is the same tenant: no second share.
      const named = { ...REAL, 'x-dashscope-workspace': DEMO_ACCOUNT.workspaceId };
      const again = await openSse(stack.url, WATCH, { id: SEED_JOB_IDS.running }, { headers: named });
      expect((await again.next())?.errors?.[0]?.extensions).toEqual(capped);
      again.close();
      expect((await overWs(named)())?.errors?.[0]?.extensions).toEqual(capped);
    } finally {
      sse.close();
    }
  });
});
