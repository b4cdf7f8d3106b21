import type { Plugin } from 'graphql-yoga';
import type { GatewayLogger } from './logger.js';

/**
 * A debug line per request (with its headers) and per response. The logger redacts `Authorization` and any key, so
 * debug logging is safe to turn on in production.
 */
export function useRequestLog(logger: GatewayLogger): Plugin {
  return {
    onRequest({ request }) {
      // A getter: the headers are copied only when a debug line is really written.
      logger.debug('request', {
        method: request.method,
        url: request.url,
        get headers() {
          return Object.fromEntries(request.headers);
        },
      });
    },
    onResponse({ request, response }) {
      logger.debug('response', { status: response.status, method: request.method, requestId: response.headers.get('x-request-id') });
    },
  };
}
