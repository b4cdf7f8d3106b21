import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';

const MAIN = fileURLToPath(new URL('../../examples/dashboard-client/main.ts', import.meta.url));
const MANIFEST = fileURLToPath(new URL('../../examples/dashboard-client/gql/persisted-documents.json', import.meta.url));

/** The example's main, as a newcomer runs it (tsx), against the test's gateway. */
async function runExample(stack: Stack, env: Record<string, string> = {}): Promise<string[]> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', MAIN], {
    env: { ...process.env, GATEWAY_URL: `${stack.url}/graphql`, ...env },
    timeout: 30_000,
  });
  return stdout.trim().split('\n');
}

const expectRound = (lines: string[]) =>
  expect(lines).toEqual([
    expect.stringMatching(/^jobs: \d+ in all, 5 on page 1$/),
    expect.stringMatching(/^job ft-\S+: [A-Z]+, \d+ checkpoints, cost (unknown|[\d.]+ [A-Z]{3})$/),
    expect.stringMatching(/^created ft-\S+ \(\w+\); the same key again: same job$/),
    // Its states as the stream delivered them, up to the end (a slow machine may start watching late).
    expect.stringMatching(/^watched ft-\S+: ([A-Z]+ → )*SUCCEEDED$/),
  ]);

describe.each([
  ['sending documents', {}, {}],
  [
    'in a trusted-documents-only gateway, sending only document ids',
    { PERSISTED_DOCUMENTS: MANIFEST, PERSISTED_DOCUMENTS_ONLY: 'true' },
    { DOCUMENT_ID_ONLY: 'true' },
  ],
])(
  'the typed client example (examples/dashboard-client), %s',
  (_name, gatewayEnv: Record<string, string>, exampleEnv: Record<string, string>) => {
    let stack: Stack;
    beforeAll(async () => {
      stack = await startStack({
        env: { POLL_INTERVAL_MS: '100', ...gatewayEnv },
        emulator: { phaseDurationsMs: { pending: 2_000, queuing: 200, running: 400 } },
      });
    });
    afterAll(() => stack?.close());
    beforeEach(() => stack.emulator.resetStats());

    it('lists jobs, reads one with its checkpoints, creates one once with an idempotency key, and watches it end over SSE', async () => {
      expectRound(await runExample(stack, exampleEnv));
      // One create upstream for two calls with the same key.
      expect(stack.upstreamCalls('create')).toBe(1);
    });
  },
);
