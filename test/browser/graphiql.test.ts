import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumAvailable, launchChromium } from '../support/chromium.js';
import { startStack, type Stack } from '../support/stack.js';

const available = chromiumAvailable('GraphiQL');

describe.skipIf(!available)('GraphiQL in a browser', () => {
  let stack: Stack;
  let browser: Browser;
  // The emulator's clock stands still until the test moves it on: a job stays in its phase while the browser works,
  // however slow the machine, and reaches the next one the moment the test says, without waiting through it.
  let emulatorNow = Date.now();
  const PHASE_MS = 1_000;
  const advance = (ms: number) => (emulatorNow += ms);

  beforeAll(async () => {
    // Demo mode: GraphiQL opens with the workflow tabs on the emulator's seeded data.
    stack = await startStack({
      mode: 'demo',
      env: { POLL_INTERVAL_MS: '100' },
      emulator: { now: () => emulatorNow, phaseDurationsMs: { pending: PHASE_MS, queuing: PHASE_MS, running: PHASE_MS } },
    });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it('opens with the first workflow tab, runs it, and loads nothing from outside', async () => {
    const page = await browser.newPage();
    const foreign: string[] = [];
    page.on('request', (request) => {
      if (!/^(data:|blob:)/.test(request.url()) && !request.url().startsWith(stack.url)) foreign.push(request.url());
    });
    // What the first load costs on the wire: the page and its files, as Chromium received them (compressed).
    const loads: Array<Promise<{ path: string; bytes: number; encoding: string | undefined }>> = [];
    page.on('requestfinished', (request) => {
      const path = request.url().slice(stack.url.length);
      if (request.url().startsWith(stack.url) && request.method() === 'GET') {
        loads.push(
          Promise.all([request.sizes(), request.response()]).then(([sizes, response]) => ({
            path,
            bytes: sizes.responseBodySize,
            encoding: response?.headers()['content-encoding'],
          })),
        );
      }
    });
    await page.goto(`${stack.url}/graphql`);
    await page.locator('.graphiql-execute-button').click();
    // The result pane is a code editor: its text uses non-breaking spaces.
    const resultText = async () => (await page.locator('.result-window').textContent())?.replace(/\s+/g, ' ');
    await expect.poll(resultText, { timeout: 15_000 }).toContain('"hasNextPage": true');
    expect(foreign).toEqual([]);
    const loaded = await Promise.all(loads);
    // Yoga's page inlined all of GraphiQL: 9 MB, uncompressed, for every visit. Now a small page and brotli'd files.
    expect(loaded.map((load) => load.path)).toEqual(
      expect.arrayContaining(['/graphql', expect.stringMatching(/^\/graphiql-assets\/graphiql\.[0-9a-f]{16}\.js$/)]),
    );
    expect(loaded.filter((load) => load.path.startsWith('/graphiql-assets/')).every((load) => load.encoding === 'br')).toBe(true);
    expect(loaded.reduce((sum, load) => sum + load.bytes, 0)).toBeLessThan(2_300_000);
  });

  /** Opens GraphiQL with an operation in the editor (GraphiQL reads `?query=`), runs it, returns the result pane. */
  async function run(page: Page, operation: string) {
    await page.goto(`${stack.url}/graphql?query=${encodeURIComponent(operation)}`);
    await page.locator('.graphiql-execute-button').click();
    return async () => (await page.locator('.result-window').textContent())?.replace(/\s+/g, ' ') ?? '';
  }

  it('walks the GraphiQL steps of docs/api.md: create a job, watch it to SUCCEEDED, then cancel another one from a second tab', async () => {
    const page = await browser.newPage();
    const created = await run(
      page,
      'mutation { createFineTuneJob(input: { model: "qwen3-8b", trainingFileIds: ["file-ft-demo"], hyperParameters: { nEpochs: 1, batchSize: 8, maxLength: 2048 } }) { id status } }',
    );
    await expect.poll(created, { timeout: 15_000 }).toContain('"status": "PENDING"');
    const id = /"id": "(ft-[^"]+)"/.exec(await created())![1]!;

    const watched = await run(page, `subscription { fineTuneJobUpdated(id: "${id}") { status } }`);
    await expect.poll(watched, { timeout: 15_000 }).toContain('"status": "PENDING"');
    advance(PHASE_MS);
    await expect.poll(watched, { timeout: 15_000 }).toContain('"status": "QUEUING"');
    advance(2 * PHASE_MS);
    await expect.poll(watched, { timeout: 15_000 }).toContain('"status": "SUCCEEDED"');

    const second = await run(
      page,
      'mutation { createFineTuneJob(input: { model: "qwen3-8b", trainingFileIds: ["file-ft-demo"], hyperParameters: { nEpochs: 1, batchSize: 8, maxLength: 2048 } }) { id } }',
    );
    await expect.poll(second, { timeout: 15_000 }).toContain('"id"');
    const other = /"id": "(ft-[^"]+)"/.exec(await second())![1]!;
    const watching = await run(page, `subscription { fineTuneJobUpdated(id: "${other}") { status } }`);
    await expect.poll(watching, { timeout: 15_000 }).toContain('"status": "PENDING"');
    const tab = await browser.newPage();
    const canceled = await run(tab, `mutation { cancelFineTuneJob(id: "${other}") { status } }`);
    await expect.poll(canceled, { timeout: 15_000 }).toContain('"status": "CANCELING"');
    // The emulator keeps a cancelled job CANCELING for 2 s of its clock.
    advance(60_000);
    await expect.poll(watching, { timeout: 15_000 }).toContain('"status": "CANCELED"');
  }, 60_000);

  it('runs the demo tabs in order as they stand: files, create, watch, export a checkpoint, deploy and watch it', async () => {
    const page = await browser.newPage();
    await page.goto(`${stack.url}/graphql`);
    const tabs = page.locator('.graphiql-tab-button');
    await expect
      .poll(() => tabs.allTextContents(), { timeout: 15_000 })
      .toEqual(['TrainingFiles', 'CreateJob', 'WatchJob', 'Checkpoints', 'Deploy']);
    const result = async () => (await page.locator('.result-window').textContent())?.replace(/\s+/g, ' ') ?? '';
    const open = async (index: number) => {
      // By keyboard, as a user tabbing through: the tab bar reorders on drag, which a synthetic pointer click trips.
      await tabs.nth(index).focus();
      await page.keyboard.press('Enter');
      const name = (await tabs.nth(index).textContent())!;
      await expect.poll(() => page.locator('.graphiql-tab-active .graphiql-tab-button').textContent()).toBe(name);
      // Run only once the editor holds the tab's operations (GraphiQL picks the operation to run from them).
      const editor = async () => (await page.locator('.graphiql-query-editor .view-lines').textContent())?.replace(/\s+/g, ' ');
      await expect.poll(editor).toContain(` ${name}(`);
    };
    /**
     * Runs one of the tab's operations: the cursor put in it, then the play button. GraphiQL settles which operation
     * a tab runs a moment after the tab opens; the cursor settles it at once. In a tab with several operations the
     * play button asks which one (`pick`).
     */
    const execute = async (operation: string, { pick = false } = {}) => {
      await page
        .locator('.graphiql-query-editor .view-line', { hasText: new RegExp(`(query|mutation|subscription)\\s${operation}\\(`) })
        .click({ position: { x: 30, y: 5 } });
      await page.locator('.graphiql-execute-button').click();
      if (pick) await page.getByRole('menuitem', { name: operation, exact: true }).click();
    };

    await execute('TrainingFiles');
    await expect.poll(result, { timeout: 15_000 }).toContain('"id": "file-ft-demo"');

    await open(1);
    await execute('CreateJob');
    await expect.poll(result, { timeout: 15_000 }).toMatch(/"createFineTuneJob": \{ "id": "ft-[^"]+", "status": "PENDING"/);

    await open(2);
    await execute('WatchJob');
    await expect.poll(result, { timeout: 15_000 }).toContain('"status": "SUCCEEDED"');

    await open(3);
    await execute('ExportCheckpoint', { pick: true });
    await expect.poll(result, { timeout: 15_000 }).toContain('"status": "PROCESSING"');
    advance(5_000); // the emulator makes an exported model in 3 s
    await execute('Checkpoints', { pick: true });
    await expect.poll(result, { timeout: 15_000 }).toContain('"modelDisplayName": "paper-boat-80"');

    await open(4);
    await execute('Deploy', { pick: true });
    await expect.poll(result, { timeout: 15_000 }).toMatch(/"createDeployment": \{ "id": "[^"]+", "status": "PENDING"/);
    await execute('WatchDeployment', { pick: true });
    await expect.poll(result, { timeout: 15_000 }).toContain('"deploymentUpdated"');
    advance(2 * PHASE_MS);
    await expect.poll(result, { timeout: 15_000 }).toContain('"status": "RUNNING"');
  }, 60_000);
});
