import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumAvailable, launchChromium } from '../support/chromium.js';
import { startStack, type Stack } from '../support/stack.js';

const available = chromiumAvailable('CORS');

const CREATE =
  'mutation { createFineTuneJob(input: { model: "qwen3-8b", trainingFileIds: ["file-ft-demo"], hyperParameters: { nEpochs: 1, batchSize: 8, maxLength: 2048 } }) { id } }';

/** Script run in a page: POSTs the query and the mutation to the gateway, reports what it could read (or the error). */
function attackScript(gatewayUrl: string): string {
  return `
    async function run(query) {
      try {
        const response = await fetch(${JSON.stringify(`${gatewayUrl}/graphql`)}, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query }),
        });
        return 'read: ' + (await response.text());
      } catch (error) {
        return 'blocked: ' + error.name;
      }
    }
    Promise.all([run('{ __typename }'), run(${JSON.stringify(CREATE)})]).then(([query, mutation]) => report({ query, mutation }));`;
}

describe.skipIf(!available)('CORS in a browser', () => {
  let stack: Stack;
  let browser: Browser;
  let pages: Server;
  let pageOrigin: string;

  beforeAll(async () => {
    // Another site (another loopback port): its top page is a listed origin, the sandboxed iframe in it is `null`.
    pages = createServer((_request, response) => {
      const frame = `<script>const report = (r) => parent.postMessage(r, '*');${attackScript(stack.url)}</script>`;
      response.setHeader('content-type', 'text/html');
      response.end(`<!doctype html><script>
        window.results = {};
        const report = (r) => { window.results.top = r; };
        addEventListener('message', (event) => { window.results.frame = event.data; });
        ${attackScript(stack.url)}
      </script><iframe sandbox="allow-scripts" srcdoc="${frame.replace(/&/g, '&amp;').replace(/"/g, '&quot;')}"></iframe>`);
    });
    await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
    pageOrigin = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;
    // Two origins listed: the configuration in which yoga answered `Access-Control-Allow-Origin: null`.
    stack = await startStack({ env: { CORS_ORIGINS: `${pageOrigin},https://admin.example.com` } });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await new Promise((resolve) => pages?.close(resolve));
  });

  it('lets a listed origin read, and a sandboxed iframe (Origin: null) neither read nor create a job', async () => {
    const page = await browser.newPage();
    await page.goto(pageOrigin);
    type Results = { top?: { query: string; mutation: string }; frame?: { query: string; mutation: string } };
    const results = () => page.evaluate(() => (window as unknown as { results: Results }).results);
    await expect.poll(async () => Object.keys(await results()).sort(), { timeout: 15_000 }).toEqual(['frame', 'top']);
    const { top, frame } = await results();

    // The control: the listed origin is allowed, so the setup does reach the gateway and the emulator.
    expect(top!.query).toContain('"__typename":"Query"');
    expect(top!.mutation).toContain('"createFineTuneJob":{"id":"ft-');
    expect(stack.upstreamCalls('create')).toBe(1);

    // The sandboxed iframe: its preflight gets no allow-origin, so neither request is sent, and nothing is created.
    expect(frame).toEqual({ query: 'blocked: TypeError', mutation: 'blocked: TypeError' });
    expect(stack.upstreamCalls('create')).toBe(1);
  });
});
