import type { TextCounter } from './text-counter.js';

/**
 * A chat row's tokens as Qwen's chat templates render it for training: `<|im_start|>{role}\n{content}<|im_end|>\n`
 * for each message, summed. The special tokens are one token each, and so is the "\n" after `<|im_end|>` (the
 * tokenizer splits the text at added tokens first, so nothing merges across them): counting message by message gives
 * the count of the whole rendered row.
 */
export interface ChatMessage {
  role: string;
  content: string;
}

/** `<|im_start|>`, `<|im_end|>` and the newline after it. */
const TEMPLATE_TOKENS = 3;

export function countChatMessages(counter: TextCounter, messages: readonly ChatMessage[]): number {
  let total = 0;
  for (const { role, content } of messages) total += TEMPLATE_TOKENS + counter.count(`${role}\n${content}`);
  return total;
}

export type LineCount = { tokens: number } | { problem: string };

/**
 * One JSONL line of a chat dataset (`{"messages": [{"role": …, "content": …}, …]}`, docs/upstream.md): its tokens, or
 * why it has none. This checks only what counting needs; the dataset's format rules are the caller's to check.
 */
export function countJsonlLine(counter: TextCounter, line: string): LineCount {
  let row: unknown;
  try {
    row = JSON.parse(line);
  } catch {
    return { problem: 'not valid JSON' };
  }
  const messages = typeof row === 'object' && row !== null ? (row as { messages?: unknown }).messages : undefined;
  if (!Array.isArray(messages) || messages.length === 0) return { problem: 'no "messages" array' };
  for (const [i, message] of messages.entries()) {
    const { role, content } = (typeof message === 'object' && message !== null ? message : {}) as Record<string, unknown>;
    if (typeof role !== 'string' || typeof content !== 'string') {
      return { problem: `message ${i + 1} has no string "role" and "content"` };
    }
  }
  return { tokens: countChatMessages(counter, messages as ChatMessage[]) };
}
