import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The request id of the HTTP request being handled (src/plugins/use-request-id.ts runs each request inside it), so
 * that every line logged while serving it, from yoga, a plugin, a resolver or the upstream client, names the request
 * the client quotes from its `x-request-id` header.
 */
export const requestScope = new AsyncLocalStorage<string>();

export function currentRequestId(): string | undefined {
  return requestScope.getStore();
}
