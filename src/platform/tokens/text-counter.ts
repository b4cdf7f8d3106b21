import { BpeCounter } from './bpe.js';
import { nfcWithBarriers } from './nfc.js';
import { qwen3Vocabulary, type Vocabulary } from './vocabulary.js';

/**
 * Counts Qwen3 tokens of a text exactly as Hugging Face `tokenizers` encodes it with Qwen3's tokenizer.json: added
 * tokens (`<|im_start|>`, …) matched first in the raw text, leftmost and longest, one token each; the text between them
 * NFC-normalized, split by the pre-tokenizer regex, and each piece's UTF-8 bytes merged by byte-level BPE.
 *
 * No cache of pieces' counts: measured on the bench dataset, a Map lookup keyed by each fresh piece string (hashed on
 * every lookup) cost as much as merging the piece, and the cache made counting slower at every size tried
 * (docs/tokens.md).
 */
export class TextCounter {
  private readonly bpe: BpeCounter;
  private readonly encoder = new TextEncoder();
  private bytes = new Uint8Array(1024);

  constructor(private readonly vocabulary: Vocabulary = qwen3Vocabulary()) {
    this.bpe = new BpeCounter(vocabulary.merges, vocabulary.byteIds);
  }

  /** Tokens of `text` encoded alone, with no special tokens added around it. */
  count(text: string): number {
    let total = 0;
    let from = 0;
    for (let at = text.indexOf('<'); at >= 0; at = text.indexOf('<', at + 1)) {
      const length = this.addedTokenAt(text, at);
      if (length === 0) continue;
      total += this.countPlain(text.slice(from, at)) + 1;
      from = at + length;
      at = from - 1;
    }
    return total + this.countPlain(from === 0 ? text : text.slice(from));
  }

  /** The length of the longest added token starting at `at` (tokenizers' leftmost-longest match), or 0. */
  private addedTokenAt(text: string, at: number): number {
    let longest = 0;
    for (const token of this.vocabulary.addedTokens) {
      if (token.length > longest && text.startsWith(token, at)) longest = token.length;
    }
    return longest;
  }

  private countPlain(text: string): number {
    if (text.length === 0) return 0;
    const normalized = nfcWithBarriers(text, this.vocabulary.nfcBarriers);
    const pattern = this.vocabulary.preTokenizer;
    pattern.lastIndex = 0;
    let total = 0;
    let end = 0;
    for (let match = pattern.exec(normalized); match !== null; match = pattern.exec(normalized)) {
      // The regex matches every character, so no gap is left between pieces; a gap would be a piece of its own.
      if (match.index > end) total += this.countPiece(normalized.slice(end, match.index));
      total += this.countPiece(match[0]);
      end = pattern.lastIndex;
    }
    if (end < normalized.length) total += this.countPiece(normalized.slice(end));
    return total;
  }

  private countPiece(piece: string): number {
    const length = piece.length;
    if (this.bytes.length < length * 3) this.bytes = new Uint8Array(length * 3);
    const bytes = this.bytes;
    let written = 0;
    for (; written < length; written++) {
      const unit = piece.charCodeAt(written);
      if (unit >= 0x80) break;
      bytes[written] = unit;
    }
    // UTF-8 takes at most 3 bytes per UTF-16 unit (a surrogate pair's 4 bytes are 2 units); a lone surrogate becomes
    // U+FFFD, as it does on its way into the reference's Rust strings.
    if (written < length) written = this.encoder.encodeInto(piece, bytes).written;
    return this.bpe.count(bytes, written);
  }
}
