import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  resolve: {
    // graphql 16 ships CommonJS (`main`) and ESM (`module`). Node loads the CommonJS one for graphql-yoga; without
    // this alias Vite would hand our sources the ESM one, and two graphql instances break `instanceof` checks.
    alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
