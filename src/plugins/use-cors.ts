import type { Plugin, YogaServerOptions } from 'graphql-yoga';
import { PREFLIGHT_HEADERS } from './use-csrf-prevention.js';

type CorsOption = YogaServerOptions<object, object>['cors'];

/**
 * CORS for the configured origins only. Yoga's own list handling answers an unlisted origin (and `Origin: null`, which
 * sandboxed iframes and file pages send) with `Access-Control-Allow-Origin: null` once two or more origins are
 * listed, and a browser then lets every opaque-origin page read the answer. Here a listed origin gets itself echoed,
 * anything else no CORS header at all, so its preflight fails and its reads are blocked.
 */
export function corsPolicy(origins: readonly string[]): CorsOption {
  if (origins.length === 0) return false;
  const allowed = new Set(origins);
  return (request) => {
    const origin = request.headers.get('origin');
    if (!origin || !allowed.has(origin)) return false;
    return {
      origin,
      credentials: false,
      methods: ['GET', 'POST'],
      // The CSRF rule's preflight headers too: an upload from a listed origin carries one, and its preflight must allow it.
      allowedHeaders: ['content-type', 'accept', 'authorization', 'x-dashscope-workspace', 'x-request-id', ...PREFLIGHT_HEADERS],
      exposedHeaders: ['x-request-id'],
    };
  };
}

/** Every answer depends on `Origin` once origins are listed: caches must not serve one origin's answer to another. */
export function useVaryOrigin(origins: readonly string[]): Plugin {
  if (origins.length === 0) return {};
  return {
    onResponse({ response }) {
      const vary = response.headers.get('vary');
      if (!vary?.toLowerCase().includes('origin')) response.headers.set('vary', vary ? `${vary}, Origin` : 'Origin');
    },
  };
}
