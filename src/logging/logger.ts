import { pino, type DestinationStream, type Logger } from 'pino';
import { maskKeys, maskSecrets, secretKey } from './redact.js';
import { currentRequestId } from './request-scope.js';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
/** The gateway's logger: pino, redacting, with the request id of the request being served on every line. */
export type GatewayLogger = Logger;
/** Where JSON log lines go: any stream pino can write to (stdout by default; tests pass one they read). */
export type LogDestination = DestinationStream;

/**
 * Fields that carry credentials wherever they appear in a logged object: pino replaces their values before the line is
 * serialised. `maskSecrets` below catches what a path cannot name (a key inside a message or an unexpected field).
 */
export const REDACT_PATHS = [
  'authorization',
  'apiKey',
  'token',
  'headers.authorization',
  'headers.cookie',
  'headers["x-api-key"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'request.headers.authorization',
  'connectionParams.authorization',
  'credential.apiKey',
  '*.apiKey',
  '*.authorization',
  '*.token',
];

export interface LoggerOptions {
  level: LogLevel;
  /** `development`: human-readable lines through pino-pretty (a dev dependency, loaded only then). */
  env: 'development' | 'production' | 'test';
  destination?: LogDestination | undefined;
}

/**
 * JSON lines (one object per line, so a newline or an ANSI escape in a client's value cannot forge a line), every line
 * redacted twice: pino's `redact` paths for the known credential fields, then `maskSecrets` over the finished line
 * for any `sk-` key or bearer token that reached a message.
 */
export function createLogger({ level, env, destination }: LoggerOptions): GatewayLogger {
  const options = {
    level,
    base: { service: 'finetune-gateway' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    // The id the client got in `x-request-id` (src/logging/request-scope.ts), on every line logged while serving it.
    mixin: () => {
      const requestId = currentRequestId();
      return requestId ? { requestId } : {};
    },
    serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
    hooks: { streamWrite: maskSecrets },
  };
  if (destination) return pino(options, destination);
  if (env === 'development' && installed('pino-pretty')) {
    // A worker thread resolves pino-pretty at run time: production never loads it (it is a dev dependency, absent from
    // the image; there, even NODE_ENV=development logs JSON).
    return pino({
      ...options,
      transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' } },
    });
  }
  // Written asynchronously (a line per operation must not cost a blocking write each); pino flushes what is left when
  // the process exits.
  return pino(options, pino.destination({ dest: 1, sync: false }));
}

/**
 * Yoga's and graphql-ws' `(...args)` logging calls, as pino lines: an Error becomes `err` (message and stack, masked),
 * strings the message, objects a `detail` field with credential-looking keys blanked.
 */
export function yogaLogger(logger: GatewayLogger): Record<'debug' | 'info' | 'warn' | 'error', (...args: unknown[]) => void> {
  const forward =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (...args: unknown[]) => {
      if (!logger.isLevelEnabled(level)) return;
      const error = args.find((arg): arg is Error => arg instanceof Error);
      const words = args.filter((arg) => typeof arg === 'string' || typeof arg === 'number').map(String);
      const objects = args.filter((arg) => arg !== null && typeof arg === 'object' && !(arg instanceof Error));
      const fields: Record<string, unknown> = { source: 'yoga' };
      if (error) fields.err = error;
      if (objects.length) fields.detail = withoutSecrets(objects.length === 1 ? objects[0] : objects);
      logger[level](fields, maskKeys(words.join(' ') || error?.message || ''));
    };
  return { debug: forward('debug'), info: forward('info'), warn: forward('warn'), error: forward('error') };
}

/** A copy with every credential-looking key (`authorization`, `apiKey`, `cookie`, `token`, …) blanked, at any depth. */
function withoutSecrets(value: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(value, (key, inner: unknown) => (key && secretKey.test(key) ? '[redacted]' : inner)));
  } catch {
    return '[unserialisable]';
  }
}

function installed(name: string): boolean {
  try {
    import.meta.resolve(name);
    return true;
  } catch {
    return false;
  }
}
