import { countJsonlLine } from './chat-row.js';
import { TextCounter } from './text-counter.js';

/**
 * A worker thread's task (piscina): the tokens of a batch of whole JSONL lines. One counter per thread: the vocabulary
 * is decoded once when the thread starts, and the counter's scratch memory is reused by each batch in turn.
 */

export interface BatchTask {
  /** Whole lines, each ending in "\n" but perhaps the last line of the file. */
  bytes: Uint8Array;
  maxProblems: number;
}

export interface BatchCount {
  rows: number;
  tokens: number;
  invalidRows: number;
  /** Line numbers are 1-based within the batch; the caller adds where the batch starts. */
  problems: { line: number; message: string }[];
}

const counter = new TextCounter();
const decoder = new TextDecoder();

export default function countBatch({ bytes, maxProblems }: BatchTask): BatchCount {
  const result: BatchCount = { rows: 0, tokens: 0, invalidRows: 0, problems: [] };
  const lines = decoder.decode(bytes).split('\n');
  for (const [i, raw] of lines.entries()) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    // A blank line (the file's last "\n" makes one) is no row and no problem.
    if (line.trim() === '') continue;
    const count = countJsonlLine(counter, line);
    if ('tokens' in count) {
      result.rows++;
      result.tokens += count.tokens;
    } else {
      result.invalidRows++;
      if (result.problems.length < maxProblems) result.problems.push({ line: i + 1, message: count.problem });
    }
  }
  return result;
}
