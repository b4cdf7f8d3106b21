import type { Plugin } from 'graphql-yoga';
import { badUserInput, errorResponse } from '../errors/index.js';

// The content types a browser may POST cross-site without a CORS preflight (an HTML form, or fetch in no-cors mode).
/**
 * Headers a browser cannot add cross-site without a CORS preflight, sent by the clients that upload files (Apollo's
 * `apollo-require-preflight`, yoga's `x-graphql-yoga-csrf`, the GraphQL-over-HTTP draft's `graphql-preflight`).
 */
export const PREFLIGHT_HEADERS = ['graphql-preflight', 'apollo-require-preflight', 'x-graphql-yoga-csrf'];

const SIMPLE_CONTENT_TYPES = new Set(['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain', '']);

/**
 * CSRF: a POST must carry a content type that forces a CORS preflight (`application/json`, `application/graphql`),
 * so another site cannot make a visitor's browser run an operation. GET only ever runs queries (yoga refuses
 * mutations over GET), whose answers another site cannot read without CORS. A file upload must be multipart, which
 * an HTML form can send too: it must also carry one of PREFLIGHT_HEADERS.
 */
export function useCsrfPrevention(): Plugin {
  return {
    onRequest(payload) {
      const { request, fetchAPI } = payload;
      if (request.method !== 'POST') return;
      const mediaType = (request.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
      if (mediaType === 'multipart/form-data') {
        if (PREFLIGHT_HEADERS.some((name) => request.headers.has(name))) return;
        const error = badUserInput(
          `A multipart request (a file upload) must carry one of the headers ${PREFLIGHT_HEADERS.join(', ')} (any value).`,
        );
        return payload.endResponse(errorResponse(fetchAPI, 415, error));
      }
      if (SIMPLE_CONTENT_TYPES.has(mediaType)) {
        const error = badUserInput('POST a GraphQL request as Content-Type: application/json.');
        payload.endResponse(errorResponse(fetchAPI, 415, error));
      }
    },
  };
}
