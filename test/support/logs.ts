import type { LogDestination } from '../../src/logging/index.js';

/** One log line as the gateway wrote it, parsed. */
export interface LogRecord {
  level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  msg: string;
  time: string;
  requestId?: string;
  [field: string]: unknown;
}

export interface LogCapture {
  /** Give this to the gateway (`startStack({ logs })`): pino writes each line to it. */
  destination: LogDestination;
  /** Every line written since the last `clear()`, exactly as written. */
  readonly lines: string[];
  /** Every line parsed as JSON (a line that is not JSON fails the test here). */
  records(): LogRecord[];
  clear(): void;
}

/** A pino destination the test reads: one `write` per line. */
export function captureLogs(): LogCapture {
  const lines: string[] = [];
  return {
    destination: { write: (chunk: string) => void lines.push(...chunk.split('\n').filter(Boolean)) },
    lines,
    records: () =>
      lines.map((line) => {
        try {
          return JSON.parse(line) as LogRecord;
        } catch {
          throw new Error(`a log line is not JSON: ${line}`);
        }
      }),
    clear: () => void (lines.length = 0),
  };
}
