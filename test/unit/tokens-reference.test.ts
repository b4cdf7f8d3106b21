import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countChatMessages } from '../../src/platform/tokens/chat-row.js';
import { TextCounter } from '../../src/platform/tokens/text-counter.js';
import { referenceCount, referenceTokenizer, renderChatMl } from '../../scripts/token-reference.js';

/*
 * The counter against the reference itself (Hugging Face tokenizers, a dev dependency) on random text: any code point,
 * and text built from the parts where tokenizers differ (contractions, whitespace kinds, marks NFC reorders, added
 * tokens, digits, CJK, emoji joiners, runs long enough for the heap merge).
 */

const reference = referenceTokenizer();
const counter = new TextCounter();

const PARTS = [
  ...["'s", "'S", "'ſ", "'re", "'VE", "'ll", "'Ll", "'d", "'m", "'t", "'"],
  ...[' ', '  ', '\t', '\n', '\r\n', '\r', '\u00a0', '\u3000', '\u0085', '\ufeff', '\u2028', '\u200b', '\u000b', '\f'],
  ...['e', '\u0301', '\u0316', '\u0323', '\u0307', '\u1100', '\u1161', '\u11a8', '\u07fd', '\u{105d2}', 'ñ', 'ß', 'İ'],
  ...['<|im_start|>', '<|im_end|>', '<think>', '</think>', '<|', '|>', '<', '>', '<tool_call>', '<|endoftext|>'],
  ...['0', '7', '٣', '½', '中', '文', '，', '。', 'の', '한', 'م', 'ש', 'ा', '👍', '🏽', '\u200d', '👨', '\ufe0f', '🇨', '🇳'],
  ...['Hello', ' world', 'the', ' ing', 'a', 'aaaaaaaa', '=', '==', '-', '.', ',', '!', '?', '"', '{', '}', '/', '_', '#', '$'],
];
const pieces = fc.array(fc.constantFrom(...PARTS), { maxLength: 60 }).map((parts) => parts.join(''));

describe('the token counter equals Hugging Face tokenizers on Qwen3', () => {
  it('on strings of any code points', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 80 }), async (text) => {
        expect(counter.count(text)).toBe(await referenceCount(reference, text));
      }),
      { numRuns: 400 },
    );
  });

  it('on strings of the parts where tokenizers tend to differ', async () => {
    await fc.assert(
      fc.asyncProperty(pieces, async (text) => {
        expect(counter.count(text)).toBe(await referenceCount(reference, text));
      }),
      { numRuns: 600 },
    );
  });

  it('on long runs, merged with a heap past 128 bytes', async () => {
    const run = fc.tuple(fc.constantFrom(...PARTS), fc.integer({ min: 20, max: 400 })).map(([part, n]) => part.repeat(n));
    await fc.assert(
      fc.asyncProperty(fc.array(run, { minLength: 1, maxLength: 3 }), async (runs) => {
        const text = runs.join('');
        expect(counter.count(text)).toBe(await referenceCount(reference, text));
      }),
      { numRuns: 150 },
    );
  });

  it('on chat rows rendered as ChatML', async () => {
    const message = fc.record({
      role: fc.constantFrom('system', 'user', 'assistant'),
      content: fc.oneof(pieces, fc.string({ unit: 'grapheme' })),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 4 }), async (messages) => {
        expect(countChatMessages(counter, messages)).toBe(await referenceCount(reference, renderChatMl(messages)));
      }),
      { numRuns: 200 },
    );
  });
});
