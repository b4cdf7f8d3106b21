import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TOKENIZER_JSON } from '../scripts/token-reference.js';

/*
 * A chat fine-tuning dataset for the token bench, the same bytes on every run: rows of a system prompt (one of a
 * few, as real datasets repeat theirs), a user question and a longer assistant answer, in English, Chinese, code, or a
 * mix with emoji and numbers. Words are drawn from Qwen3's own vocabulary (its English words and its Chinese words),
 * by a Zipf law over their merge order: BPE merges frequent strings first, so a token's id stands for its frequency
 * rank, and the counter's cache meets the long tail of rare words a real dataset has.
 */

/** mulberry32: small, seeded, good enough for test data. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Picks from a list ordered by frequency, with P(rank r) ~ 1/r (inverse transform of the continuous Zipf law). */
function zipf<T>(items: readonly T[], next: () => number): () => T {
  const n = items.length;
  return () => items[Math.min(n - 1, Math.floor(Math.exp(next() * Math.log(n + 1)) - 1))]!;
}

function lexicon(): { english: string[]; chinese: string[] } {
  const { model } = JSON.parse(readFileSync(TOKENIZER_JSON, 'utf8')) as { model: { vocab: Record<string, number> } };
  const byId = Object.entries(model.vocab).sort((a, b) => a[1] - b[1]);
  // Byte-level BPE writes a leading space as "Ġ", and other bytes as Latin-1-like characters (BYTE_OF below).
  const english = byId.filter(([t]) => /^Ġ[a-z]{2,}$/.test(t)).map(([t]) => t.slice(1));
  const chinese: string[] = [];
  for (const [token] of byId) {
    const bytes = Buffer.from([...token].map((c) => byteOf(c.codePointAt(0)!)));
    const text = bytes.toString('utf8');
    if (/^\p{Script=Han}{1,4}$/u.test(text)) chinese.push(text);
  }
  return { english, chinese };
}

/** GPT-2's byte-to-character table, reversed. */
const BYTE_OF = (() => {
  const table = new Map<number, number>();
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let extra = 0;
  for (let b = 0; b < 256; b++) table.set(printable(b) ? b : 256 + extra++, b);
  return table;
})();
function byteOf(codePoint: number): number {
  return BYTE_OF.get(codePoint) ?? 0;
}

const SYSTEM_PROMPTS = [
  'You are a helpful assistant.',
  'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.',
  '你是一个乐于助人的助手。请用简洁、准确的中文回答。',
  'You are an expert programmer. Answer with working code and a short explanation.',
];
const EMOJI = ['🙂', '🚀', '👍', '🎉', '✅', '🤖', '👨‍💻', '🇨🇳', '❤️', '📦'];
const CODE_KEYWORDS = ['const', 'let', 'return', 'if', 'for', 'function', 'await', 'import', 'def', 'class', 'print'];

function writer(seed: number) {
  const next = random(seed);
  const { english, chinese } = lexicon();
  const word = zipf(english, next);
  const hanzi = zipf(chinese, next);
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;
  const between = (low: number, high: number) => low + Math.floor(next() * (high - low + 1));

  const sentence = () => {
    const words = Array.from({ length: between(6, 22) }, word);
    words[0] = words[0]!.charAt(0).toUpperCase() + words[0]!.slice(1);
    if (next() < 0.1) words.push(String(between(1, 100_000)));
    return words.join(' ') + pick(['.', '.', '.', '?', '!', ':', ',']);
  };
  const clause = () => Array.from({ length: between(3, 9) }, hanzi).join('');
  const chineseSentence = () =>
    Array.from({ length: between(1, 4) }, clause).join('，') + pick(['。', '。', '？', '！', '：']) + (next() < 0.1 ? pick(EMOJI) : '');
  const codeLine = (indent: number) => {
    const name = `${word()}${word().charAt(0).toUpperCase()}${word().slice(1)}`;
    const line = pick([
      `${pick(CODE_KEYWORDS)} ${name} = ${word()}(${name}, ${between(0, 999)});`,
      `if (${name}.length > ${between(1, 64)}) {`,
      `return ${name}.map((x) => x * ${between(2, 9)});`,
      `// ${sentence()}`,
      `${name}: ${pick(['string', 'number', 'boolean'])},`,
      `print(f"{${name}!r}")`,
    ]);
    return '    '.repeat(indent) + line;
  };
  const code = () =>
    ['```' + pick(['ts', 'python', 'js']), ...Array.from({ length: between(3, 16) }, () => codeLine(between(0, 3))), '```'].join('\n');

  const english_ = (n: number) => Array.from({ length: n }, sentence).join(' ');
  const chinese_ = (n: number) => Array.from({ length: n }, chineseSentence).join('');
  return () => {
    const kind = next();
    let user: string;
    let assistant: string;
    if (kind < 0.4) {
      user = english_(between(1, 3));
      assistant = Array.from({ length: between(1, 4) }, () => english_(between(2, 6))).join('\n\n');
    } else if (kind < 0.75) {
      user = chinese_(between(1, 3));
      assistant = Array.from({ length: between(1, 4) }, () => chinese_(between(2, 6))).join('\n\n');
    } else if (kind < 0.9) {
      user = english_(1) + ' ' + code();
      assistant = english_(between(1, 2)) + '\n\n' + code() + '\n\n' + english_(1);
    } else {
      user = `${chinese_(1)} ${english_(1)} ${pick(EMOJI)}`;
      assistant = `${chinese_(2)}\n- ${english_(1)}\n- ${between(1, 9999)} × ${between(1, 99)} = ?\n${code()}`;
    }
    const messages = [
      { role: 'system', content: pick(SYSTEM_PROMPTS) },
      { role: 'user', content: user },
      { role: 'assistant', content: assistant },
    ];
    return `${JSON.stringify({ messages })}\n`;
  };
}

/** The path of a dataset of about `megabytes` MB, written once under the system's temp folder and reused. */
export async function benchDataset(megabytes: number, seed = 20): Promise<string> {
  const dir = join(tmpdir(), 'finetune-gateway-bench');
  const path = join(dir, `tokens-${megabytes}mb-${seed}.jsonl`);
  if (existsSync(path) && statSync(path).size >= megabytes * 1e6) return path;
  mkdirSync(dir, { recursive: true });
  const partial = `${path}.partial`;
  const out = createWriteStream(partial);
  const row = writer(seed);
  let written = 0;
  while (written < megabytes * 1e6) {
    const line = row();
    written += Buffer.byteLength(line);
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  renameSync(partial, path);
  return path;
}
