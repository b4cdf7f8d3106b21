import { inspect } from 'node:util';

/* What makes a log line safe: no credentials, one line per call. Also used for upstream messages shown to clients. */

const SECRET_KEY = /authorization|api[-_]?key|cookie|token|secret/i;
/** Object keys whose values are credentials, whatever object they are in. */
export const secretKey = SECRET_KEY;
const BEARER = /\b(Bearer|Basic)\s+[^\s"',;]+/gi;
const KEY_LIKE = /\bsk-[A-Za-z0-9_-]{6,}/g;

/** Anything that looks like a DashScope key, masked: for log lines and for upstream messages passed to clients. */
export const maskKeys = (text: string): string => text.replace(KEY_LIKE, 'sk-***');

// Line breaks (also U+2028/2029, which some log viewers break on) and other control characters.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Control characters escaped (`\n`, `\r`, `\u001b`, …): whatever a client put in a model name, an id, a header or a
 * connection parameter, it cannot start a forged log line or drive a terminal. A stack trace stays on its one line.
 */
export const escapeControl = (text: string): string =>
  text.replace(CONTROL, (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/**
 * A log line without credentials: `Authorization`-like fields blanked, bearer tokens and `sk-` keys masked, and
 * control characters escaped so that one call is one line.
 */
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
  return escapeControl(maskKeys(text.replace(BEARER, '$1 [redacted]')));
}

// In JSON text a token ends at a backslash too: keeping it keeps the escape it starts.
const JSON_BEARER = /\b(Bearer|Basic)\s+[^\s"',;\\]+/gi;

/**
 * The last pass over a finished JSON log line: bearer tokens and `sk-` keys masked (the replacements hold no quote or
 * backslash, so the line stays valid JSON), and U+2028/2029, which JSON leaves raw but some log viewers break lines
 * on, escaped.
 */
export const maskSecrets = (line: string): string =>
  maskKeys(line.replace(JSON_BEARER, '$1 [redacted]')).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
