import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { DEMO_ACCOUNT, SEED_JOB_IDS } from '../../src/emulator/index.js';
import { openSse } from '../support/sse.js';
import { startStack, type Stack } from '../support/stack.js';
import { APOLLO_MULTIPART_ACCEPT } from '../support/transports.js';

/*
 * The operation_name label keeps at most 100 names. One tenant must not use them up for another (forward mode): a name
 * is admitted only from an operation DashScope accepted the caller's key for, and one API key admits at most a
 * quarter of them.
 */

const OTHER = { apiKey: 'sk-labels-other-tenant', workspaceId: 'llm-labels0001', userId: '3234567890123456' };
const FAKE = 'sk-made-up-label-thief';

async function labelNames(url: string): Promise<Set<string>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return new Set([...text.matchAll(/^gateway_operations_total\{operation_name="([^"]*)"/gm)].map((m) => m[1]!));
}

async function gauge(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
}

describe('the operation_name label is shared fairly between tenants (forward mode)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { AUTH_MODE: 'forward', POLL_INTERVAL_MS: '50', CACHE_ENABLED: 'false', RESPONSE_CACHE_ENABLED: 'false' },
      emulator: { accounts: [DEMO_ACCOUNT, OTHER] },
    });
  });
  afterAll(() => stack.close());

  /** A subscription named `name` with the made-up key, cancelled before DashScope answered its first poll. */
  async function cancelledEarly(name: string, transport: number): Promise<void> {
    const query = `subscription ${name}($id: ID!) { fineTuneJobUpdated(id: $id) { id } }`;
    const variables = { id: SEED_JOB_IDS.running };
    const headers = { authorization: `Bearer ${FAKE}` };
    if (transport === 0) {
      const stream = await openSse(stack.url, query, variables, { headers });
      stream.close();
    } else if (transport === 1) {
      const controller = new AbortController();
      const response = await fetch(`${stack.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: APOLLO_MULTIPART_ACCEPT, ...headers },
        body: JSON.stringify({ query, variables }),
        signal: controller.signal,
      });
      expect(response.headers.get('content-type')).toMatch(/^multipart\/mixed/);
      controller.abort();
    } else {
      const client = createClient({
        url: `${stack.url.replace(/^http/, 'ws')}/graphql`,
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        connectionParams: headers,
      });
      await new Promise<void>((resolve) => {
        const cancel = client.subscribe({ query, variables }, { next: () => {}, error: () => {}, complete: () => {} });
        client.on('connected', () => setTimeout(() => (cancel(), resolve()), 20));
      });
      await client.dispose();
    }
  }

  it('does not admit names of subscriptions a made-up key cancelled before their first poll, on any transport', async () => {
    // DashScope never answers the made-up key: each subscription ends before its poller got any answer.
    stack.emulator.injectFault({ match: { apiKey: FAKE }, fault: { kind: 'hang' } });
    try {
      for (let i = 0; i < 105; i++) await cancelledEarly(`Stolen${i}`, i % 3);
      await vi.waitFor(async () => expect(await gauge(stack.url, 'gateway_subscriptions_active')).toBe(0), { timeout: 10_000 });
    } finally {
      stack.emulator.clearFaults();
    }
    await stack.ok('query DashboardJobs { fineTuneJobs(pageSize: 1) { total } }', {}, { authorization: `Bearer ${DEMO_ACCOUNT.apiKey}` });
    const names = await labelNames(stack.url);
    expect(names).toContain('DashboardJobs');
    expect([...names].filter((name) => name.startsWith('Stolen'))).toEqual([]);
  });
});

describe('one valid key admits at most a quarter of the operation names (forward mode)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { AUTH_MODE: 'forward', CACHE_ENABLED: 'false', RESPONSE_CACHE_ENABLED: 'false' },
      emulator: { accounts: [DEMO_ACCOUNT, OTHER] },
    });
  });
  afterAll(() => stack.close());

  it('names 25 of one tenant’s 100: another tenant’s dashboard keeps its own name', async () => {
    const mine = { authorization: `Bearer ${DEMO_ACCOUNT.apiKey}` };
    // Operations DashScope accepted, each with a new name: a tenant (or a leaked key) trying to take every label.
    for (let i = 0; i < 100; i++) await stack.ok(`query Hog${i} { fineTuneJobs(pageSize: 1) { total } }`, {}, mine);
    await stack.ok('query OtherTenantJobs { fineTuneJobs(pageSize: 1) { total } }', {}, { authorization: `Bearer ${OTHER.apiKey}` });
    const names = await labelNames(stack.url);
    expect(names).toContain('OtherTenantJobs');
    expect([...names].filter((name) => name.startsWith('Hog'))).toHaveLength(25);
    expect(await gauge(stack.url, 'gateway_operation_name_labels_largest_share')).toBe(25);
    expect(await gauge(stack.url, 'gateway_operation_name_labels')).toBe(26);
  });
});
