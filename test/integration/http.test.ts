import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

describe('HTTP surface', () => {
  it('serves GraphiQL at /graphql to a browser, with its assets from the gateway (no CDN) and an example operation', async () => {
    const response = await fetch(`${stack.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain('<title>finetune-gateway</title>');
    expect(html).toContain('fineTuneJobs(page: 1, pageSize: 10)');
    expect(html).not.toMatch(/<(script|link)[^>]+(src|href)="https?:/);
    expect(stack.upstreamCalls()).toBe(0);
  });

  it('in demo mode, opens GraphiQL on the workflow tabs (with the curl upload), in a page still a few kB', async () => {
    const demo = await startStack({ mode: 'demo' });
    try {
      const response = await fetch(`${demo.url}/graphql`, { headers: { accept: 'text/html' } });
      const html = await response.text();
      const names = [...html.matchAll(/\\n(?:query|mutation|subscription) (\w+)\(/g)].map((m) => m[1]);
      expect(names).toEqual([
        'TrainingFiles',
        'CreateJob',
        'WatchJob',
        'Checkpoints',
        'ExportCheckpoint',
        'Deploy',
        'WatchDeployment',
        'JobDeployments',
      ]);
      expect(html).toContain("curl http://localhost:4000/graphql -H 'graphql-preflight: 1'");
      expect(html).toContain('"defaultTabs"');
      expect(html.length).toBeLessThan(8_000);
    } finally {
      await demo.close();
    }
    // Against a real DashScope, the seeded ids mean nothing: one dashboard query, no tabs.
    const remote = await (await fetch(`${stack.url}/graphql`, { headers: { accept: 'text/html' } })).text();
    expect(remote).not.toContain('"defaultTabs"');
  });

  it('answers /health with 200', async () => {
    const response = await fetch(`${stack.url}/health`);
    expect(response.status).toBe(200);
  });

  it('answers every GraphQL request with an x-request-id, the caller’s when well-formed', async () => {
    const own = await stack.gql(`{ __typename }`, {}, { 'x-request-id': 'trace-123' });
    expect(own.headers.get('x-request-id')).toBe('trace-123');
    const generated = await stack.gql(`{ __typename }`, {}, { 'x-request-id': 'bad id with spaces' });
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('describes every type and field of the schema', async () => {
    const data = await stack.ok(`{ __schema { types { name description kind fields { name description } } } }`);
    const ours = data.__schema.types.filter(
      (t: { name: string }) => !t.name.startsWith('__') && !['String', 'Int', 'Float', 'Boolean', 'ID'].includes(t.name),
    );
    const undocumented = ours.flatMap(
      (t: { name: string; description: string | null; fields: Array<{ name: string; description: string | null }> | null }) => [
        ...(t.description || t.name === 'Query' ? [] : [t.name]),
        ...(t.fields ?? []).filter((f) => !f.description).map((f) => `${t.name}.${f.name}`),
      ],
    );
    expect(undocumented).toEqual([]);
  });
});
