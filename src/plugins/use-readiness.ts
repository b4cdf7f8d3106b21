import type { Plugin } from 'graphql-yoga';

/** `GET /ready`: 200 while serving, 503 from the moment shutdown begins. Then every response asks to close its connection. */
export function useReadiness(isReady: () => boolean): Plugin {
  return {
    onRequest(request) {
      if (request.url.pathname !== '/ready') return;
      const ready = isReady();
      request.endResponse(
        new request.fetchAPI.Response(JSON.stringify({ ready }), {
          status: ready ? 200 : 503,
          headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
        }),
      );
    },
    onResponse({ response }) {
      // A kept-alive connection would otherwise hold the drain open and bring the client back to a closing server.
      if (!isReady()) response.headers.set('connection', 'close');
    },
  };
}
