/**
 * Byte-level BPE with Hugging Face `tokenizers`' merge order (models/bpe/word.rs `merge_all`): repeatedly merge the
 * adjacent pair of lowest merge rank, the leftmost among equal ranks, until no pair of the word is a merge. Only the
 * number of tokens left is needed, never the ids' text.
 *
 * Qwen's merge k always makes token 256 + k (scripts/token-vocab.ts checks it), so the table maps a pair of ids to the
 * merged id and the rank is that id's order: no second table.
 */

const EMPTY = -1;

/** Open addressing over (left, right) id pairs: a Map keyed by numbers past 2^31 hashes as heap numbers, 3x slower. */
export class MergeTable {
  private readonly lefts: Int32Array;
  private readonly rights: Int32Array;
  private readonly merged: Int32Array;
  private readonly mask: number;

  /** `pairs` holds left and right ids of merge k at 2k and 2k + 1; merge k yields id `firstMergedId + k`. */
  constructor(pairs: Uint32Array, firstMergedId: number) {
    const count = pairs.length / 2;
    let size = 1;
    while (size < count * 2) size *= 2;
    this.mask = size - 1;
    this.lefts = new Int32Array(size).fill(EMPTY);
    this.rights = new Int32Array(size);
    this.merged = new Int32Array(size);
    for (let k = 0; k < count; k++) {
      const left = pairs[2 * k]!;
      const right = pairs[2 * k + 1]!;
      let slot = hash(left, right) & this.mask;
      while (this.lefts[slot] !== EMPTY) slot = (slot + 1) & this.mask;
      this.lefts[slot] = left;
      this.rights[slot] = right;
      this.merged[slot] = firstMergedId + k;
    }
  }

  /** The id the pair merges into, or -1: lower ids are earlier merges. */
  get(left: number, right: number): number {
    let slot = hash(left, right) & this.mask;
    for (;;) {
      const found = this.lefts[slot]!;
      if (found === EMPTY) return EMPTY;
      if (found === left && this.rights[slot] === right) return this.merged[slot]!;
      slot = (slot + 1) & this.mask;
    }
  }
}

function hash(left: number, right: number): number {
  return Math.imul(left, 0x9e3779b1) ^ Math.imul(right, 0x85ebca77);
}

/** Past this many bytes a word is merged with a heap (n log n); below it a scan of cached pair ranks is faster. */
const HEAP_FROM = 128;
const NONE = 0x7fffffff;

/** Reused scratch arrays: one counter is used by one thread at a time. */
export class BpeCounter {
  private ids = new Int32Array(0);
  private ranks = new Int32Array(0);
  private prev = new Int32Array(0);
  private next = new Int32Array(0);
  private heap = new Float64Array(0);

  private reserve(length: number): void {
    if (this.ids.length >= length) return;
    const size = Math.max(256, length * 2);
    this.ids = new Int32Array(size);
    this.ranks = new Int32Array(size);
    this.prev = new Int32Array(size);
    this.next = new Int32Array(size);
    this.heap = new Float64Array(size);
  }

  constructor(
    private readonly table: MergeTable,
    private readonly byteIds: Int32Array,
  ) {}

  /** Tokens of one pre-token, given as its UTF-8 bytes. */
  count(bytes: Uint8Array, length: number): number {
    if (length <= 1) return length;
    if (length >= HEAP_FROM) return this.countLong(bytes, length);
    this.reserve(length);
    // Symbols as a list linked through `next` (merging unlinks, nothing shifts); ranks[i]: the pair starting at i.
    const { ids, ranks, next, table, byteIds } = this;
    for (let i = 0; i < length; i++) {
      ids[i] = byteIds[bytes[i]!]!;
      next[i] = i + 1;
    }
    for (let i = 0; i < length - 1; i++) ranks[i] = rankOf(table.get(ids[i]!, ids[i + 1]!));
    ranks[length - 1] = NONE;
    let n = length;
    for (;;) {
      let best = NONE;
      let at = -1;
      let before = -1;
      for (let i = 0, previous = -1; i < length; previous = i, i = next[i]!) {
        if (ranks[i]! < best) {
          best = ranks[i]!;
          at = i;
          before = previous;
        }
      }
      if (at < 0) return n;
      ids[at] = best;
      const after = next[next[at]!]!;
      next[at] = after;
      n--;
      ranks[at] = after < length ? rankOf(table.get(best, ids[after]!)) : NONE;
      if (before >= 0) ranks[before] = rankOf(table.get(ids[before]!, best));
    }
  }

  /** word.rs' way: symbols in a linked list, candidate merges in a min-heap of (rank, position), stale ones skipped. */
  private countLong(bytes: Uint8Array, length: number): number {
    this.reserve(length);
    const { ids, prev, next, table, byteIds } = this;
    for (let i = 0; i < length; i++) {
      ids[i] = byteIds[bytes[i]!]!;
      prev[i] = i - 1;
      next[i] = i + 1 < length ? i + 1 : -1;
    }
    const heap = new MinHeap(this.heap);
    for (let i = 0; i < length - 1; i++) {
      const merged = table.get(ids[i]!, ids[i + 1]!);
      if (merged !== EMPTY) heap.push(merged * 2 ** 32 + i);
    }
    let n = length;
    while (heap.size > 0) {
      const top = heap.pop();
      const at = top % 2 ** 32;
      const merged = (top - at) / 2 ** 32;
      const right = next[at]!;
      // Stale: the left symbol was merged into its neighbour, or either side changed since the entry was pushed.
      if (ids[at] === EMPTY || right < 0 || table.get(ids[at]!, ids[right]!) !== merged) continue;
      ids[at] = merged;
      ids[right] = EMPTY;
      const after = next[right]!;
      next[at] = after;
      if (after >= 0) prev[after] = at;
      n--;
      const before = prev[at]!;
      if (before >= 0) {
        const left = table.get(ids[before]!, merged);
        if (left !== EMPTY) heap.push(left * 2 ** 32 + before);
      }
      if (after >= 0) {
        const rightMerge = table.get(merged, ids[after]!);
        if (rightMerge !== EMPTY) heap.push(rightMerge * 2 ** 32 + at);
      }
    }
    return n;
  }
}

function rankOf(merged: number): number {
  return merged === EMPTY ? NONE : merged;
}

/** A binary min-heap of numbers on a caller's array, which grows when full. */
class MinHeap {
  size = 0;
  constructor(private items: Float64Array) {}

  push(value: number): void {
    if (this.size === this.items.length) {
      const grown = new Float64Array(this.items.length * 2 + 16);
      grown.set(this.items);
      this.items = grown;
    }
    const items = this.items;
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent]! <= value) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = value;
  }

  pop(): number {
    const items = this.items;
    const top = items[0]!;
    const last = items[--this.size]!;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= this.size) break;
      if (child + 1 < this.size && items[child + 1]! < items[child]!) child++;
      if (items[child]! >= last) break;
      items[i] = items[child]!;
      i = child;
    }
    items[i] = last;
    return top;
  }
}
