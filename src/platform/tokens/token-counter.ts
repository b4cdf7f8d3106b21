import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { BatchCount, BatchTask } from './count-worker.js';
import { TOKENIZER_NAME } from './vocabulary.js';

/**
 * Counts a JSONL chat dataset's Qwen3 tokens on worker threads while it streams past, for the upload to report what a
 * job on it will cost. The main thread only cuts the stream into batches of whole lines (native newline scans); the
 * JSON parsing and counting run in the pool.
 *
 * Bounded: at most `2 × maxThreads` batches are in flight, and the source is not read further until one comes back,
 * so a slow count slows only its own reading (the caller spools, not this); a line longer than `maxLineBytes` is
 * reported and skipped, never held. It never throws: every failure (timeout, a crashed worker, the source failing)
 * resolves as `FAILED`, and after a failure the source is still read to its end and discarded, so that the other
 * reader of a tee'd upload is never held back or sent an error.
 */

export interface TokenCounterOptions {
  /** Worker threads at most; none are kept while idle. */
  maxThreads?: number;
  /** The whole count's time limit. */
  timeoutMs?: number;
  /** Lines are sent to the workers in batches of about this size. */
  batchBytes?: number;
  maxLineBytes?: number;
  /** Problems kept for the report: the first ones by line. */
  maxProblems?: number;
}

export interface DatasetProblem {
  /** 1-based. */
  line: number;
  message: string;
}

export type DatasetTokenCount =
  | { status: 'READY'; tokenizer: string; rows: number; invalidRows: number; tokens: number; problems: DatasetProblem[] }
  | { status: 'FAILED'; tokenizer: string; reason: string };

export interface TokenCounter {
  /** Counts the rows of a JSONL chat dataset. Never rejects. */
  countJsonl(source: AsyncIterable<Uint8Array | string>, signal?: AbortSignal): Promise<DatasetTokenCount>;
  /** Ends the worker threads; counts still running fail. */
  close(): Promise<void>;
}

const NEWLINE = 0x0a;

export function createTokenCounter(options: TokenCounterOptions = {}): TokenCounter {
  const maxThreads = options.maxThreads ?? Math.max(1, availableParallelism() - 1);
  const { timeoutMs = 10 * 60_000, batchBytes = 1 << 20, maxLineBytes = 32 << 20, maxProblems = 20 } = options;
  // Run from the TypeScript sources (tests, the bench), the worker needs tsx to load count-worker.ts.
  const fromSources = import.meta.url.endsWith('.ts');
  const pool = new Piscina<BatchTask, BatchCount>({
    filename: new URL(`./count-worker.${fromSources ? 'ts' : 'js'}`, import.meta.url).href,
    minThreads: 0,
    maxThreads,
    idleTimeout: 30_000,
    ...(fromSources ? { execArgv: ['--import', 'tsx'] } : {}),
  });

  function countJsonl(source: AsyncIterable<Uint8Array | string>, signal?: AbortSignal): Promise<DatasetTokenCount> {
    // The outcome is known at the first failure, even while the source still waits for its next chunk.
    return new Promise((resolve) => void count(source, resolve, signal));
  }

  async function count(
    source: AsyncIterable<Uint8Array | string>,
    resolve: (outcome: DatasetTokenCount) => void,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const deadline = AbortSignal.timeout(timeoutMs);
    const stop = signal ? AbortSignal.any([signal, deadline]) : deadline;
    let failure: string | undefined;
    const fail = (reason: string) => {
      failure ??= reason;
      resolve({ status: 'FAILED', tokenizer: TOKENIZER_NAME, reason: failure });
    };
    if (stop.aborted) fail(reasonOf(stop, deadline, timeoutMs));
    else stop.addEventListener('abort', () => fail(reasonOf(stop, deadline, timeoutMs)), { once: true });
    const batches: Promise<{ startLine: number; count: BatchCount }>[] = [];
    const inFlight = new Set<Promise<void>>();
    const overlong: DatasetProblem[] = [];
    let complete: Buffer[] = [];
    let completeBytes = 0;
    let tail: Buffer[] = [];
    let tailBytes = 0;
    let line = 1;
    let skipping = false;

    const dispatch = (parts: Buffer[]) => {
      if (parts.length === 0 || failure !== undefined) return;
      const bytes = Buffer.concat(parts);
      const startLine = line;
      line += countNewlines(bytes);
      const task = pool.run({ bytes, maxProblems }, { signal: stop }).then((count) => ({ startLine, count }));
      const settled: Promise<void> = task.then(
        () => void inFlight.delete(settled),
        (error: unknown) => {
          inFlight.delete(settled);
          fail(stop.aborted ? reasonOf(stop, deadline, timeoutMs) : `a counting thread failed: ${String(error)}`);
        },
      );
      inFlight.add(settled);
      batches.push(task);
    };

    try {
      for await (const chunk of source) {
        // After a failure, read on and discard: the source's other reader must not wait for this one.
        if (failure !== undefined) continue;
        let bytes = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        if (line === 1 && completeBytes === 0 && tailBytes === 0 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
          bytes = bytes.subarray(3); // A byte order mark before the first line is no part of its JSON.
        }
        let last = bytes.lastIndexOf(NEWLINE);
        if (skipping) {
          const end = bytes.indexOf(NEWLINE);
          if (end < 0) continue;
          skipping = false;
          bytes = bytes.subarray(end + 1);
          last -= end + 1;
          line++;
        }
        if (last < 0) {
          tail.push(bytes);
          tailBytes += bytes.length;
        } else {
          complete.push(...tail, bytes.subarray(0, last + 1));
          completeBytes += tailBytes + last + 1;
          tail = [bytes.subarray(last + 1)];
          tailBytes = bytes.length - last - 1;
        }
        if (tailBytes > maxLineBytes) {
          dispatch(complete);
          overlong.push({ line, message: `longer than ${maxLineBytes} bytes: not counted` });
          [complete, completeBytes, tail, tailBytes, skipping] = [[], 0, [], 0, true];
        } else if (completeBytes >= batchBytes) {
          dispatch(complete);
          [complete, completeBytes] = [[], 0];
        }
        while (inFlight.size >= 2 * maxThreads) await Promise.race(inFlight);
      }
      if (!skipping) dispatch([...complete, ...tail]);
      await Promise.all(inFlight);
      if (failure === undefined) resolve(summarize(await Promise.all(batches), overlong, maxProblems));
    } catch (error) {
      fail(`the dataset could not be read: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  return { countJsonl, close: () => pool.destroy() };
}

function reasonOf(stop: AbortSignal, deadline: AbortSignal, timeoutMs: number): string {
  return deadline.aborted ? `counting took longer than ${timeoutMs} ms` : `counting was stopped: ${String(stop.reason)}`;
}

function countNewlines(bytes: Buffer): number {
  let count = 0;
  for (let at = bytes.indexOf(NEWLINE); at >= 0; at = bytes.indexOf(NEWLINE, at + 1)) count++;
  return count;
}

function summarize(
  batches: { startLine: number; count: BatchCount }[],
  overlong: DatasetProblem[],
  maxProblems: number,
): DatasetTokenCount {
  const total = { rows: 0, tokens: 0, invalidRows: overlong.length };
  const problems = [...overlong];
  for (const { startLine, count } of batches) {
    total.rows += count.rows;
    total.tokens += count.tokens;
    total.invalidRows += count.invalidRows;
    problems.push(...count.problems.map(({ line, message }) => ({ line: startLine + line - 1, message })));
  }
  problems.sort((a, b) => a.line - b.line);
  return { status: 'READY', tokenizer: TOKENIZER_NAME, ...total, problems: problems.slice(0, maxProblems) };
}
