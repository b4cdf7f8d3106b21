import type { Plugin } from 'graphql-yoga';
import type { GatewayLogger } from '../logging/logger.js';

/**
 * A debug line per request (with its headers) and per response. The logger redacts `Authorization` and any key, so
 * debug logging is safe to turn on in production.
 */
export function useRequestLog(logger: GatewayLogger): Plugin {
  return {
    onRequest({ request }) {
      logger.debug('request', { method: request.method, url: request.url, headers: Object.fromEntries(request.headers) });
    },
    onResponse({ request, response }) {
      logger.debug('response', { status: response.status, method: request.method, requestId: response.headers.get('x-request-id') });
    },
  };
}
