import { badUserInput, type GatewayError } from '../../errors/index.js';
import { limitExceeded } from '../../plugins/limits.js';
import { sniff, typeByName, type StreamedFile, type UploadRules } from './upload.js';

/** Leading bytes read, at most, to tell a file's type (JSONL may start with a BOM and blank lines). */
const MAX_HEAD_BYTES = 64 * 1024;

/** A file name's length, at most, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 255;

const kindName = { jsonl: 'JSONL', zip: 'ZIP' } as const;

export interface CheckedUpload {
  /** The file's bytes, the ones read to check it first, counted: past the size limit it fails (and its request aborts). */
  content: AsyncIterable<Uint8Array>;
  /** Why `content` failed, when the caller's file or body was at fault. */
  refusal(): GatewayError | undefined;
  /** Reads what is left of the file and drops it, so that the request ends and its answer can be sent. */
  drain(): void;
}

/**
 * The upload rules on the file's name and first bytes (before anything is sent upstream): a JSONL or ZIP file by its
 * extension and by its first bytes, of a type allowed, not empty. The size is counted as the rest streams through.
 */
export async function checkUpload(file: StreamedFile, rules: UploadRules): Promise<CheckedUpload> {
  const name = JSON.stringify(file.name.slice(0, 128));
  // Most file systems' limit, and DashScope's to keep: a longer name is the client's mistake or an attack on logs.
  if (Buffer.byteLength(file.name, 'utf8') > MAX_NAME_BYTES)
    throw badUserInput(`The file name ${name}… is longer than ${MAX_NAME_BYTES} bytes (UTF-8), the most allowed.`, 'file');
  const allowed = rules.types.map((t) => `.${t}`).join(' or ');
  const type = typeByName(file.name);
  if (!type || !rules.types.includes(type))
    throw withLimit(
      'uploadTypes',
      `The file ${name} is not a ${allowed} file: training files are ${rules.types.map((t) => kindName[t]).join(' or ')}.`,
    );

  const tooLarge = () => withLimit('maxUploadBytes', `The file ${name} is larger than ${rules.maxBytes} bytes, the most allowed.`);
  const iterator = file.stream()[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let refusal: GatewayError | undefined;
  const stalled = () =>
    badUserInput(`The upload of ${name} stalled: none of the file came for ${rules.idleTimeoutMs / 1000} s. Send it again.`);
  // The caller's next bytes, within the idle timeout: an upload waiting on a stalled caller holds an upstream socket.
  const next = async (): Promise<IteratorResult<Buffer>> => {
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject((refusal = stalled())), rules.idleTimeoutMs);
    });
    try {
      return await Promise.race([
        iterator.next().catch(() => {
          // busboy ends the part with an error when the body stops inside it.
          throw (refusal = badUserInput(`The upload of ${name} was cut off before the file's end.`));
        }),
        idle,
      ]);
    } finally {
      clearTimeout(timer);
    }
  };
  // However long the caller takes: the HTTP server's request timeout bounds that, and no upstream socket waits on it.
  const drain = () => {
    void (async () => {
      for (;;) if ((await iterator.next()).done) return;
    })().catch(() => {});
  };

  const head: Buffer[] = [];
  let headBytes = 0;
  let verdict: 'ok' | 'more' | 'no' = 'more';
  for (;;) {
    const read = await next();
    if (read.done) break;
    head.push(read.value);
    headBytes += read.value.length;
    if (headBytes > rules.maxBytes) {
      drain();
      throw tooLarge();
    }
    verdict = sniff(Buffer.concat(head), type);
    if (verdict !== 'more' || headBytes > MAX_HEAD_BYTES) break;
  }
  if (headBytes === 0) throw badUserInput(`The file ${name} is empty.`, 'file');
  if (verdict !== 'ok') {
    drain();
    const start = type === 'zip' ? 'PK\\x03\\x04' : '"{" (after any BOM and whitespace)';
    throw withLimit('uploadTypes', `The file ${name} is named ${kindName[type]} but does not start like one (${start}).`);
  }

  async function* content(): AsyncGenerator<Uint8Array> {
    let size = 0;
    const counted = (chunk: Buffer) => {
      size += chunk.length;
      if (size > rules.maxBytes) throw (refusal = tooLarge());
      return chunk;
    };
    for (const chunk of head) yield counted(chunk);
    head.length = 0;
    for (;;) {
      const read = await next();
      if (read.done) break;
      yield counted(read.value);
    }
    // The rest of the request must be sound too (no second file, not cut off) before the upload may complete.
    await file.rest.catch((error: unknown) => {
      throw (refusal = error as GatewayError);
    });
  }
  return { content: content(), refusal: () => refusal, drain };
}

function withLimit(limit: 'uploadTypes' | 'maxUploadBytes', message: string): GatewayError {
  const error = limitExceeded(limit, message);
  // A field error of the operation, not a refused request: no HTTP status of its own.
  delete (error.extensions as { http?: unknown }).http;
  return error;
}
