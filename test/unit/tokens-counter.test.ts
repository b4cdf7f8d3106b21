import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { createTokenCounter } from '../../src/platform/tokens/token-counter.js';

/*
 * The worker-thread counter (src/platform/tokens/token-counter.ts) on streams cut anywhere: its totals equal the
 * reference's recorded counts, bad lines are reported by their line numbers, and failures resolve, never throw.
 */

const FIXTURES = new URL('../fixtures/tokens/', import.meta.url);
const recorded = JSON.parse(readFileSync(new URL('counts.json', FIXTURES), 'utf8')) as {
  datasets: Record<string, { chatml: number[] }>;
};
const counter = createTokenCounter({ maxThreads: 2, batchBytes: 4096, maxLineBytes: 64 * 1024 });
afterAll(() => counter.close());

/** A stream of the bytes in chunks of `size`, cutting lines and UTF-8 characters anywhere. */
function chunks(bytes: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) parts.push(bytes.subarray(at, at + size));
  return Readable.from(parts);
}
const fixture = (file: string) => readFileSync(new URL(file, FIXTURES));
const sum = (numbers: number[]) => numbers.reduce((a, b) => a + b, 0);

describe('createTokenCounter', () => {
  it('counts every fixture dataset as the reference did, however the stream is cut', async () => {
    for (const [file, { chatml }] of Object.entries(recorded.datasets)) {
      // long.jsonl's lines are longer than this counter's maxLineBytes.
      if (file === 'long.jsonl') continue;
      for (const size of [1, 7, 1000, 1 << 20]) {
        const result = await counter.countJsonl(chunks(fixture(file), size));
        expect(result, `${file} in chunks of ${size}`).toMatchObject({
          status: 'READY',
          rows: chatml.length,
          invalidRows: 0,
          tokens: sum(chatml),
        });
      }
    }
  });

  it('reports the lines it cannot count by their line numbers, and counts the rest', async () => {
    const good = fixture('english.jsonl').toString().split('\n').filter(Boolean);
    const { chatml } = recorded.datasets['english.jsonl']!;
    const lines = ['\ufeff' + good[0], '{"messages": [', '', good[1], '{"prompt": "x"}', good[2] + '\r', ...good.slice(3)];
    const result = await counter.countJsonl(chunks(Buffer.from(lines.join('\n')), 5));
    expect(result).toMatchObject({
      status: 'READY',
      rows: good.length,
      tokens: sum(chatml),
      invalidRows: 2,
      problems: [
        { line: 2, message: 'not valid JSON' },
        { line: 5, message: 'no "messages" array' },
      ],
    });
  });

  it('skips a line longer than maxLineBytes without holding it, and numbers the lines after it', async () => {
    const row = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] });
    const long = JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(200_000) }] });
    const result = await counter.countJsonl(chunks(Buffer.from([row, long, row, 'oops', row].join('\n')), 3000));
    expect(result).toMatchObject({
      status: 'READY',
      rows: 3,
      invalidRows: 2,
      problems: [
        { line: 2, message: `longer than ${64 * 1024} bytes: not counted` },
        { line: 4, message: 'not valid JSON' },
      ],
    });
  });

  it('fails cleanly on time-out, while still reading the source to its end', async () => {
    const slow = createTokenCounter({ maxThreads: 1, timeoutMs: 50 });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let readToEnd = false;
    async function* source() {
      yield Buffer.from('{"messages": [{"role": "user", "content": "hi"}]}\n');
      await released; // The upload is still streaming when the count's time is up.
      yield Buffer.from('{"messages": [{"role": "user", "content": "again"}]}\n');
      readToEnd = true;
    }
    const drained = source();
    const result = await slow.countJsonl(drained);
    expect(result).toMatchObject({ status: 'FAILED', reason: 'counting took longer than 50 ms' });
    release();
    await expect.poll(() => readToEnd).toBe(true);
    await slow.close();
  });

  it('fails cleanly when the source fails, or when the caller stops it', async () => {
    const broken = new Readable({
      read() {
        this.push(Buffer.from('{"messages": [{"role": "user", "content": "hi"}]}\n'));
        this.destroy(new Error('client went away'));
      },
    });
    await expect(counter.countJsonl(broken)).resolves.toMatchObject({
      status: 'FAILED',
      reason: 'the dataset could not be read: client went away',
    });
    const stopped = await counter.countJsonl(chunks(fixture('mixed.jsonl'), 100), AbortSignal.abort('upload cancelled'));
    expect(stopped).toMatchObject({ status: 'FAILED', reason: 'counting was stopped: upload cancelled' });
  });
});
