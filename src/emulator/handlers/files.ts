// The OpenAI-compatible files endpoints, `/compatible-mode/v1/files[/{id}]` (docs/upstream.md §6.12): bare OpenAI
// bodies, errors as `{error: {message, type, code}}`. Uploads are not served here yet. A request without a valid key is
// answered by the router's shared check, in DashScope's envelope.
import { randomUUID } from 'node:crypto';
import type { Reply } from '../http.js';
import type { Handler } from '../state.js';

export interface StoredFile {
  id: string;
  filename: string;
  bytes: number;
  purpose: string;
  /** Unix seconds. */
  createdAt: number;
}

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
