/** Path segments that name an action, not a resource: kept in templates; any other segment after the id is a name. */
const LITERALS = new Set(['logs', 'checkpoints', 'cancel', 'export', 'validation-results', 'validation-details', 'scale']);

/**
 * The route template of an upstream request, `GET /fine-tunes/{id}/logs`: what logs, metrics and spans name an
 * endpoint by. Never an id (a metric label must stay bounded, and an id says whose job it is).
 */
export function endpointTemplate(method: string, root: string | undefined, path: string): string {
  const segments = path
    .split('/')
    .filter(Boolean)
    .map((segment, index) => (index === 0 ? '{id}' : LITERALS.has(segment) ? segment : '{name}'));
  return `${method} /${[root ?? 'fine-tunes', ...segments].join('/')}`;
}
