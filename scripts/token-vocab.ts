import { readFileSync, writeFileSync } from 'node:fs';
import { deflateRawSync } from 'node:zlib';
import { format, resolveConfig } from 'prettier';
import { endianness } from 'node:os';
import { nfcWithBarriers } from '../src/platform/tokens/nfc.js';
import { preTokenizerPattern, rangesToClass, type CodePointClasses } from '../src/platform/tokens/pattern.js';
import { referenceTokenizer, REFERENCE, TOKENIZER_JSON, TOKENIZER_PACKAGE, tokenizerSha256 } from './token-reference.js';

/*
 * npx tsx scripts/token-vocab.ts — writes src/platform/tokens/qwen3-vocab.json from Qwen3's tokenizer.json.
 *
 * 1. Checks that tokenizer.json is the tokenizer the counter implements (NFC, the Qwen2/3 split regex, byte-level,
 *    BPE with merge k making token 256 + k, plain added tokens), and fails on anything else.
 * 2. Keeps what a count needs: merges as id pairs, each byte's token id, the added tokens.
 * 3. Asks the reference (Hugging Face `tokenizers`) how its regex engine classes every code point (letter, number,
 *    space, and the letters `(?i:'s|…)` folds), and which characters its NFC treats differently from this Node's,
 *    then checks the JavaScript regex and NFC built from those answers against it on every code point.
 * About two minutes. Rerun when the tokenizer, the reference or Node's Unicode version changes.
 */

const OUTPUT = new URL('../src/platform/tokens/qwen3-vocab.json', import.meta.url);
const QWEN_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

interface TokenizerJson {
  added_tokens: { id: number; content: string; single_word: boolean; lstrip: boolean; rstrip: boolean; normalized: boolean }[];
  normalizer: unknown;
  pre_tokenizer: unknown;
  post_processor: unknown;
  model: { type: string; vocab: Record<string, number>; merges: [string, string][] | string[] } & Record<string, unknown>;
}

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`tokenizer.json: ${what}`);
  console.log(`ok   ${what}`);
}

const json = JSON.parse(readFileSync(TOKENIZER_JSON, 'utf8')) as TokenizerJson;
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
check(same(json.normalizer, { type: 'NFC' }), 'normalizer is NFC');
check(
  same(json.pre_tokenizer, {
    type: 'Sequence',
    pretokenizers: [
      { type: 'Split', pattern: { Regex: QWEN_PATTERN }, behavior: 'Isolated', invert: false },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    ],
  }),
  "pre-tokenizer is Qwen2/3's regex split, then byte-level",
);
check(
  same(json.post_processor, { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false }),
  'post-processor adds no tokens',
);
const { model } = json;
check(
  model.type === 'BPE' && model.dropout === null && model.byte_fallback === false && model.ignore_merges === false,
  'model is plain BPE (no dropout, byte fallback or ignore_merges)',
);
check(model.continuing_subword_prefix === '' && model.end_of_word_suffix === '', 'no subword prefix or suffix');

// GPT-2's byte-to-character table, which byte-level BPE writes its tokens in.
const byteChars: string[] = [];
{
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let extra = 0;
  for (let b = 0; b < 256; b++) byteChars[b] = String.fromCodePoint(printable(b) ? b : 256 + extra++);
}
const byteIds = byteChars.map((char) => model.vocab[char]);
check(byteIds.every((id) => id !== undefined && id < 256) && new Set(byteIds).size === 256, 'the 256 one-byte tokens are ids 0-255');
const vocabSize = Object.keys(model.vocab).length;
const merges = model.merges.map((merge) => (typeof merge === 'string' ? (merge.split(' ') as [string, string]) : merge));
check(vocabSize === 256 + merges.length, `${vocabSize} tokens = 256 bytes + ${merges.length} merges`);
if (endianness() !== 'LE') throw new Error('merges are written as little-endian uint32: run this on a little-endian machine');
const pairs = new Uint32Array(merges.length * 2);
merges.forEach(([left, right], k) => {
  const [l, r, m] = [model.vocab[left], model.vocab[right], model.vocab[left + right]];
  if (l === undefined || r === undefined || m !== 256 + k) throw new Error(`merge ${k} (${left} ${right}) does not make token ${256 + k}`);
  pairs[2 * k] = l;
  pairs[2 * k + 1] = r;
});
check(true, 'merge k makes token 256 + k: a merge rank is the merged id');
const added = json.added_tokens;
check(
  added.every((t, i) => t.id === vocabSize + i && !t.normalized && !t.lstrip && !t.rstrip && !t.single_word),
  `${added.length} added tokens after the vocabulary, matched in the raw text as they are`,
);

const reference = referenceTokenizer();
const pre = reference.getPreTokenizer()!;
const normalizer = reference.getNormalizer()!;
const pieces = (text: string) => pre.preTokenizeString(text).length;

function toRanges(codePoints: number[]): string {
  const ranges: string[] = [];
  for (let i = 0; i < codePoints.length;) {
    let j = i;
    while (j + 1 < codePoints.length && codePoints[j + 1] === codePoints[j]! + 1) j++;
    const [from, to] = [codePoints[i]!.toString(16), codePoints[j]!.toString(16)];
    ranges.push(i === j ? from : `${from}-${to}`);
    i = j + 1;
  }
  return ranges.join(',');
}

function* codePoints(): Generator<[number, string]> {
  for (let cp = 0; cp <= 0x10ffff; cp++) if (cp < 0xd800 || cp > 0xdfff) yield [cp, String.fromCodePoint(cp)];
}

console.log(`asking ${REFERENCE} how its regex engine classes each code point…`);
const letter: number[] = [];
const number: number[] = [];
const space: number[] = [];
for (const [cp, c] of codePoints()) {
  if (pieces(`a${c}a`) === 1) letter.push(cp);
  else if (pieces(`x${c}${c}`) === 3) number.push(cp);
  // "x", c, c, "." only when c is \s; the three \s characters the other alternatives take first are added by name.
  else if (pieces(`x${c}${c}.`) === 4 || cp === 0x20 || cp === 0x0a || cp === 0x0d) space.push(cp);
}
const single: number[] = [];
const rv: number[] = [];
const e: number[] = [];
const ll: number[] = [];
for (const cp of letter) {
  const c = String.fromCodePoint(cp);
  // Three pieces: "x", the contraction, the rest; a letter that is a contraction alone is not tried as a first letter.
  if (pieces(`x'${c}yz`) === 3) single.push(cp);
  else if (pieces(`x'${c}eyz`) === 3) rv.push(cp);
  else if (pieces(`x'${c}lyz`) === 3) ll.push(cp);
  if (pieces(`x'r${c}yz`) === 3) e.push(cp);
}
const classes: CodePointClasses = {
  letter: toRanges(letter),
  number: toRanges(number),
  space: toRanges(space),
  contractionSingle: toRanges(single),
  contractionRv: toRanges(rv),
  contractionE: toRanges(e),
  contractionL: toRanges(ll),
};
console.log(
  `letters ${letter.length}, numbers ${number.length}, spaces ${space.length}; contractions: ${[single, rv, e, ll]
    .map((set) => set.map((cp) => String.fromCodePoint(cp)).join(''))
    .join(' ')}`,
);

const jsPattern = preTokenizerPattern(classes);
const jsPieces = (text: string) => text.match(jsPattern)?.length ?? 0;
const splitProbes = (c: string) => [
  `a${c}a`,
  `x${c}${c}`,
  `x${c}${c}.`,
  ` ${c}'s ${c}'LL`,
  `${c}\n ${c} 12${c}`,
  `\t${c}  ${c}`,
  `x'${c}yz`,
  `x'${c}eyz`,
  `x'r${c}yz`,
  `x'${c}lyz`,
  `x'l${c}yz`,
];
let splitMismatches = 0;
for (const [cp, c] of codePoints()) {
  for (const probe of splitProbes(c)) {
    if (jsPieces(probe) !== pieces(probe) && splitMismatches++ < 10)
      console.log(`split differs on U+${cp.toString(16)} in ${JSON.stringify(probe)}`);
  }
}
if (splitMismatches > 0) throw new Error(`the JavaScript split differs from the reference's ${splitMismatches} times`);
check(true, `the JavaScript split equals the reference's on every code point (${splitProbes('x').length} contexts)`);

console.log(`comparing NFC (Node ${process.version}, Unicode ${process.versions.unicode}) with the reference's…`);
const nfcProbes = (c: string) => [
  c,
  `a\u0301${c}`,
  `a\u0316${c}`,
  `a${c}\u0301`,
  `a${c}\u0316`,
  `a${c}\u05b0`,
  `${c.normalize('NFD')}\u0323`,
];
const barriers = new Set<number>();
for (const [cp, c] of codePoints()) {
  if (nfcProbes(c).some((probe) => normalizer.normalizeString(probe) !== probe.normalize('NFC'))) {
    barriers.add(cp);
    // A composition Node knows and the reference does not: its starter composes with nothing for the reference.
    const decomposed = c.normalize('NFD');
    if (decomposed !== c) barriers.add(decomposed.codePointAt(0)!);
  }
}
const nfcBarriers = toRanges([...barriers].sort((a, b) => a - b));
const barrierPattern = new RegExp(`[${rangesToClass(nfcBarriers || '0')}]`, 'u');
let nfcMismatches = 0;
for (const [cp, c] of codePoints()) {
  for (const probe of [...nfcProbes(c), c.normalize('NFD'), `${c}\u0323\u0307`, `\u1100${c}\u1161`]) {
    if (nfcWithBarriers(probe, barrierPattern) !== normalizer.normalizeString(probe) && nfcMismatches++ < 10)
      console.log(`NFC differs on U+${cp.toString(16)} in ${JSON.stringify(probe)}`);
  }
}
if (nfcMismatches > 0) throw new Error(`NFC differs from the reference's ${nfcMismatches} times`);
check(true, `NFC with ${barriers.size} barrier characters equals the reference's on every code point`);

const vocabulary = {
  about: `Derived by scripts/token-vocab.ts from ${TOKENIZER_PACKAGE} models/tokenizer.json (Qwen3's tokenizer, Apache-2.0, Copyright Alibaba Cloud) and ${REFERENCE}. merges: raw-deflated little-endian uint32 (left id, right id) pairs, merge k making token 256 + k.`,
  name: 'Qwen3',
  tokenizerSha256: tokenizerSha256(),
  reference: REFERENCE,
  nodeUnicode: process.versions.unicode,
  byteIds,
  addedTokens: added.map(({ id, content }) => ({ id, content })),
  classes,
  nfcBarriers,
  merges: deflateRawSync(Buffer.from(pairs.buffer), { level: 9 }).toString('base64'),
};
// In prettier's layout, so that `npm run format:check` passes on the written file.
const options = await resolveConfig(OUTPUT.pathname);
writeFileSync(OUTPUT, await format(JSON.stringify(vocabulary), { ...options, parser: 'json' }));
console.log(`wrote ${OUTPUT.pathname}`);
