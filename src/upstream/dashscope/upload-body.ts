import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

/**
 * The multipart body of an upload (§6.12: `purpose=fine-tune`, an optional `description`, the `file`), streamed from
 * the caller's content as DashScope reads it: a known boundary, a preamble, the content and an epilogue, so nothing is
 * held. It also tells whose fault a failed request was (`callersFault`): the caller's content failing (cut off, over a
 * limit, stalled) or the caller being awaited when the request gave up is the caller's, not DashScope's.
 */
export class UploadBody {
  readonly contentType: string;
  readonly stream: Readable;
  private failed = false;
  private awaitingCaller = false;

  constructor(upload: { filename: string; content: AsyncIterable<Uint8Array>; description?: string | null | undefined }) {
    const boundary = `----finetune-gateway-${randomBytes(16).toString('hex')}`;
    this.contentType = `multipart/form-data; boundary=${boundary}`;
    // Quotes and line breaks in a name are escaped as browsers do (HTML's form encoding): a name cannot add a header.
    const quoted = (name: string) => name.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
    const field = (name: string, value: string) => `--${boundary}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
    const preamble =
      field('purpose', 'fine-tune') +
      (upload.description ? field('description', upload.description) : '') +
      `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${quoted(upload.filename)}"\r\n` +
      'content-type: application/octet-stream\r\n\r\n';
    const content = this.watched(upload.content);
    async function* body() {
      yield Buffer.from(preamble);
      yield* content;
      yield Buffer.from(`\r\n--${boundary}--\r\n`);
    }
    this.stream = Readable.from(body(), { objectMode: false });
  }

  /**
   * Whether the request failed with `error` because of the caller: its content failed, or a timeout struck while the
   * next bytes were awaited from the caller (who was idle), not from DashScope (which was not reading).
   */
  callersFault(error: unknown): boolean {
    if (this.failed) return true;
    const name = (error as { code?: string } | null)?.code ?? '';
    return this.awaitingCaller && /TIMEOUT/.test(name);
  }

  private async *watched(content: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    const iterator = content[Symbol.asyncIterator]();
    let ended = false;
    try {
      for (;;) {
        this.awaitingCaller = true;
        let read: IteratorResult<Uint8Array>;
        try {
          read = await iterator.next();
        } catch (error) {
          this.failed = ended = true;
          throw error;
        } finally {
          this.awaitingCaller = false;
        }
        if (read.done) return void (ended = true);
        yield read.value;
      }
    } finally {
      // The request ended first (DashScope answered early, or failed): the content is let go as `yield*` would.
      if (!ended) await iterator.return?.();
    }
  }
}
