import { brotliDecompressSync, gunzipSync, inflateSync, type ZlibOptions } from 'node:zlib';
import type { Plugin } from 'graphql-yoga';
import { badUserInput, errorResponse } from '../errors/index.js';
import { limitExceeded } from './limits.js';
import { isMultipart } from './use-multipart-upload.js';

const DECODERS: Record<string, ((body: Buffer, options: ZlibOptions) => Buffer) | null> = {
  identity: null,
  gzip: gunzipSync,
  'x-gzip': gunzipSync,
  deflate: inflateSync,
  br: brotliDecompressSync,
};

/** The body's bytes, or null as soon as there are more than `max` (the rest is never read). */
async function readAtMost(body: ReadableStream<Uint8Array>, max: number): Promise<Buffer | null> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(chunks, size);
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
}

/**
 * Request bodies of at most `maxBytes`, before and after decompression: a gzip bomb stops at `maxBytes` of output.
 * Yoga itself neither decompresses nor bounds a decompressed body, so the body is read here once, and handed on
 * decompressed.
 */
export function useRequestBodyLimit(maxBytes: number, multipartMaxBytes: number): Plugin {
  const tooLarge = () => limitExceeded('maxBodyBytes', `The request body is larger than ${maxBytes} bytes, the most allowed.`, 413);
  return {
    // Not async: the common request (a plain body of declared size) passes without a promise.
    onRequest(payload) {
      const { request, fetchAPI } = payload;
      const endResponse = (response: Response) => payload.endResponse(response);
      // Headers first: touching `request.body` makes the adapter build a stream.
      if (request.method === 'GET' || request.method === 'HEAD') return;
      const length = Number(request.headers.get('content-length') ?? 0);
      // An upload: its own limit, declared sizes refused up front; the streaming parser (use-multipart-upload.ts)
      // bounds the rest as it reads, never holding the body.
      if (isMultipart(request)) {
        if (length > multipartMaxBytes) {
          const message = `The multipart body is larger than ${multipartMaxBytes} bytes, the most allowed.`;
          return endResponse(errorResponse(fetchAPI, 413, limitExceeded('maxUploadBytes', message, 413)));
        }
        if (request.headers.has('content-encoding') && request.headers.get('content-encoding')?.trim().toLowerCase() !== 'identity')
          return endResponse(errorResponse(fetchAPI, 415, badUserInput('A multipart upload is sent without Content-Encoding.')));
        return;
      }
      if (length > maxBytes) return endResponse(errorResponse(fetchAPI, 413, tooLarge()));
      const encoding = (request.headers.get('content-encoding') ?? 'identity').trim().toLowerCase();
      // A plain body of a declared size within the limit needs nothing more: yoga reads it as it comes.
      if (encoding === 'identity' && request.headers.has('content-length')) return;
      const decode = DECODERS[encoding];
      if (decode === undefined) {
        return endResponse(errorResponse(fetchAPI, 415, badUserInput(`Content-Encoding "${encoding.slice(0, 32)}" is not supported.`)));
      }
      if (!request.body) return;
      return readAtMost(request.body, maxBytes).then((read) => {
        let body = read;
        if (body && decode) {
          try {
            body = decode(body, { maxOutputLength: maxBytes });
          } catch (error) {
            if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') body = null;
            else return endResponse(errorResponse(fetchAPI, 400, badUserInput(`The request body is not valid ${encoding}.`)));
          }
        }
        if (!body) return endResponse(errorResponse(fetchAPI, 413, tooLarge()));
        const headers = new fetchAPI.Headers(request.headers);
        headers.delete('content-encoding');
        headers.set('content-length', String(body.byteLength));
        payload.setRequest(
          new fetchAPI.Request(request.url, { method: request.method, headers, body: new Uint8Array(body), signal: request.signal }),
        );
      });
    },
  };
}
