import { redact } from './redact.js';
import { currentRequestId } from './request-scope.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
/** Where finished, redacted log lines go (stderr/stdout by default; tests capture them). */
export type LogSink = (level: LogLevel, line: string) => void;
export type GatewayLogger = Record<LogLevel, (...args: unknown[]) => void>;

const LEVELS: LogLevel[] = ['debug', 'info', 'warn', 'error'];

const consoleSink: LogSink = (level, line) => console[level](line);

/** The logger yoga and the gateway log through: level-filtered, every line redacted before it leaves. */
export function createLogger(level: LogLevel, sink: LogSink = consoleSink): GatewayLogger {
  const min = LEVELS.indexOf(level);
  const logger = {} as GatewayLogger;
  for (const [index, name] of LEVELS.entries()) {
    logger[name] =
      index < min
        ? () => {}
        : (...args) => {
            // The request being served, if any: the id its client got in `x-request-id`.
            const requestId = currentRequestId();
            sink(name, `${name.toUpperCase()} ${redact(args)}${requestId ? ` requestId=${requestId}` : ''}`);
          };
  }
  return logger;
}
