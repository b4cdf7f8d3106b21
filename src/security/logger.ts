import { inspect } from 'node:util';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
/** Where finished, redacted log lines go (stderr/stdout by default; tests capture them). */
export type LogSink = (level: LogLevel, line: string) => void;
export type GatewayLogger = Record<LogLevel, (...args: unknown[]) => void>;

const LEVELS: LogLevel[] = ['debug', 'info', 'warn', 'error'];
const SECRET_KEY = /authorization|api[-_]?key|cookie|token|secret/i;
const BEARER = /\b(Bearer|Basic)\s+[^\s"',;]+/gi;
const KEY_LIKE = /\bsk-[A-Za-z0-9_-]{6,}/g;

/** Anything that looks like a DashScope key, masked: for log lines and for upstream messages passed to clients. */
export const maskKeys = (text: string): string => text.replace(KEY_LIKE, 'sk-***');

/** A log line without credentials: `Authorization`-like fields blanked, bearer tokens and `sk-` keys masked. */
export function redact(args: readonly unknown[]): string {
  const text = args
    .map((arg) => {
      if (typeof arg === 'string') return arg;
      if (arg instanceof Error) return inspect(arg, { depth: 4, breakLength: Infinity });
      try {
        return JSON.stringify(arg, (key, value: unknown) => (key && SECRET_KEY.test(key) ? '[redacted]' : value));
      } catch {
        return inspect(arg, { depth: 4, breakLength: Infinity });
      }
    })
    .join(' ');
  return maskKeys(text.replace(BEARER, '$1 [redacted]'));
}

const consoleSink: LogSink = (level, line) => console[level](line);

/** The logger yoga and the gateway log through: level-filtered, every line redacted before it leaves. */
export function createLogger(level: LogLevel, sink: LogSink = consoleSink): GatewayLogger {
  const min = LEVELS.indexOf(level);
  const logger = {} as GatewayLogger;
  for (const [index, name] of LEVELS.entries()) {
    logger[name] = index < min ? () => {} : (...args) => sink(name, `${name.toUpperCase()} ${redact(args)}`);
  }
  return logger;
}
