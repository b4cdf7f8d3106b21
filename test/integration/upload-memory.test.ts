import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';

/*
 * The upload is streamed: a 200 MB file raises the gateway's peak RSS by less than 50 MB, also when DashScope reads it
 * slowly (the gateway must then slow the client, not hold what it sent). The gateway runs alone in a child process
 * (test/support/gateway-process.ts) and reports its own VmHWM; the emulator runs here and only counts what it reads.
 * The 200 MB are made as they are sent, 64 KiB at a time, never held by this process either.
 */

const CHILD = fileURLToPath(new URL('../support/gateway-process.ts', import.meta.url));
const FILE_BYTES = 200 * 1024 * 1024;
const MAX_GROWTH_KB = 50 * 1024;
const LINE = '{"messages":[{"role":"user","content":"What is 2+2?"},{"role":"assistant","content":"4"}]}\n';
const BLOCK = Buffer.from(LINE.repeat(Math.floor(65_536 / LINE.length)));

/** A multipart upload of `fileBytes` of JSONL, generated as the request body is pulled (chunked: no Content-Length). */
function uploadBody(fileBytes: number, boundary: string, progress: { sent: number } = { sent: 0 }): ReadableStream<Uint8Array> {
  const operations = JSON.stringify({
    query: 'mutation($file: File!) { uploadTrainingFile(file: $file) { id bytes } }',
    variables: { file: null },
  });
  const head =
    `--${boundary}\r\ncontent-disposition: form-data; name="operations"\r\n\r\n${operations}\r\n` +
    `--${boundary}\r\ncontent-disposition: form-data; name="map"\r\n\r\n{"0":["variables.file"]}\r\n` +
    `--${boundary}\r\ncontent-disposition: form-data; name="0"; filename="big.jsonl"\r\ncontent-type: application/jsonl\r\n\r\n`;
  let sent = -1;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (sent < 0) {
          sent = 0;
          return controller.enqueue(new TextEncoder().encode(head));
        }
        if (sent >= fileBytes) {
          controller.enqueue(new TextEncoder().encode(`\r\n--${boundary}--\r\n`));
          return controller.close();
        }
        const size = Math.min(BLOCK.length, fileBytes - sent);
        sent += size;
        progress.sent = sent;
        controller.enqueue(new Uint8Array(BLOCK.subarray(0, size)));
      },
    },
    { highWaterMark: 0 },
  );
}

describe('a 200 MB upload through a gateway process of its own', () => {
  let emulator: Emulator;
  let child: ChildProcessByStdio<Writable, Readable, null>;
  let url: string;
  let lines: AsyncIterator<string>;
  const ask = async (command: string) => {
    child.stdin.write(`${command}\n`);
    return JSON.parse((await lines.next()).value as string) as { rssKb: number; peakKb: number };
  };

  beforeAll(async () => {
    emulator = await startEmulator();
    // The node options `npm start` runs the gateway with (production's heap settings).
    const nodeOptions = readFileSync(new URL('../../.node-options', import.meta.url), 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    child = spawn(process.execPath, [...nodeOptions, '--import', 'tsx', CHILD], {
      env: {
        ...process.env,
        NODE_ENV: 'test',
        LOG_LEVEL: 'error',
        DASHSCOPE_BASE_URL: emulator.url,
        DASHSCOPE_API_KEY: emulator.demoApiKey,
        UPLOAD_MAX_BYTES: String(FILE_BYTES + 1024),
        OPERATION_DEADLINE_MS: '120000',
        HTTP_REQUEST_TIMEOUT_MS: '120000',
        // A stalled upstream is given up on after this long without progress (undici refreshes it on each write).
        UPSTREAM_HEADERS_TIMEOUT_MS: '4000',
      },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    url = (JSON.parse((await lines.next()).value as string) as { url: string }).url;
  }, 60_000);
  afterAll(async () => {
    if (child.exitCode === null) {
      child.stdin.write('close\n');
      await once(child, 'exit');
    }
    await emulator.close();
  });
  beforeEach(() => emulator.clearFaults());

  /** Files named big.jsonl the emulator holds: each upload that succeeded. */
  let uploadsMade = 0;
  const upload = async (bytes: number) => {
    const boundary = 'memory-test-boundary';
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'graphql-preflight': '1' },
      body: uploadBody(bytes, boundary),
      duplex: 'half',
    } as RequestInit);
    const result = (await response.json()) as { data?: { uploadTrainingFile: { id: string; bytes: number } }; errors?: unknown[] };
    if (result.data) uploadsMade++;
    return result;
  };

  /** Uploads, and answers how far the gateway's peak RSS rose above its RSS before. */
  const growthKb = async (bytes: number) => {
    // Warmed up first: the first sizeable stream grows V8's heap to its working size once, ~45 MB whatever the size
    // (a 20 MB upload then costs the same as a 200 MB one), and each later upload adds next to nothing.
    await upload(16 * 1024 * 1024);
    const before = await ask('reset');
    const result = await upload(bytes);
    expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
    expect(result.data?.uploadTrainingFile.bytes).toBe(bytes);
    const after = await ask('read');
    console.info(`RSS before ${(before.rssKb / 1024).toFixed(1)} MB, peak during ${(after.peakKb / 1024).toFixed(1)} MB`);
    return after.peakKb - before.rssKb;
  };

  it('raises the peak RSS by less than 50 MB', async () => {
    const growth = await growthKb(FILE_BYTES);
    console.info(`200 MB upload: the gateway's peak RSS rose by ${(growth / 1024).toFixed(1)} MB`);
    expect(growth).toBeLessThan(MAX_GROWTH_KB);
  }, 120_000);

  it('when DashScope stops reading, the client is held after a few MB; the upload then fails by the upstream timeout', async () => {
    emulator.injectFault({ match: { route: 'file-upload' }, fault: { kind: 'hang' }, times: 1 });
    const files = emulator.stats().byRoute['file-upload'] ?? 0;
    const progress = { sent: 0 };
    const boundary = 'stall-boundary';
    const answer = fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'graphql-preflight': '1' },
      body: uploadBody(FILE_BYTES, boundary, progress),
      duplex: 'half',
    } as RequestInit).then(async (response) => (await response.json()) as { errors?: Array<{ extensions?: Record<string, unknown> }> });
    // Stalled: nothing more pulled from the client's body for half a second (socket buffers filled on the way).
    let last = -1;
    let still = 0;
    for (const deadline = Date.now() + 20_000; still < 5 && Date.now() < deadline;) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      still = progress.sent === last ? still + 1 : 0;
      last = progress.sent;
    }
    console.info(`stalled upstream: the client could send ${(progress.sent / 1024 / 1024).toFixed(1)} MB of 200`);
    expect(still).toBe(5);
    // What the kernel's loopback socket buffers hold on the way (client → gateway → emulator, both directions of each
    // socket, auto-tuned up to several MB each) is the only slack: far from the 200 MB a buffering gateway would take.
    expect(progress.sent).toBeLessThan(64 * 1024 * 1024);
    expect(emulator.stats().byRoute['file-upload']).toBe(files + 1);
    // No progress upstream for UPSTREAM_HEADERS_TIMEOUT_MS: the gateway gives up, aborting the request mid-body.
    expect((await answer).errors?.[0]?.extensions).toMatchObject({ code: 'UPSTREAM_TIMEOUT' });
    const list = await fetch(`${emulator.url}/compatible-mode/v1/files`, { headers: { authorization: `Bearer ${emulator.demoApiKey}` } });
    const names = ((await list.json()) as { data: Array<{ filename: string }> }).data.map((f) => f.filename);
    expect(names.filter((n) => n === 'big.jsonl')).toHaveLength(uploadsMade);
  }, 60_000);

  it('and when DashScope waits 2 s before it reads the body: the client is slowed, not buffered for', async () => {
    emulator.injectFault({ match: { route: 'file-upload' }, fault: { kind: 'delay', ms: 2_000 }, times: 2 });
    const growth = await growthKb(FILE_BYTES);
    console.info(`200 MB upload to a slow upstream: the gateway's peak RSS rose by ${(growth / 1024).toFixed(1)} MB`);
    expect(growth).toBeLessThan(MAX_GROWTH_KB);
    expect(emulator.stats().byRoute['file-upload']).toBeGreaterThanOrEqual(2);
  }, 120_000);
});
