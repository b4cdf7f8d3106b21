// The OpenAI-compatible files endpoints, `/compatible-mode/v1/files[/{id}]` (docs/upstream.md §6.12): bare OpenAI
// bodies, errors as `{error: {message, type, code}}`. Uploads are read as a stream: counted, their first bytes kept to
// tell the type, never held whole. A request without a valid key is answered by the router's shared check, in
// DashScope's envelope.
import { randomUUID } from 'node:crypto';
import busboy from 'busboy';
import type { Reply } from '../http.js';
import type { Handler } from '../state.js';
import type { StoredFile } from '../types.js';

function fileView(file: StoredFile) {
  return {
    id: file.id,
    object: 'file',
    bytes: file.bytes,
    filename: file.filename,
    purpose: file.purpose,
    status: 'processed',
    created_at: file.createdAt,
  };
}

/** OpenAI's error body, with the HTTP status DashScope's compatible mode answers. */
export function openAiError(status: number, message: string, type: string, code: string | null): Reply {
  return { status, body: { error: { message, type, code } }, headers: { 'x-request-id': randomUUID() } };
}

const noSuchFile = (id: string) => openAiError(404, `No such File object: ${id}`, 'invalid_request_error', 'NotFound');

/** All the account's files, newest first (OpenAI's order), at once: `has_more` is false. */
export const list: Handler = ({ account }) => {
  const data = [...account.files.values()].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? -1 : 1)).map(fileView);
  return { status: 200, body: { object: 'list', data, has_more: false } };
};

export const get: Handler = ({ account, params }) => {
  const id = params.fileId ?? '';
  const file = account.files.get(id);
  return file ? { status: 200, body: fileView(file) } : noSuchFile(id);
};

export const remove: Handler = ({ account, params }) => {
  const id = params.fileId ?? '';
  if (!account.files.delete(id)) return noSuchFile(id);
  return { status: 200, body: { id, object: 'file', deleted: true } };
};

/** Bytes kept of an upload to tell its type. */
const HEAD_BYTES = 64;

function looksLike(filename: string, head: Buffer): boolean {
  if (/\.zip$/i.test(filename)) return head.subarray(0, 4).equals(Buffer.from('PK\x03\x04', 'latin1'));
  if (/\.jsonl$/i.test(filename)) return /^(\uFEFF)?\s*\{/.test(head.toString('utf8'));
  return false;
}

/**
 * `POST /compatible-mode/v1/files`: multipart `file` and `purpose=fine-tune`. The file is made only once the whole
 * body has arrived: a request cut off (the client aborted it) leaves nothing behind.
 */
export const upload: Handler = ({ account, req }, state) =>
  new Promise<Reply>((resolve) => {
    const invalid = (message: string) => openAiError(400, message, 'invalid_request_error', 'invalid_parameter_error');
    let parser: busboy.Busboy;
    try {
      // File names arrive as raw UTF-8, as DashScope reads them (busboy's default is Latin-1).
      parser = busboy({ headers: req.headers, defParamCharset: 'utf8', limits: { files: 1, fields: 10, fieldSize: 4096 } });
    } catch {
      req.resume();
      return resolve(invalid('The request is not multipart/form-data.'));
    }
    let purpose: string | undefined;
    let file: { filename: string; bytes: number; head: Buffer } | undefined;
    let failed = false;
    parser.on('field', (name, value) => {
      if (name === 'purpose') purpose = value;
    });
    parser.on('file', (name, stream, info) => {
      if (name !== 'file' || file) return stream.resume();
      const found = { filename: info.filename ?? '', bytes: 0, head: Buffer.alloc(0) };
      stream.on('data', (chunk: Buffer) => {
        found.bytes += chunk.length;
        if (found.head.length < HEAD_BYTES) found.head = Buffer.concat([found.head, chunk.subarray(0, HEAD_BYTES - found.head.length)]);
      });
      stream.on('end', () => (file = found));
      stream.on('error', () => {});
    });
    parser.on('error', () => {
      failed = true;
      req.resume();
      resolve(invalid('The multipart body is malformed or was cut off.'));
    });
    parser.on('close', () => {
      if (failed) return;
      if (!file) return resolve(invalid("Missing the 'file' part."));
      if (purpose !== 'fine-tune') return resolve(invalid(`Invalid purpose: ${JSON.stringify(purpose ?? null)}; expected 'fine-tune'.`));
      if (file.bytes === 0) return resolve(invalid('The file is empty.'));
      if (!looksLike(file.filename, file.head)) return resolve(invalid('Only JSONL and ZIP files are accepted.'));
      const stored: StoredFile = {
        id: `file-ft-${randomUUID().replace(/-/g, '')}`,
        filename: file.filename,
        bytes: file.bytes,
        purpose,
        createdAt: Math.floor(state.now() / 1000),
      };
      account.files.set(stored.id, stored);
      resolve({ status: 200, body: fileView(stored) });
    });
    // The client gone mid-body: busboy never closes; the answer goes nowhere, nothing is made.
    req.on('aborted', () => {
      failed = true;
      resolve(invalid('The request was aborted.'));
    });
    req.pipe(parser);
  });
