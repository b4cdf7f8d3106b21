/**
 * NFC as the reference's Unicode data has it. Node's ICU is newer: a combining mark or a composition added to Unicode
 * since is, for the reference, an unknown character, a starter that composes with nothing and stops reordering, so a
 * text holding one is normalized in parts around it. Without such a character both normalize the same
 * (scripts/token-vocab.ts checks every code point).
 */
export function nfcWithBarriers(text: string, barriers: RegExp): string {
  if (!barriers.test(text)) return text.normalize('NFC');
  let result = '';
  let part = '';
  for (const char of text) {
    if (barriers.test(char)) {
      result += part.normalize('NFC') + char;
      part = '';
    } else {
      part += char;
    }
  }
  return result + part.normalize('NFC');
}
