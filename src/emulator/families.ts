/* The base models the emulator knows, and what sets their families apart (docs/upstream.md §6.14). */

export const KNOWN_BASE_MODELS = [
  'qwen3.6-flash-2026-04-16',
  'qwen3.5-27b',
  'qwen3.5-9b',
  'qwen3.5-flash-2026-02-23',
  'qwen3-32b',
  'qwen3-30b-a3b-instruct-2507',
  'qwen3-14b',
  'qwen3-8b',
  'qwen3-4b-instruct-2507',
  'qwen3-1.7b',
  'qwen3-0.6b',
  'qwen2.5-72b-instruct',
  'qwen2.5-32b-instruct',
  'qwen2.5-14b-instruct',
  'qwen2.5-7b-instruct',
  'qwen-plus-character-2025-11-06',
  'qwen3-vl-8b-instruct',
  'qwen3-vl-8b-thinking',
  'qwen3-vl-4b-instruct',
  'qwen2.5-vl-72b-instruct',
  'qwen2.5-vl-32b-instruct',
  'qwen2.5-vl-7b-instruct',
  'wan2.2-i2v-flash',
  'wan2.2-kf2v-flash',
  'wan2.5-i2v-preview',
  'wan2.6-i2v',
  'wan2.7-image',
  'wan2.7-image-pro',
  'cosyvoice-v3-flash',
  'qwen-turbo',
  'qwen-plus',
];

export function isMultiCheckpointModel(baseModel: string): boolean {
  return baseModel.startsWith('cosyvoice');
}

/** Wan image and video models: checkpoints without `checkpoint_id`/`step`/`expire_time`, and validation artifacts (§6.11, §6.14). */
export function isWanModel(baseModel: string): boolean {
  return baseModel.startsWith('wan');
}
