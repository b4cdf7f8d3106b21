import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // graphql 16 ships CommonJS (`main`) and ESM (`module`). Node loads the CommonJS one for graphql-yoga; without
    // this alias Vite would hand our sources the ESM one, and two graphql instances break `instanceof` checks.
    alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }],
  },
  test: {
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // The sources hold no module-level state and no test mocks a module, so test files may share one import of them:
    // importing the sources (graphql, yoga, zod, undici) once per file was 95% of the unit tests' time and a third
    // of the whole suite's CPU. (One worker count for all projects: vitest would otherwise need a group per project,
    // which `--sequence.*` on the command line overrides.)
    isolate: false,
    // Integration tests mostly wait on loopback sockets and configured timeouts, so more files than cores may run at
    // once (vitest's default is one less than the cores: a single worker on a 2-core machine).
    maxWorkers: Math.max(3, availableParallelism()),
    // One project per kind of test, each runnable alone: `npm run test:unit`, `test:integration`, `test:browser`.
    projects: [
      // Pure logic, no sockets: the whole project runs in a few seconds.
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      // The real gateway against the real emulator over loopback HTTP, SSE and WebSocket.
      { extends: true, test: { name: 'integration', include: ['test/integration/**/*.test.ts'] } },
      // GraphiQL in Debian's chromium (playwright-core); skipped with a reason where chromium is missing, outside CI.
      { extends: true, test: { name: 'browser', include: ['test/browser/**/*.test.ts'] } },
    ],
  },
});
