import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { format, resolveConfig } from 'prettier';
import { TextCounter } from '../src/platform/tokens/text-counter.js';
import {
  type ChatMessage,
  referenceCount,
  referenceTokenizer,
  REFERENCE,
  renderChatMl,
  TOKENIZER_PACKAGE,
  tokenizerSha256,
} from './token-reference.js';

/*
 * npx tsx scripts/token-fixtures.ts           — records the reference's counts of test/fixtures/tokens/*.jsonl in
 *                                               test/fixtures/tokens/counts.json (test/unit/tokens.test.ts checks them)
 * npx tsx scripts/token-fixtures.ts --sweep   — compares the counter with the reference on every Unicode code point
 *                                               in a few contexts, and prints the differences (none expected)
 *
 * The reference encodes each row rendered whole as ChatML, and each message's content alone (the plain-text count).
 */

const DIR = new URL('../test/fixtures/tokens/', import.meta.url);
const reference = referenceTokenizer();

async function record(): Promise<void> {
  const datasets: Record<string, { chatml: number[]; plain: number[][] }> = {};
  for (const file of readdirSync(DIR)
    .filter((name) => name.endsWith('.jsonl'))
    .sort()) {
    const rows = readFileSync(new URL(file, DIR), 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => (JSON.parse(line) as { messages: ChatMessage[] }).messages);
    const chatml: number[] = [];
    const plain: number[][] = [];
    for (const messages of rows) {
      chatml.push(await referenceCount(reference, renderChatMl(messages)));
      plain.push(await Promise.all(messages.map(({ content }) => referenceCount(reference, content))));
    }
    datasets[file] = { chatml, plain };
    console.log(`${file}: ${rows.length} rows, ${chatml.reduce((a, b) => a + b, 0)} tokens`);
  }
  const counts = { reference: REFERENCE, tokenizer: TOKENIZER_PACKAGE, tokenizerSha256: tokenizerSha256(), datasets };
  const path = new URL('counts.json', DIR).pathname;
  writeFileSync(path, await format(JSON.stringify(counts), { ...(await resolveConfig(path)), parser: 'json' }));
  console.log(`wrote ${path}`);
}

async function sweep(): Promise<void> {
  const counter = new TextCounter();
  const contexts = (c: string) => [c, `a${c}a`, ` ${c}${c}1${c}`, `'${c}s \n${c}`, `e\u0301${c}\u0316`, `中${c}文`];
  let differences = 0;
  let batch: string[] = [];
  const flush = async () => {
    const encodings = await reference.encodeBatch(batch, { addSpecialTokens: false });
    encodings.forEach((encoding, i) => {
      const text = batch[i]!;
      if (encoding.getLength() !== counter.count(text) && differences++ < 20) {
        const codePoints = [...text].map((c) => c.codePointAt(0)!.toString(16)).join(' ');
        console.log(`differs: ${codePoints}: reference ${encoding.getLength()}, counter ${counter.count(text)}`);
      }
    });
    batch = [];
  };
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    batch.push(...contexts(String.fromCodePoint(cp)));
    if (batch.length >= 6000) await flush();
    if (cp % 0x10000 === 0xffff) console.log(`plane ${cp >> 16}: ${differences} differences so far`);
  }
  await flush();
  console.log(`${differences} differences`);
  if (differences > 0) process.exitCode = 1;
}

await (process.argv.includes('--sweep') ? sweep() : record());
