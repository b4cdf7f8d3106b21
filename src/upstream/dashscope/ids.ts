/**
 * The rule for any identifier that becomes part of an upstream URL path. Checked before the URL is built, so that a
 * hostile id (`..`, `a/b`, `%2e%2e`, `?x`, CR LF …) can never address another DashScope endpoint.
 */
const ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;
/** Other DashScope endpoints under `/api/v1/fine-tunes/` (docs/upstream.md §6.11): never a job id. */
const OTHER_ENDPOINTS = new Set(['outputs', 'compress']);

export function invalidIdReason(id: string): string | null {
  if (id.length === 0) return 'it is empty';
  if (id.length > 128) return 'it is longer than 128 characters';
  if (!ID_PATTERN.test(id)) return 'it may only hold letters, digits and _ . : -';
  if (id === '.' || id === '..') return 'it may not be "." or ".."';
  if (OTHER_ENDPOINTS.has(id.toLowerCase())) return `"${id}" names another DashScope endpoint`;
  return null;
}

export function isValidId(id: string): boolean {
  return invalidIdReason(id) === null;
}
