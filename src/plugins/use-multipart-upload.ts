import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import busboy from 'busboy';
import { getOperationAST, Kind, visit, type DocumentNode, type OperationDefinitionNode, type TypeNode, type VariableNode } from 'graphql';
import type { GraphQLParams, Plugin } from 'graphql-yoga';
import { GatewayError } from '../errors/index.js';
import { StreamedFile } from '../modules/training-file/upload.js';
import { limitExceeded } from './limits.js';

/*
 * GraphQL multipart requests (https://github.com/jaydenseric/graphql-multipart-request-spec), parsed as they stream.
 * Yoga's own parser reads the whole body with `request.formData()` first; this one reads `operations` and `map`, then
 * hands the file part to the resolver as it arrives (a `StreamedFile`), so a file of any size passes through the
 * gateway with flat memory, at the pace the upstream reads it. It replaces yoga's parser for multipart only; what it
 * returns goes down the same pipeline as a JSON body (persisted queries, batch rule, operation limits, …).
 */

export interface MultipartLimits {
  /** The file's size, at most (the resolver counts it; busboy stops one byte past it). */
  maxFileBytes: number;
  /** `operations` and `map`, each at most. */
  maxFieldBytes: number;
  /** The whole body, at most: a chunked body past it is cut off. */
  maxBodyBytes: number;
}

interface Upload {
  file: StreamedFile;
  variable: string;
}

/** The file of each multipart request, for the execution check. */
const uploads = new WeakMap<Request, Upload>();

const VARIABLE_PATH = /^variables\.([A-Za-z_][A-Za-z0-9_]*)$/;

const malformed = (message: string) => new GatewayError(message, { code: 'BAD_USER_INPUT', retryable: false, http: { status: 400 } });

export function isMultipart(request: Request): boolean {
  return (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase() === 'multipart/form-data';
}

/** The body as a node stream: the socket itself when the node adapter gives it (no copy, real backpressure). */
function nodeBody(request: Request): Readable | null {
  const body = request.body as (ReadableStream<Uint8Array> & { readable?: unknown }) | null;
  if (!body) return null;
  if (body.readable instanceof Readable) return body.readable;
  return Readable.fromWeb(body as WebReadableStream<Uint8Array>);
}

function parseJsonObject(text: string, field: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw malformed(`The multipart field "${field}" is not valid JSON.`);
  }
  if (typeof value !== 'object' || value === null) throw malformed(`The multipart field "${field}" must be a JSON object.`);
  if (Array.isArray(value)) throw malformed(`A multipart request carries one operation: "${field}" must be a JSON object, not a batch.`);
  return value as Record<string, unknown>;
}

/** The one file the map names, checked against `operations`: one file, used once, in a top-level variable sent as null. */
function readMap(text: string, operations: Record<string, unknown>): { key: string; variable: string } | null {
  const entries = Object.entries(parseJsonObject(text, 'map'));
  if (entries.length === 0) return null;
  if (entries.length > 1) throw malformed(`One file per request: "map" names ${entries.length}.`);
  const [key, paths] = entries[0]!;
  if (!Array.isArray(paths) || paths.length !== 1 || typeof paths[0] !== 'string')
    throw malformed(`"map" must point file "${key.slice(0, 32)}" at exactly one place (a request body is read once).`);
  const variable = VARIABLE_PATH.exec(paths[0])?.[1];
  if (!variable)
    throw malformed(`A file goes in a top-level variable ("variables.file"), not at ${JSON.stringify(paths[0].slice(0, 64))}.`);
  const variables = operations.variables;
  if (typeof variables !== 'object' || variables === null || !Object.hasOwn(variables, variable) || (variables as never)[variable] !== null)
    throw malformed(`"map" points at variables.${variable}, which "operations" does not hold as null.`);
  return { key, variable };
}

function parseMultipart(request: Request, limits: MultipartLimits): Promise<GraphQLParams> {
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: { 'content-type': request.headers.get('content-type') ?? '' },
      // Browsers, undici and every upload client send a file name as raw UTF-8 in `filename="…"`; busboy's default
      // (Latin-1) would hand the upstream a garbled name ("è®­ç»\x83" for "训练").
      defParamCharset: 'utf8',
      // No `parts` limit: busboy counts the closing delimiter against it. Fields and files bound the parts.
      limits: { fieldSize: limits.maxFieldBytes, fields: 2, files: 1, fileSize: limits.maxFileBytes + 1, headerPairs: 20 },
    });
  } catch {
    return Promise.reject(malformed('The multipart body has no boundary in its Content-Type.'));
  }
  const source = nodeBody(request);
  if (!source) return Promise.reject(malformed('The multipart request has no body.'));

  return new Promise<GraphQLParams>((resolve, reject) => {
    let operations: Record<string, unknown> | undefined;
    let file: { key: string; variable: string } | null | undefined;
    let handedOut = false;
    let finished = false;
    let settleRest: (error?: GatewayError) => void = () => {};
    const rest = new Promise<void>((ok, fail) => {
      settleRest = (error) => (error ? fail(error) : ok());
    });

    const fail = (error: GatewayError) => {
      if (finished) return;
      finished = true;
      if (handedOut) settleRest(error);
      else reject(error);
      // The rest of the body is read and dropped (bounded below), so the answer reaches the client.
      source.unpipe(parser);
      source.resume();
    };

    let received = 0;
    source.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > limits.maxBodyBytes) {
        fail(limitExceeded('maxUploadBytes', `The multipart body is larger than ${limits.maxBodyBytes} bytes, the most allowed.`, 413));
        source.destroy();
      }
    });
    // The client gone mid-body: the part being read fails with it (busboy destroys it), so whatever it was being sent
    // to is aborted instead of waiting for bytes that will never come.
    const cutOff = () => {
      if (source.readableEnded) return;
      fail(malformed('The multipart body was cut off.'));
      parser.destroy(new Error('the request was cut off'));
    };
    source.on('error', cutOff);
    source.on('close', cutOff);

    parser.on('field', (name, value, info) => {
      if (info.nameTruncated || info.valueTruncated)
        return fail(
          limitExceeded('maxBodyBytes', `The multipart field "${name.slice(0, 32)}" is larger than ${limits.maxFieldBytes} bytes.`, 413),
        );
      try {
        if (name === 'operations' && operations === undefined) operations = parseJsonObject(value, 'operations');
        else if (name === 'map' && operations !== undefined && file === undefined) file = readMap(value, operations);
        else throw malformed(`Unexpected multipart field "${name.slice(0, 32)}": the fields are "operations", then "map", then the file.`);
      } catch (error) {
        fail(error as GatewayError);
      }
    });

    parser.on('file', (name, part, info) => {
      if (finished || handedOut || !operations || file === undefined) {
        part.resume();
        return fail(malformed('A file part came before "operations" and "map": the spec sends them first.'));
      }
      if (!file || name !== file.key) {
        part.resume();
        return fail(malformed(`The file part "${name.slice(0, 32)}" is not named in "map".`));
      }
      const streamed = new StreamedFile(info.filename ?? '', info.mimeType, part, rest);
      Object.defineProperty(operations.variables, file.variable, { value: streamed, enumerable: true, writable: true, configurable: true });
      uploads.set(request, { file: streamed, variable: file.variable });
      handedOut = true;
      resolve(operations as GraphQLParams);
    });

    parser.on('filesLimit', () => fail(malformed('One file per request: the body holds more.')));
    parser.on('fieldsLimit', () => fail(malformed('Too many multipart fields: a request has "operations", "map" and one file.')));
    parser.on('error', (error: Error) => fail(malformed(`The multipart body is malformed: ${error.message}.`)));
    parser.on('close', () => {
      if (finished) return;
      if (handedOut) {
        finished = true;
        return settleRest();
      }
      if (operations && file === null) {
        finished = true;
        return resolve(operations as GraphQLParams);
      }
      fail(
        malformed(
          file
            ? `The multipart body ended without file "${file.key.slice(0, 32)}" of "map".`
            : 'The multipart body ended before "operations" and "map".',
        ),
      );
    });

    source.pipe(parser);
  });
}

/** How many times the operation (with the document's fragments) passes `$variable` to an argument or directive. */
function usesOf(operation: OperationDefinitionNode, document: DocumentNode, variable: string): number {
  let uses = 0;
  const visitor = {
    VariableDefinition: () => false,
    Variable: (node: VariableNode) => void (node.name.value === variable && uses++),
  };
  visit(operation, visitor);
  for (const definition of document.definitions) if (definition.kind === Kind.FRAGMENT_DEFINITION) visit(definition, visitor);
  return uses;
}

function namedType(type: TypeNode): string {
  return type.kind === Kind.NAMED_TYPE ? type.name.value : namedType(type.type);
}

/**
 * Streams multipart requests to the resolvers (see above), and refuses an operation that would leave the file unread:
 * the variable it is mapped to must be one the operation declares as a `File`.
 */
export function useMultipartUpload(limits: MultipartLimits): Plugin<{ request: Request }> {
  return {
    onRequestParse({ request, setRequestParser }) {
      if (request.method === 'POST' && isMultipart(request)) setRequestParser(() => parseMultipart(request, limits));
    },
    onExecute({ args, setResultAndStopExecution }) {
      const upload = uploads.get(args.contextValue.request);
      if (!upload) return;
      const operation = getOperationAST(args.document as DocumentNode, args.operationName as string | undefined);
      const declared = operation?.variableDefinitions?.find((d) => d.variable.name.value === upload.variable);
      const refuse = (message: string) => {
        upload.file.discard();
        setResultAndStopExecution({ errors: [malformed(message)] });
      };
      if (!operation || !declared || namedType(declared.type) !== 'File')
        return refuse(`The file is mapped to $${upload.variable}, which the operation does not declare as a File: it would never be read.`);
      // A request body is read once: a second field given the same file would fail mid-operation (an internal error)
      // after the first had already uploaded it. Refused before anything runs.
      if (usesOf(operation, args.document as DocumentNode, upload.variable) > 1)
        return refuse(`The file in $${upload.variable} may be passed to one field only, once: a request body is read once.`);
      // A resolver that never read it (an error before, a skipped field): its bytes are drained so the request ends.
      return { onExecuteDone: () => upload.file.discard() };
    },
  };
}
