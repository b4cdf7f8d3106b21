import { inflateRawSync } from 'node:zlib';
import data from './qwen3-vocab.json' with { type: 'json' };
import { MergeTable } from './bpe.js';
import { preTokenizerPattern, rangesToClass } from './pattern.js';

/**
 * Qwen3's tokenizer as the counter needs it, decoded from qwen3-vocab.json. That file is derived by
 * scripts/token-vocab.ts from Qwen3's tokenizer.json (Apache-2.0) and the reference implementation, Hugging Face
 * `tokenizers`: the merges (ids only: a count needs no token text), the added tokens, and the Unicode classes of the
 * pre-tokenizer regex and of NFC as the reference sees them, so that Node's own Unicode version changes nothing.
 */
export interface Vocabulary {
  readonly merges: MergeTable;
  /** The id of each byte's one-byte token (byte-level BPE's alphabet). */
  readonly byteIds: Int32Array;
  /** Matched in the raw text before anything else, each one token: `<|im_start|>`, `<|im_end|>`, `<think>`, … */
  readonly addedTokens: readonly string[];
  /** Qwen2/3's pre-tokenizer split, in JavaScript syntax with the reference's character classes (flags `gu`). */
  readonly preTokenizer: RegExp;
  /** Characters Node's NFC composes or reorders and the reference's older Unicode data does not know. */
  readonly nfcBarriers: RegExp;
}

let loaded: Vocabulary | undefined;

/** Decoded once per thread (about 30 ms) and shared: the data never changes. */
export function qwen3Vocabulary(): Vocabulary {
  if (loaded) return loaded;
  const packed = inflateRawSync(Buffer.from(data.merges, 'base64'));
  const pairs = new Uint32Array(packed.length / 4);
  for (let i = 0; i < pairs.length; i++) pairs[i] = packed.readUInt32LE(i * 4);
  loaded = {
    merges: new MergeTable(pairs, data.byteIds.length),
    byteIds: Int32Array.from(data.byteIds),
    addedTokens: data.addedTokens.map((token) => token.content),
    preTokenizer: preTokenizerPattern(data.classes),
    // An empty class is no valid regex: `(?!)` matches nothing.
    nfcBarriers: new RegExp(data.nfcBarriers ? `[${rangesToClass(data.nfcBarriers)}]` : '(?!)', 'u'),
  };
  return loaded;
}

/** What the counts are counted with, for the record kept beside a count. */
export const TOKENIZER_NAME = `${data.name} (tokenizer.json sha256 ${data.tokenizerSha256.slice(0, 12)})`;
