import { randomUUID } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';
import { requestScope } from '../logging/index.js';

const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * Every response carries `x-request-id` (the caller's, when well-formed), to quote when reporting a problem. The id is
 * decided once, as the request arrives, and the whole request runs inside it (src/logging/request-scope.ts): every log
 * line about the request carries it.
 */
export function useRequestId(): Plugin {
  const ids = new WeakMap<Request, string>();
  const idOf = (request: Request): string => {
    let id = ids.get(request);
    if (id === undefined) {
      const incoming = request.headers.get('x-request-id');
      id = incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID();
      ids.set(request, id);
    }
    return id;
  };
  return {
    instrumentation: {
      request: ({ request }, handle) => requestScope.run(idOf(request), handle),
    },
    onResponse({ request, response }) {
      response.headers.set('x-request-id', idOf(request));
    },
  };
}
