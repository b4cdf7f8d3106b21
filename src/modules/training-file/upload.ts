import type { Readable } from 'node:stream';
import { GraphQLScalarType } from 'graphql';
import { GatewayError } from '../../errors/index.js';

/**
 * A file of a GraphQL multipart request, as the resolver gets it: its name and type as the client sent them, and
 * `stream()`, the live part of the request body (src/plugins/use-multipart-upload.ts). Nothing of it is buffered:
 * reading the stream reads the client's socket, so a slow reader slows the client.
 */
export class StreamedFile {
  private taken = false;

  constructor(
    readonly name: string,
    readonly type: string,
    private readonly part: Readable,
    /**
     * Settles once the rest of the request body is read: rejects when it turns out bad after the file (a second file,
     * a truncated body). What the file was sent to must then be abandoned.
     */
    readonly rest: Promise<void>,
  ) {
    // Observed here, awaited by the resolver: a rejection before anyone reads it is not an unhandled one.
    rest.catch(() => {});
  }

  /** The part's bytes, once: a request body cannot be read twice. */
  stream(): Readable {
    if (this.taken) throw new Error('the uploaded file was already read');
    this.taken = true;
    return this.part;
  }

  get read(): boolean {
    return this.taken;
  }

  /** Not read by any resolver: its bytes are drained so the request ends and its answer can be sent. */
  discard(): void {
    if (this.taken) return;
    this.taken = true;
    this.part.resume();
  }
}

const notAFile = () =>
  new GatewayError('A File arrives only as a file part of a multipart request (the GraphQL multipart request spec), never as JSON.', {
    code: 'BAD_USER_INPUT',
    retryable: false,
  });

/** The `File` scalar: input only, and only the value the multipart parser put in the variables. */
export const FileScalar = new GraphQLScalarType({
  name: 'File',
  serialize: () => {
    throw new Error('File is an input-only scalar');
  },
  parseValue: (value) => {
    if (value instanceof StreamedFile) return value;
    throw notAFile();
  },
  parseLiteral: () => {
    throw notAFile();
  },
});

export type UploadType = 'jsonl' | 'zip';

/** What an uploaded training file may be, and how uploads share the gateway (config.uploads: `UPLOAD_*`). */
export interface UploadRules {
  /** The largest file accepted, in bytes. */
  maxBytes: number;
  /** The types accepted, each checked by the file's extension and by its first bytes. */
  types: UploadType[];
  /** A caller that sends none of its file for this long fails its upload (BAD_USER_INPUT): it held an upstream socket. */
  idleTimeoutMs: number;
  /** Uploads in flight at once, in total (the sockets of the uploads' own upstream pool), and per credential. */
  maxConcurrent: number;
  maxPerCredential: number;
}

/** DashScope takes ZIP datasets up to 2 GB; half that keeps one caller from holding a connection and a slot for long. */
export const DEFAULT_UPLOAD_RULES: UploadRules = {
  maxBytes: 1_073_741_824,
  types: ['jsonl', 'zip'],
  idleTimeoutMs: 5_000,
  maxConcurrent: 16,
  maxPerCredential: 16,
};

/** The type a file name claims, by its extension; undefined for any other. */
export function typeByName(name: string): UploadType | undefined {
  const lower = name.toLowerCase();
  if (lower.endsWith('.jsonl')) return 'jsonl';
  if (lower.endsWith('.zip')) return 'zip';
  return undefined;
}

const ZIP_MAGIC = Buffer.from('PK\x03\x04', 'latin1');
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

/**
 * Whether the first bytes of a file are those of `type`: `ok`, `more` (too few bytes to tell yet) or `no`. ZIP starts
 * with its local-file magic `PK\x03\x04`; JSONL with `{` after any BOM and whitespace.
 */
export function sniff(head: Buffer, type: UploadType): 'ok' | 'more' | 'no' {
  if (type === 'zip') {
    if (head.length < ZIP_MAGIC.length) return ZIP_MAGIC.subarray(0, head.length).equals(head) ? 'more' : 'no';
    return head.subarray(0, ZIP_MAGIC.length).equals(ZIP_MAGIC) ? 'ok' : 'no';
  }
  let at = 0;
  if (head.length < UTF8_BOM.length && UTF8_BOM.subarray(0, head.length).equals(head)) return 'more';
  if (head.subarray(0, UTF8_BOM.length).equals(UTF8_BOM)) at = UTF8_BOM.length;
  while (at < head.length && WHITESPACE.has(head[at]!)) at++;
  if (at === head.length) return 'more';
  return head[at] === 0x7b ? 'ok' : 'no';
}
