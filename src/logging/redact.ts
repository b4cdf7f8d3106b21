/*
 * What makes a log line safe: no credentials (pino's JSON keeps one call on one line). `maskKeys` is also used for
 * upstream messages shown to clients.
 */

const SECRET_KEY = /authorization|api[-_]?key|cookie|token|secret/i;
/** Object keys whose values are credentials, whatever object they are in. */
export const secretKey = SECRET_KEY;
const KEY_LIKE = /\bsk-[A-Za-z0-9_-]{6,}/g;

/** Anything that looks like a DashScope key, masked: for log lines and for upstream messages passed to clients. */
export const maskKeys = (text: string): string => text.replace(KEY_LIKE, 'sk-***');

// In JSON text a token ends at a backslash too: keeping it keeps the escape it starts.
const JSON_BEARER = /\b(Bearer|Basic)\s+[^\s"',;\\]+/gi;

/**
 * The last pass over a finished JSON log line: bearer tokens and `sk-` keys masked (the replacements hold no quote or
 * backslash, so the line stays valid JSON), and U+2028/2029, which JSON leaves raw but some log viewers break lines
 * on, escaped.
 */
export const maskSecrets = (line: string): string =>
  maskKeys(line.replace(JSON_BEARER, '$1 [redacted]')).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
