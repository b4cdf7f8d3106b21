import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';

// CI installs Debian's chromium and must run this; a developer machine without it skips with a reason.
const CHROMIUM = '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available && process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing: .ci/run installs it`);

describe.skipIf(!available)('GraphiQL in a browser', () => {
  let stack: Stack;
  let browser: Browser;

  beforeAll(async () => {
    stack = await startStack();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it('opens with the example operation, runs it, and loads nothing from outside', async () => {
    const page = await browser.newPage();
    const foreign: string[] = [];
    page.on('request', (request) => {
      if (!/^(data:|blob:)/.test(request.url()) && !request.url().startsWith(stack.url)) foreign.push(request.url());
    });
    await page.goto(`${stack.url}/graphql`);
    await page.locator('.graphiql-execute-button').click();
    // The result pane is a code editor: its text uses non-breaking spaces.
    const resultText = async () => (await page.locator('.result-window').textContent())?.replace(/\s+/g, ' ');
    await expect.poll(resultText, { timeout: 15_000 }).toContain('"hasNextPage": true');
    expect(foreign).toEqual([]);
  });
});
