import type { Plugin } from 'graphql-yoga';
import type { GatewayLogger } from '../logging/logger.js';

/**
 * A debug line per request (with its headers) and per response. The logger's `redact` paths blank `Authorization` and
 * cookies, and any key left in a value is masked, so debug logging is safe to turn on in production.
 */
export function useRequestLog(logger: GatewayLogger): Plugin {
  return {
    onRequest({ request }) {
      logger.debug({ event: 'request', method: request.method, url: request.url, headers: Object.fromEntries(request.headers) }, 'request');
    },
    onResponse({ request, response }) {
      logger.debug({ event: 'response', status: response.status, method: request.method }, 'response');
    },
  };
}
