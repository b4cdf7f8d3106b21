import { serverAudits } from 'graphql-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';

// The GraphQL-over-HTTP conformance audit of graphql-http, against the gateway as deployed (NODE_ENV=production).
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { NODE_ENV: 'production' } });
});
afterAll(() => stack.close());

const audits = serverAudits({ url: () => `${stack.url}/graphql` }).filter((audit) => /^(MUST|SHOULD)\b/.test(audit.name));

describe('GraphQL over HTTP audit (every MUST and SHOULD)', () => {
  it('has audits to run', () => {
    expect(audits.length).toBeGreaterThan(20);
  });

  for (const audit of audits) {
    it(`${audit.id}: ${audit.name}`, async () => {
      const result = await audit.fn();
      expect(result.status, 'reason' in result ? result.reason : '').toBe('ok');
    });
  }
});
