import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { DEMO_API_KEY, SEED_JOB_IDS } from '../../src/emulator/index.js';
import { createGateway, type Gateway } from '../../src/gateway/index.js';
import { DashScopeClient } from '../../src/upstream/dashscope/index.js';
import { startStack, type Stack } from '../support/stack.js';

const JOB = SEED_JOB_IDS.contractExample;

/** An upstream client with a bug: it throws a plain error carrying internal detail. */
class BrokenClient extends DashScopeClient {
  override getJob(): Promise<never> {
    return Promise.reject(new TypeError('Cannot read properties of undefined (reading "job_id") at /srv/gateway/internal.ts:42'));
  }
}

let production: Stack;
let development: Stack;
let locked: Stack;
beforeAll(async () => {
  [production, development, locked] = await Promise.all([
    startStack({ env: { NODE_ENV: 'production' } }),
    startStack({ env: { NODE_ENV: 'development' } }),
    startStack({ env: { NODE_ENV: 'production', INTROSPECTION: 'false', GRAPHIQL: 'false', CORS_ORIGINS: 'https://app.example.com' } }),
  ]);
});
afterAll(() => Promise.all([production.close(), development.close(), locked.close()]));
beforeEach(() => {
  for (const stack of [production, development, locked]) stack.emulator.resetStats();
});

describe('errors in production', () => {
  async function brokenGateway(env: 'production' | 'development'): Promise<{ gateway: Gateway; url: string }> {
    const config = loadConfig({
      NODE_ENV: env,
      LOG_LEVEL: 'error',
      DASHSCOPE_BASE_URL: production.emulator.url,
      DASHSCOPE_API_KEY: DEMO_API_KEY,
    });
    const gateway = createGateway({
      config,
      client: new BrokenClient({ ...config.upstream, baseUrl: production.emulator.url }),
      logDestination: { write: () => {} },
    });
    return { gateway, url: await gateway.listen(0, '127.0.0.1') };
  }
  const ask = async (url: string) => {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `{ fineTuneJob(id: "${JOB}") { id } }` }),
    });
    return { status: response.status, text: await response.text() };
  };

  it('masks an unexpected error: no internal message, no stack, no originalError', async () => {
    const { gateway, url } = await brokenGateway('production');
    try {
      const { status, text } = await ask(url);
      expect(status).toBe(200);
      const body = JSON.parse(text) as { errors: Array<{ message: string; extensions: Record<string, unknown> }> };
      expect(body.errors[0]?.message).toBe('Unexpected error.');
      expect(body.errors[0]?.extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR', retryable: false });
      expect(text).not.toMatch(/job_id|internal\.ts|TypeError|stack|originalError|originalMessage/);
    } finally {
      await gateway.close();
    }
  });

  it('(in development the same error shows its message, so the check above can fail)', async () => {
    const { gateway, url } = await brokenGateway('development');
    try {
      expect((await ask(url)).text).toContain('internal.ts');
    } finally {
      await gateway.close();
    }
  });

  it('gives no "Did you mean" suggestions, which spell out the schema', async () => {
    const query = `{ fineTuneJob(id: "${JOB}") { statu } }`;
    const prod = await production.gql(query);
    expect(prod.body.errors?.[0]).toMatchObject({
      message: 'Cannot query field "statu" on type "FineTuneJob".',
      extensions: { code: 'BAD_USER_INPUT' },
    });
    expect((await development.gql(query)).body.errors?.[0]?.message).toContain('Did you mean "status"?');
  });

  it('keeps the details of a malformed body out of the answer', async () => {
    const response = await fetch(`${production.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
      body: '{"query": ',
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { errors: Array<{ extensions: Record<string, unknown> }> };
    expect(body.errors[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', retryable: false });
  });
});

describe('introspection and GraphiQL switches', () => {
  it('answers introspection by default, and refuses it with INTROSPECTION=false (__typename still works)', async () => {
    const introspection = `{ __schema { queryType { name } } }`;
    expect(await production.ok(introspection)).toEqual({ __schema: { queryType: { name: 'Query' } } });
    const refused = await locked.gql(introspection);
    expect(refused.body.data ?? null).toBeNull();
    expect(refused.body.errors?.[0]).toMatchObject({
      message: expect.stringContaining('introspection'),
      extensions: { code: 'BAD_USER_INPUT' },
    });
    expect(await locked.ok(`{ __typename }`)).toEqual({ __typename: 'Query' });
    expect(locked.upstreamCalls()).toBe(0);
  });

  it('serves GraphiQL by default, and not with GRAPHIQL=false', async () => {
    const page = (stack: Stack) => fetch(`${stack.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(await (await page(production)).text()).toContain('<title>finetune-gateway</title>');
    expect(await (await page(locked)).text()).not.toContain('<html');
  });
});

describe('cross-site requests', () => {
  it('never runs a mutation over GET', async () => {
    const query = `mutation { deleteFineTuneJob(id: "${JOB}") { deleted } }`;
    const response = await fetch(`${production.url}/graphql?query=${encodeURIComponent(query)}`, {
      headers: { accept: 'application/json' },
    });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    expect(production.upstreamCalls()).toBe(0);
    expect(await production.ok(`{ fineTuneJob(id: "${JOB}") { id } }`)).toEqual({ fineTuneJob: { id: JOB } });
  });

  it('refuses the POSTs a form or a no-cors fetch can send (urlencoded, multipart, text/plain, none) with 415', async () => {
    const query = `{ fineTuneJob(id: "${JOB}") { id } }`;
    const form = new FormData();
    form.set('operations', JSON.stringify({ query }));
    form.set('map', '{}');
    const bodies: Array<[string | undefined, BodyInit]> = [
      ['application/x-www-form-urlencoded', new URLSearchParams({ query }).toString()],
      [undefined, form],
      ['text/plain', JSON.stringify({ query })],
      ['text/plain;charset=UTF-8', JSON.stringify({ query })],
    ];
    for (const [type, body] of bodies) {
      const response = await fetch(`${production.url}/graphql`, { method: 'POST', headers: type ? { 'content-type': type } : {}, body });
      expect(response.status, `${type ?? 'multipart'}`).toBe(415);
    }
    const untyped = await fetch(`${production.url}/graphql`, { method: 'POST', body: new Blob([JSON.stringify({ query })]) });
    expect(untyped.status).toBe(415);
    expect(production.upstreamCalls()).toBe(0);
  });

  it('sends no CORS headers by default: another site cannot read answers or pass a preflight', async () => {
    const preflight = await fetch(`${production.url}/graphql`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://evil.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    const response = await production.gql(`{ __typename }`, {}, { origin: 'https://evil.example' });
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('allows the CORS_ORIGINS, without credentials, and no other origin', async () => {
    const preflight = (origin: string) =>
      fetch(`${locked.url}/graphql`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,authorization' },
      });
    const allowed = await preflight('https://app.example.com');
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(allowed.headers.get('access-control-allow-headers')).toContain('authorization');
    expect(allowed.headers.get('access-control-allow-credentials')).toBeNull();
    const other = await preflight('https://evil.example');
    expect(other.headers.get('access-control-allow-origin')).not.toBe('https://evil.example');
  });
});
