import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';

const APP = 'https://app.example.com';
const ADMIN = 'https://admin.example.com';
const EVIL = 'https://evil.example';

// Each configuration × each kind of Origin, for the preflight and for the actual request.
const CONFIGURATIONS: Array<{ name: string; origins: string[] }> = [
  { name: 'no origins', origins: [] },
  { name: 'one origin', origins: [APP] },
  { name: 'two origins', origins: [APP, ADMIN] },
];

describe.each(CONFIGURATIONS)('CORS with $name configured', ({ origins }) => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: origins.length ? { CORS_ORIGINS: origins.join(',') } : {} });
  });
  afterAll(() => stack?.close());

  const preflight = (origin: string) =>
    fetch(`${stack.url}/graphql`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
  const actual = (origin: string) => stack.gql('{ __typename }', {}, { origin });

  // Unlisted origins, and `null` (a sandboxed iframe, a file page, a redirect chain): never an allow-origin header.
  it.each([EVIL, 'null', ...(origins.includes(ADMIN) ? [] : [ADMIN])])('gives %s no Access-Control-Allow-Origin', async (origin) => {
    const before = await preflight(origin);
    expect(before.headers.get('access-control-allow-origin')).toBeNull();
    expect(before.headers.get('access-control-allow-methods')).toBeNull();
    const response = await actual(origin);
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
  });

  // With no origins configured there is nothing to echo: those cases exist only for the configured tables.
  if (origins.length === 0) return;

  it.each(origins)('echoes the listed origin %s, with Vary: Origin and no credentials', async (origin) => {
    const before = await preflight(origin);
    expect(before.status).toBe(204);
    expect(before.headers.get('access-control-allow-origin')).toBe(origin);
    expect(before.headers.get('access-control-allow-methods')).toBe('GET, POST');
    expect(before.headers.get('access-control-allow-headers')).toContain('content-type');
    expect(before.headers.get('vary')).toMatch(/\bOrigin\b/);
    const response = await actual(origin);
    expect(response.headers.get('access-control-allow-origin')).toBe(origin);
    expect(response.headers.get('access-control-expose-headers')).toBe('x-request-id');
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
    expect(response.headers.get('vary')).toMatch(/\bOrigin\b/);
  });

  it('says Vary: Origin on answers to requests without an Origin too (caches)', async () => {
    const response = await stack.gql('{ __typename }');
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    expect(response.headers.get('vary')).toMatch(/\bOrigin\b/);
  });
});
