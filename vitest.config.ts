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
    // One project per kind of test, so that each runs alone: `npm run test:unit`, `test:integration`, `test:browser`.
    projects: [
      // Pure logic, no sockets. Without per-file isolation the sources are imported once, not once per file: that
      // import (graphql, yoga, zod) was 95% of the project's time, the tests themselves take a quarter of a second.
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], isolate: false } },
      // The real gateway against the real emulator over loopback HTTP, SSE and WebSocket.
      { extends: true, test: { name: 'integration', include: ['test/integration/**/*.test.ts'] } },
      // GraphiQL in Debian's chromium (playwright-core); skipped with a reason where chromium is missing, outside CI.
      { extends: true, test: { name: 'browser', include: ['test/browser/**/*.test.ts'] } },
    ],
  },
});
