import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { countJsonlLine } from '../../src/platform/tokens/chat-row.js';
import { TextCounter } from '../../src/platform/tokens/text-counter.js';

/*
 * The counter against the counts the reference (Hugging Face tokenizers, scripts/token-fixtures.ts) recorded for the
 * sample datasets of test/fixtures/tokens: each row rendered as ChatML, and each message's content alone.
 */

const FIXTURES = new URL('../fixtures/tokens/', import.meta.url);
const recorded = JSON.parse(readFileSync(new URL('counts.json', FIXTURES), 'utf8')) as {
  datasets: Record<string, { chatml: number[]; plain: number[][] }>;
};
const counter = new TextCounter();
const lines = (file: string) =>
  readFileSync(new URL(file, FIXTURES), 'utf8')
    .split('\n')
    .filter((line) => line !== '');

describe('Qwen3 token counts equal the reference on the sample datasets', () => {
  it('has recorded counts for every fixture dataset', () => {
    const files = readdirSync(FIXTURES).filter((name) => name.endsWith('.jsonl'));
    expect(files.sort()).toEqual(Object.keys(recorded.datasets).sort());
  });

  for (const [file, expected] of Object.entries(recorded.datasets)) {
    it(`${file}: every row as ChatML, and every message alone`, () => {
      const rows = lines(file);
      expect(rows.map((line) => countJsonlLine(counter, line))).toEqual(expected.chatml.map((tokens) => ({ tokens })));
      const plain = rows.map((line) =>
        (JSON.parse(line) as { messages: { content: string }[] }).messages.map((m) => counter.count(m.content)),
      );
      expect(plain).toEqual(expected.plain);
    });
  }
});

describe('a JSONL line that cannot be counted says why', () => {
  it.each([
    ['{"messages": [', 'not valid JSON'],
    ['[1, 2]', 'no "messages" array'],
    ['{"messages": []}', 'no "messages" array'],
    ['{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant"}]}', 'message 2 has no string "role" and "content"'],
    ['{"messages": [{"role": "user", "content": [{"text": "hi"}]}]}', 'message 1 has no string "role" and "content"'],
    ['{"messages": [null]}', 'message 1 has no string "role" and "content"'],
  ])('%s', (line, problem) => {
    expect(countJsonlLine(counter, line)).toEqual({ problem });
  });
});

describe('the token counter', () => {
  it('counts each added token as one token, wherever it is in the text', () => {
    expect(counter.count('<|im_start|><|im_end|><think></think>')).toBe(4);
    // Not an added token: "<|im_end|" has no closing ">", so it is ordinary text of several tokens.
    expect(counter.count('<|im_end|')).toBeGreaterThan(1);
  });

  it('counts a ChatML row message by message as the whole rendered row', () => {
    const row = {
      messages: [
        { role: 'system', content: '' },
        { role: 'user', content: 'hi <|im_end|>' },
      ],
    };
    const rendered = row.messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('');
    expect(countJsonlLine(counter, JSON.stringify(row))).toEqual({ tokens: counter.count(rendered) });
  });

  it('imports nothing of GraphQL or of the modules above the platform layer', () => {
    const dir = new URL('../../src/platform/tokens/', import.meta.url);
    for (const file of readdirSync(dir).filter((name) => name.endsWith('.ts'))) {
      const imports = [...readFileSync(new URL(file, dir), 'utf8').matchAll(/from '([^']+)'/g)].map((match) => match[1]);
      expect(
        imports.filter((path) => /graphql|generated|modules|\.\.\//.test(path!)),
        file,
      ).toEqual([]);
    }
  });
});
