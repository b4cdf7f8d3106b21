import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import type { Plugin } from 'graphql-yoga';

export type Encoding = 'br' | 'gzip';

const brotli = promisify(brotliCompress);
const gzipAsync = promisify(gzip);

/**
 * Compresses on zlib's thread pool, off the event loop. Brotli at quality 5: on GraphiQL's 9 MB it takes a quarter
 * of quality 9's time for 4 % more bytes (quality 11 takes 20 s).
 */
export function compress(body: Uint8Array, encoding: Encoding): Promise<Buffer> {
  return encoding === 'br'
    ? brotli(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_SIZE_HINT]: body.byteLength } })
    : gzipAsync(body);
}

/** The encoding to answer with for an `Accept-Encoding` header: br, else gzip, unless refused with `q=0`. */
export function negotiateEncoding(acceptEncoding: string | null): Encoding | null {
  if (!acceptEncoding) return null;
  const weights = new Map<string, number>();
  for (const part of acceptEncoding.toLowerCase().split(',')) {
    const [name = '', ...params] = part.split(';').map((s) => s.trim());
    const q = params.find((p) => p.startsWith('q='));
    weights.set(name, q ? Number(q.slice(2)) || 0 : 1);
  }
  const weight = (name: Encoding) => weights.get(name) ?? (weights.get('*') || 0);
  const br = weight('br');
  const gz = weight('gzip');
  if (br > 0 && br >= gz) return 'br';
  return gz > 0 ? 'gzip' : null;
}

// Whole answers only. Event streams (text/event-stream, multipart/mixed) are never compressed here: a compressor
// holds bytes back until it has enough, and each event must reach the client when it happens.
const COMPRESSIBLE = /^(application\/(graphql-response\+)?json|text\/html|text\/css|text\/javascript|application\/javascript)\b/i;

/**
 * gzip or br for clients that accept them, on answers of at least `minBytes` (below that, the headers cost more than
 * compression saves). Answers that already carry a Content-Encoding (GraphiQL's precompressed files) pass as they are.
 */
export function useResponseCompression({ minBytes = 1_024 }: { minBytes?: number } = {}): Plugin {
  return {
    onResponse(payload) {
      const { request, response, fetchAPI } = payload;
      // Headers first: reading `response.body` can turn a plain answer into a stream, which most answers never need.
      if (request.method === 'HEAD' || response.headers.has('content-encoding')) return;
      if (!COMPRESSIBLE.test(response.headers.get('content-type') ?? '')) return;
      const vary = response.headers.get('vary');
      if (!vary?.toLowerCase().includes('accept-encoding')) {
        response.headers.set('vary', vary ? `${vary}, Accept-Encoding` : 'Accept-Encoding');
      }
      const encoding = negotiateEncoding(request.headers.get('accept-encoding'));
      if (!encoding || !response.body) return;
      const declared = response.headers.get('content-length');
      if (declared !== null && Number(declared) < minBytes) return;
      return response.arrayBuffer().then(async (buffer) => {
        const plain = new Uint8Array(buffer);
        const headers = new fetchAPI.Headers(response.headers);
        let body: Uint8Array = plain;
        if (plain.byteLength >= minBytes) {
          body = await compress(plain, encoding);
          headers.set('content-encoding', encoding);
        }
        headers.set('content-length', String(body.byteLength));
        payload.setResponse(
          new fetchAPI.Response(body as Uint8Array<ArrayBuffer>, { status: response.status, statusText: response.statusText, headers }),
        );
      });
    },
  };
}
