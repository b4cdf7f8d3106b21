/** The pre-tokenizer regex of Qwen2/3 in JavaScript syntax, built from character classes the reference reports. */

export interface CodePointClasses {
  /** `\p{L}`, `\p{N}` and `\s` of the reference's regex engine (Oniguruma), as "41-5a,61-7a,…" hex ranges. */
  letter: string;
  number: string;
  space: string;
  /** Letters that `(?i:'s|'t|'m|'d)`, `(?i:'r|'v)` + `(?i:e)`, and `(?i:ll)` match (ASCII case and Unicode folding). */
  contractionSingle: string;
  contractionRv: string;
  contractionE: string;
  contractionL: string;
}

/** "41-5a,61" → "\u{41}-\u{5a}\u{61}", the inside of a `u`-flag character class. */
export function rangesToClass(ranges: string): string {
  return ranges
    .split(',')
    .map((range) =>
      range
        .split('-')
        .map((hex) => `\\u{${hex}}`)
        .join('-'),
    )
    .join('');
}

/**
 * The reference's pattern with its classes spelled out. Hugging Face's is
 * `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
 * JavaScript has no `(?i:…)` before ES2025, and its `\s` holds U+FEFF but not U+0085, unlike Oniguruma's.
 */
export function preTokenizerPattern(classes: CodePointClasses): RegExp {
  const [l, n, s] = [classes.letter, classes.number, classes.space].map(rangesToClass);
  const [single, rv, e, ll] = [classes.contractionSingle, classes.contractionRv, classes.contractionE, classes.contractionL].map(
    rangesToClass,
  );
  const alternatives = [
    `'(?:[${single}]|[${rv}][${e}]|[${ll}][${ll}])`,
    `[^\\r\\n${l}${n}]?[${l}]+`,
    `[${n}]`,
    ` ?[^${s}${l}${n}]+[\\r\\n]*`,
    `[${s}]*[\\r\\n]+`,
    `[${s}]+(?![^${s}])`,
    `[${s}]+`,
  ];
  return new RegExp(alternatives.join('|'), 'gu');
}
