import { randomUUID } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';

const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Every response carries `x-request-id` (the caller's, when well-formed), to quote when reporting a problem. */
export function useRequestId(): Plugin {
  return {
    onResponse({ request, response }) {
      const incoming = request.headers.get('x-request-id');
      response.headers.set('x-request-id', incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID());
    },
  };
}
