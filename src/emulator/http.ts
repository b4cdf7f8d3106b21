import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** What a handler answers; the server writes it (or a fault bends it). */
export interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export const JSON_TYPE = 'application/json; charset=utf-8';
const MAX_BODY_BYTES = 1_000_000;

export const NOT_FOUND_MESSAGE = 'Not Found!';

const DEFAULT_ERRORS: Record<number, [string, string]> = {
  400: ['InvalidParameter', 'Invalid parameter.'],
  401: ['InvalidApiKey', 'Invalid API-key provided.'],
  403: ['AccessDenied', 'Access denied.'],
  404: ['NotFound', NOT_FOUND_MESSAGE],
  409: ['Conflict', 'Model instance already exists, please specify a suffix'],
  429: ['Throttling', 'Too many fine-tune job in running, please retry later.'],
  500: ['InternalError', 'Internal server error!'],
};

/** DashScope's error envelope `{code, request_id, message}`, with the usual code and message for the status. */
export function errorReply(status: number, code?: string, message?: string, headers?: Record<string, string>): Reply {
  const [defaultCode, defaultMessage] =
    DEFAULT_ERRORS[status] ?? (status >= 500 ? DEFAULT_ERRORS[500]! : ['UnknownError', 'Unknown error.']);
  // Upstream mixes upper- and lower-case request ids; errors use the upper-case form of its examples.
  const body = { code: code ?? defaultCode, request_id: randomUUID().toUpperCase(), message: message ?? defaultMessage };
  return { status, body, ...(headers && { headers }) };
}

/** DashScope's success envelope `{request_id, output}`. */
export function ok(output: unknown): Reply {
  return { status: 200, body: { request_id: randomUUID(), output } };
}

export const invalid = (message: string) => errorReply(400, 'InvalidParameter', message);
export const notFound = () => errorReply(404, 'NotFound', NOT_FOUND_MESSAGE);

export function send(res: ServerResponse, reply: Reply): void {
  if (res.destroyed || res.writableEnded) return;
  const text = JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    'content-type': JSON_TYPE,
    'content-length': Buffer.byteLength(text),
    ...reply.headers,
  });
  res.end(text);
}

/** The whole body, kept as bytes (a future multipart upload is not text); past the cap it is drained, not kept. */
export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The body as JSON, or undefined when it is not JSON. */
export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

export function bearerKey(req: IncomingMessage): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return match?.[1];
}

/** Stats and errors name a key by this hash, never by the key. */
export function keyHash(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 12);
}

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
export const isStringArray = (value: unknown): value is string[] => Array.isArray(value) && value.every((v) => typeof v === 'string');

/** Strict non-negative integer query parameter: the fallback when absent, NaN when malformed. */
export function intParam(query: URLSearchParams, name: string, fallback: number): number {
  const value = query.get(name);
  if (value === null || value === '') return fallback;
  return /^\d+$/.test(value) ? Number(value) : NaN;
}
