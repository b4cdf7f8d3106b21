import { describe, expect, it } from 'vitest';
import { createLogger, maskSecrets, yogaLogger } from '../../src/logging/index.js';
import { captureLogs } from '../support/logs.js';

describe('the redacting logger', () => {
  it('masks bearer tokens and sk- keys in a finished JSON line, which stays valid JSON', () => {
    const line = JSON.stringify({
      msg: 'call with Authorization: Bearer abc.def-123 failed',
      said: 'Invalid API-key provided: sk-live-0123456789',
      q: 'Bearer x\\"y',
    });
    const masked = maskSecrets(line);
    expect(masked).not.toMatch(/abc\.def-123|sk-live-0123456789/);
    expect(JSON.parse(masked)).toEqual({
      msg: 'call with Authorization: Bearer [redacted] failed',
      said: 'Invalid API-key provided: sk-***',
      q: 'Bearer [redacted]\\"y',
    });
    expect(maskSecrets(JSON.stringify({ s: 'a\u2028b' }))).toBe('{"s":"a\\u2028b"}');
  });

  it('filters by level (LOG_LEVEL) and writes JSON lines with keys masked anywhere', () => {
    const logs = captureLogs();
    const logger = createLogger({ level: 'warn', env: 'production', destination: logs.destination });
    logger.info('not shown');
    logger.error({ headers: { authorization: 'Bearer zzz' }, apiKey: 'sk-secret-abcdef', nested: { apiKey: 'x' } }, 'key sk-secret-abcdef');
    const [record] = logs.records();
    expect(logs.lines).toHaveLength(1);
    expect(record).toMatchObject({ level: 'error', msg: 'key sk-***', headers: { authorization: '[redacted]' }, apiKey: '[redacted]' });
    expect(record!.nested).toEqual({ apiKey: '[redacted]' });
    expect(logs.lines[0]).not.toMatch(/zzz|sk-secret-abcdef/);
    const silent = captureLogs();
    createLogger({ level: 'silent', env: 'production', destination: silent.destination }).fatal('nothing');
    expect(silent.lines).toEqual([]);
  });

  it('keeps one call on one line: CR, LF, U+2028 and escapes stay inside the JSON string', () => {
    const logs = captureLogs();
    const logger = yogaLogger(createLogger({ level: 'info', env: 'production', destination: logs.destination }));
    logger.warn('unknown model', 'qwen\r\nERROR forged\u2028line\u001b[31m', { id: 'a\nb', authorization: 'Bearer q' });
    logger.error(new Error('boom with Bearer sk-abcdefgh\\"'));
    expect(logs.lines).toHaveLength(2);
    // eslint-disable-next-line no-control-regex
    for (const line of logs.lines) expect(line).not.toMatch(/[\r\n\u2028\u2029\u001b]/);
    const [warn, error] = logs.records();
    expect(warn).toMatchObject({
      level: 'warn',
      msg: 'unknown model qwen\r\nERROR forged\u2028line\u001b[31m',
      detail: { id: 'a\nb', authorization: '[redacted]' },
    });
    // A stack trace is a field of its line; the token is masked without breaking the JSON around it.
    expect(error).toMatchObject({
      level: 'error',
      err: { type: 'Error', stack: expect.stringMatching(/^Error: boom with Bearer \[redacted\]/) },
    });
    expect(logs.lines[1]).not.toContain('sk-abcdefgh');
  });
});
