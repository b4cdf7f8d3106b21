import { describe, expect, it } from 'vitest';
import { createLogger, redact } from '../../src/logging/index.js';

describe('the redacting logger', () => {
  it('blanks authorization-like fields and masks bearer tokens and sk- keys, in strings, objects and errors', () => {
    const line = redact([
      'call with Authorization: Bearer abc.def-123 failed',
      { headers: { authorization: 'Bearer zzz', 'x-api-key': 'k', accept: 'json' } },
      Object.assign(new Error('DashScope said: Invalid API-key provided: sk-live-0123456789'), {
        failure: { apiKey: 'sk-live-0123456789' },
      }),
    ]);
    expect(line).not.toMatch(/abc\.def-123|zzz|sk-live-0123456789|"x-api-key":"k"/);
    expect(line).toContain('Bearer [redacted]');
    expect(line).toContain('"authorization":"[redacted]"');
    expect(line).toContain('"accept":"json"');
    expect(line).toContain('sk-***');
  });

  it('filters by level and hands finished lines to the sink', () => {
    const lines: string[] = [];
    const logger = createLogger('warn', (_level, line) => lines.push(line));
    logger.info('not shown');
    logger.error('key', 'sk-secret-abcdef');
    expect(lines).toEqual(['ERROR key sk-***']);
  });

  it('escapes CR, LF and other control characters, so that a client value cannot start a forged line', () => {
    const lines: string[] = [];
    const logger = createLogger('info', (_level, line) => lines.push(line));
    logger.warn('unknown model', 'qwen\r\nERROR forged\u2028line\u001b[31m', { id: 'a\nb' });
    expect(lines).toEqual(['WARN unknown model qwen\\r\\nERROR forged\\u2028line\\u001b[31m {"id":"a\\nb"}']);
    expect(lines[0]).not.toMatch(/[\r\n\u2028\u2029]/);
    expect(lines[0]).not.toContain('\u001b');
    // Errors too: a stack trace stays one line.
    logger.error(new Error('boom'));
    expect(lines[1]).toMatch(/^ERROR Error: boom\\n {4}at /);
  });
});
