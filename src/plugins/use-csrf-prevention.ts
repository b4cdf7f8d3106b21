import type { Plugin } from 'graphql-yoga';
import { badUserInput, errorResponse } from '../errors/index.js';

// The content types a browser may POST cross-site without a CORS preflight (an HTML form, or fetch in no-cors mode).
const SIMPLE_CONTENT_TYPES = new Set(['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain', '']);

/**
 * CSRF: a POST must carry a content type that forces a CORS preflight (`application/json`, `application/graphql`),
 * so another site cannot make a visitor's browser run an operation. GET only ever runs queries (yoga refuses
 * mutations over GET), whose answers another site cannot read without CORS.
 */
export function useCsrfPrevention(): Plugin {
  return {
    onRequest(payload) {
      const { request, fetchAPI } = payload;
      if (request.method !== 'POST') return;
      const mediaType = (request.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
      if (SIMPLE_CONTENT_TYPES.has(mediaType)) {
        const error = badUserInput('POST a GraphQL request as Content-Type: application/json.');
        payload.endResponse(errorResponse(fetchAPI, 415, error));
      }
    },
  };
}
