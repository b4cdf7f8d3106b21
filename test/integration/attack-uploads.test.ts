import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { brokenUpload, multipartHeaders, stallUpload } from '../../bench/fairness/attacks.js';
import { DEMO_ACCOUNT, type EmulatorAccount } from '../../src/emulator/index.js';
import { startStack, type Stack } from '../support/stack.js';

/*
 * Uploads and the upstream's health, shared by tenants in forward mode (docs/operations.md#fairness-between-tenants):
 * a failure of the caller's own body is the caller's error and never counts against DashScope's health; one key's
 * faults open that key's breaker only; uploads have their own bounded share and never hold the reads' sockets.
 */

const OTHER: EmulatorAccount = { apiKey: 'sk-upload-tenant-b', workspaceId: 'llm-uploadb01', userId: '2000000000000077' };
/** Two more tenants, for the upload share: a stalled upload with a made-up key holds nothing (DashScope answers 401 at once). */
const THIRD: EmulatorAccount = { apiKey: 'sk-upload-tenant-c', workspaceId: 'llm-uploadc01', userId: '2000000000000078' };
const FOURTH: EmulatorAccount = { apiKey: 'sk-upload-tenant-d', workspaceId: 'llm-uploadd01', userId: '2000000000000079' };
const as = (apiKey: string) => ({ authorization: `Bearer ${apiKey}` });
const READ = '{ fineTuneJobs(pageSize: 5) { total } }';
const madeUp = (i: number) => `sk-made-up-${i}-${Math.random().toString(36).slice(2)}`;

type Body = { data?: Record<string, any> | null; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };

async function postUpload(url: string, key: string, body: string): Promise<Body> {
  const response = await fetch(`${url}/graphql`, { method: 'POST', headers: multipartHeaders(key), body });
  return (await response.json()) as Body;
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return Number(line?.split(' ').at(-1));
}

const jsonOf = (raw: string): Body => JSON.parse(raw.slice(raw.indexOf('{'), raw.lastIndexOf('}') + 1)) as Body;

describe("a caller's own failures never count against the upstream's health (forward mode)", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { AUTH_MODE: 'forward', UPSTREAM_BREAKER_FAILURES: '3', UPSTREAM_BREAKER_OPEN_MS: '60000', UPSTREAM_RETRIES: '0' },
      emulator: { accounts: [DEMO_ACCOUNT, OTHER] },
    });
  });
  afterAll(() => stack.close());
  afterEach(() => stack.emulator.clearFaults());

  it('uploads cut off or carrying a second file, with made-up keys: BAD_USER_INPUT each, and the breaker stays closed', async () => {
    for (let i = 0; i < 8; i++) {
      const body = await postUpload(stack.url, madeUp(i), brokenUpload(i % 2 ? 'second file' : 'cut off'));
      expect(body.errors?.[0]?.extensions, JSON.stringify(body)).toMatchObject({ code: 'BAD_USER_INPUT' });
      expect(body.errors?.[0]?.message).toMatch(/cut off|One file per request/);
    }
    expect(await metric(stack.url, 'gateway_upstream_breaker_state{state="closed"}')).toBe(1);
    expect((await stack.ok(READ, {}, as(DEMO_ACCOUNT.apiKey))).fineTuneJobs.total).toBeGreaterThan(0);
  });

  it("made-up keys' 401s and one key's 429s are answers: the breaker stays closed", async () => {
    stack.emulator.injectFault({ match: { apiKey: OTHER.apiKey }, fault: { kind: 'status', status: 429, code: 'Throttling' } });
    for (let i = 0; i < 6; i++) {
      expect((await stack.gql(READ, {}, as(madeUp(i)))).body.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
      expect((await stack.gql(READ, {}, as(OTHER.apiKey))).body.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED' });
    }
    expect((await stack.ok(READ, {}, as(DEMO_ACCOUNT.apiKey))).fineTuneJobs.total).toBeGreaterThan(0);
  });

  it("one key whose calls DashScope keeps failing opens that key's own breaker, not the others'", async () => {
    stack.emulator.injectFault({ match: { apiKey: OTHER.apiKey }, fault: { kind: 'status', status: 500 } });
    for (let i = 0; i < 6; i++) await stack.gql(READ, {}, as(OTHER.apiKey));
    stack.emulator.resetStats();
    const refused = await stack.gql(READ, {}, as(OTHER.apiKey));
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', retryable: true });
    expect(stack.upstreamCalls(), 'refused at once, nothing sent').toBe(0);
    expect(await metric(stack.url, 'gateway_upstream_credential_breakers_open')).toBe(1);
    expect(await metric(stack.url, 'gateway_upstream_breaker_state{state="closed"}')).toBe(1);
    expect((await stack.ok(READ, {}, as(DEMO_ACCOUNT.apiKey))).fineTuneJobs.total).toBeGreaterThan(0);
  });
});

describe('a real outage, faults of two keys, still opens the shared breaker (forward mode)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { AUTH_MODE: 'forward', UPSTREAM_BREAKER_FAILURES: '4', UPSTREAM_BREAKER_OPEN_MS: '60000', UPSTREAM_RETRIES: '0' },
      emulator: { accounts: [DEMO_ACCOUNT, OTHER] },
    });
  });
  afterAll(() => stack.close());

  it('each key counts for at most half of the threshold; together they open it for every key', async () => {
    // Keys DashScope has answered: a made-up key's faults would count toward its own breaker only.
    for (const key of [OTHER.apiKey, DEMO_ACCOUNT.apiKey]) await stack.ok(READ, {}, as(key));
    stack.emulator.injectFault({ fault: { kind: 'status', status: 503 } });
    for (let i = 0; i < 2; i++) await stack.gql(READ, {}, as(OTHER.apiKey));
    expect(await metric(stack.url, 'gateway_upstream_breaker_state{state="closed"}')).toBe(1);
    for (let i = 0; i < 2; i++) await stack.gql(READ, {}, as(DEMO_ACCOUNT.apiKey));
    expect(await metric(stack.url, 'gateway_upstream_breaker_state{state="open"}')).toBe(1);
    stack.emulator.resetStats();
    const third = await stack.gql(READ, {}, as(madeUp(0)));
    expect(third.body.errors?.[0]?.extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    expect(stack.upstreamCalls()).toBe(0);
  });
});

describe('uploads have a bounded share of their own (forward mode)', () => {
  let stack: Stack;
  const stalled: Array<ReturnType<typeof stallUpload>> = [];
  beforeAll(async () => {
    stack = await startStack({
      env: {
        AUTH_MODE: 'forward',
        // Two sockets and two slots for reads and writes; four uploads, one per key.
        UPSTREAM_CONNECTIONS: '2',
        UPLOAD_MAX_CONCURRENT: '4',
        UPLOAD_IDLE_TIMEOUT_MS: '60000',
        CACHE_ENABLED: 'false',
      },
      emulator: { accounts: [DEMO_ACCOUNT, OTHER, THIRD, FOURTH] },
    });
  });
  afterAll(async () => {
    for (const { socket } of stalled) socket.destroy();
    await stack.close();
  });

  it("stalled uploads hold none of the reads' sockets or slots; past a key's share an upload is refused before any upstream call", async () => {
    // Keys DashScope has answered have a share each; keys it has not (made-up ones) share one between them.
    for (const key of [OTHER, THIRD, FOURTH, DEMO_ACCOUNT]) await stack.ok(READ, {}, as(key.apiKey));
    stack.emulator.resetStats();
    stalled.push(stallUpload(stack.url, OTHER.apiKey), stallUpload(stack.url, THIRD.apiKey), stallUpload(stack.url, FOURTH.apiKey));
    // Each stalled upload opened its request to DashScope, and waits on its caller.
    await expect.poll(() => stack.upstreamCalls('file-upload'), { timeout: 10_000 }).toBe(3);
    expect(await metric(stack.url, 'gateway_uploads_active')).toBe(3);
    // None of the reads' bulkhead is held; the stalled connections are counted (the scrape's own among them).
    expect(await metric(stack.url, 'gateway_upstream_bulkhead_active')).toBe(0);
    expect(await metric(stack.url, 'gateway_http_connections')).toBeGreaterThanOrEqual(4);

    // Reads answer while the uploads stall (their sockets are the uploads' own).
    expect((await stack.ok(READ, {}, as(DEMO_ACCOUNT.apiKey))).fineTuneJobs.total).toBeGreaterThan(0);
    const both = await Promise.all([stack.gql(READ, {}, as(OTHER.apiKey)), stack.gql(READ, {}, as(THIRD.apiKey))]);
    expect(both.map((r) => r.body.errors)).toEqual([undefined, undefined]);

    // OTHER holds its one upload slot (a quarter of four): its second upload is refused at once, nothing sent.
    const second = stallUpload(stack.url, OTHER.apiKey);
    stalled.push(second);
    const refused = jsonOf(await second.answered);
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryable: true, limit: 'maxUploadsPerCredential' });
    // The fourth slot is there for another key; then the total is full for everyone.
    stalled.push(stallUpload(stack.url, DEMO_ACCOUNT.apiKey));
    await expect.poll(() => stack.upstreamCalls('file-upload'), { timeout: 10_000 }).toBe(4);
    const full = stallUpload(stack.url, madeUp(3));
    stalled.push(full);
    expect(jsonOf(await full.answered).errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', limit: 'maxUploads' });
    expect(stack.upstreamCalls('file-upload')).toBe(4);
  });
});

describe("a stalled upload is failed as its caller's own error", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { AUTH_MODE: 'forward', UPLOAD_IDLE_TIMEOUT_MS: '300', UPSTREAM_BREAKER_FAILURES: '2', UPSTREAM_BREAKER_OPEN_MS: '60000' },
      emulator: { accounts: [DEMO_ACCOUNT, OTHER] },
    });
  });
  afterAll(() => stack.close());

  it('after UPLOAD_IDLE_TIMEOUT_MS: BAD_USER_INPUT, the upstream request aborted (no file), the slot given back, the breaker closed', async () => {
    const uploads = [
      stallUpload(stack.url, OTHER.apiKey),
      stallUpload(stack.url, OTHER.apiKey),
      stallUpload(stack.url, DEMO_ACCOUNT.apiKey),
    ];
    try {
      for (const { answered } of uploads) {
        const error = jsonOf(await answered).errors?.[0];
        expect(error?.message).toMatch(/stalled: none of the file came for 0.3 s/);
        expect(error?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
      }
    } finally {
      for (const { socket } of uploads) socket.destroy();
    }
    await expect.poll(() => stack.emulator.stats().inFlight).toBe(0);
    expect(await metric(stack.url, 'gateway_uploads_active')).toBe(0);
    expect(await metric(stack.url, 'gateway_upstream_breaker_state{state="closed"}')).toBe(1);
    const files = await stack.ok('{ trainingFiles { total } }', {}, as(OTHER.apiKey));
    expect(files.trainingFiles.total).toBe(0);
  });
});
