import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumAvailable, launchChromium } from '../support/chromium.js';
import { startStack, type Stack } from '../support/stack.js';

const available = chromiumAvailable('CORS upload');

const UPLOAD = 'mutation($file: File!) { uploadTrainingFile(file: $file) { id filename } }';

/**
 * Script run in a page of a listed origin (a frontend's dev server): uploads a training file as apollo-upload-client
 * and urql do (a `fetch` of FormData with `operations`, `map` and the file), once with each preflight header the CSRF
 * rule accepts, and reports what it could read or the error.
 */
function uploadScript(gatewayUrl: string): string {
  return `
    async function upload(header) {
      const form = new FormData();
      form.append('operations', JSON.stringify({ query: ${JSON.stringify(UPLOAD)}, variables: { file: null } }));
      form.append('map', JSON.stringify({ 0: ['variables.file'] }));
      form.append('0', new File(['{"messages":[{"role":"user","content":"hi"}]}\\n'], header + '.jsonl'));
      try {
        const response = await fetch(${JSON.stringify(`${gatewayUrl}/graphql`)}, {
          method: 'POST',
          headers: { [header]: 'true', authorization: 'Bearer sk-emulator-demo' },
          body: form,
        });
        return 'read: ' + (await response.text());
      } catch (error) {
        return 'blocked: ' + error.message;
      }
    }
    Promise.all(['apollo-require-preflight', 'x-graphql-yoga-csrf', 'graphql-preflight'].map(upload)).then((r) => { window.results = r; });`;
}

describe.skipIf(!available)('uploads from a page on another, listed origin (Chromium)', () => {
  let stack: Stack;
  let browser: Browser;
  let pages: Server;
  let pageOrigin: string;

  beforeAll(async () => {
    // The frontend's dev server (as Vite's on :5173): another origin, listed in CORS_ORIGINS.
    pages = createServer((_request, response) => {
      response.setHeader('content-type', 'text/html');
      response.end(`<!doctype html><script>${uploadScript(stack.url)}</script>`);
    });
    await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
    pageOrigin = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;
    stack = await startStack({ env: { AUTH_MODE: 'forward', CORS_ORIGINS: `${pageOrigin},http://localhost:5173` } });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await new Promise((resolve) => pages?.close(resolve));
  });

  it('passes the CORS preflight with each CSRF preflight header, and the file reaches DashScope', async () => {
    const page = await browser.newPage();
    await page.goto(pageOrigin);
    const results = () => page.evaluate(() => (window as unknown as { results?: string[] }).results);
    await expect.poll(results, { timeout: 15_000 }).toBeDefined();
    const [apollo, yoga, preflight] = (await results())!;
    expect(apollo).toContain('"filename":"apollo-require-preflight.jsonl"');
    expect(yoga).toContain('"filename":"x-graphql-yoga-csrf.jsonl"');
    expect(preflight).toContain('"filename":"graphql-preflight.jsonl"');
    expect(stack.upstreamCalls('file-upload')).toBe(3);
  });
});
