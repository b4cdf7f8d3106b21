import { ApolloClient, InMemoryCache, gql } from '@apollo/client';
import { Client as UrqlClient, fetchExchange } from '@urql/core';
import UploadHttpLink from 'apollo-upload-client/UploadHttpLink.mjs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEMO_ACCOUNT, type EmulatorAccount } from '../../src/emulator/index.js';
import { startStack, type Stack } from '../support/stack.js';
import { graphqlWs, httpPost } from '../support/transports.js';

/*
 * uploadTrainingFile (GraphQL multipart request spec) through the real gateway to the emulator, both over HTTP: the
 * clients' requests, the refusals (nothing reaches DashScope), and key isolation. Memory: upload-memory.test.ts.
 */

const UPLOAD =
  'mutation($file: File!, $description: String) { uploadTrainingFile(file: $file, description: $description) { id filename bytes purpose status createdAt } }';
const GET = 'query($id: ID!) { trainingFile(id: $id) { id filename bytes } }';
const LIST = 'query { trainingFiles(pageSize: 100) { items { id filename bytes } } }';
const JSONL = '{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}\n';
const ZIP = Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.alloc(60, 7)]);
const PREFLIGHT = { 'graphql-preflight': '1' };
const LIMITS = { UPLOAD_MAX_BYTES: '4096', UPSTREAM_BREAKER_FAILURES: '1000', CACHE_ENABLED: 'false' };

type Body = { data?: Record<string, any> | null; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };

/** A multipart request as the spec lays it out, made by hand so that each part can be bent. */
async function send(
  url: string,
  parts: Array<[name: string, value: string | Buffer, filename?: string]>,
  headers: Record<string, string> = PREFLIGHT,
  boundary = 'test-boundary-x',
): Promise<{ status: number; body: Body }> {
  const chunks: Buffer[] = [];
  for (const [name, value, filename] of parts) {
    const disposition = `form-data; name="${name}"${filename === undefined ? '' : `; filename="${filename}"`}`;
    chunks.push(Buffer.from(`--${boundary}\r\ncontent-disposition: ${disposition}\r\n\r\n`), Buffer.from(value), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, ...headers },
    body: Buffer.concat(chunks),
  });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text) as Body };
}

const operations = (variables: Record<string, unknown> = { file: null }, query = UPLOAD) => JSON.stringify({ query, variables });
const MAP = JSON.stringify({ 0: ['variables.file'] });
/** The usual request: operations, map, the file. */
const upload = (url: string, filename: string, content: string | Buffer, headers?: Record<string, string>) =>
  send(
    url,
    [
      ['operations', operations()],
      ['map', MAP],
      ['0', content, filename],
    ],
    headers,
  );

function errorOf(response: { status: number; body: Body }) {
  expect(response.body.errors, JSON.stringify(response.body)).toHaveLength(1);
  return response.body.errors![0]!;
}

describe('uploadTrainingFile', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: LIMITS });
  });
  afterAll(() => stack.close());
  beforeEach(() => {
    stack.emulator.clearFaults();
    stack.emulator.resetStats();
  });
  const fileCount = async () => (await stack.ok(LIST)).trainingFiles.items.length as number;

  it('uploads a JSONL file by hand (graphql-preflight); it is then listed and readable', async () => {
    const response = await upload(stack.url, 'train.jsonl', JSONL.repeat(3));
    expect(response.status).toBe(200);
    const file = response.body.data!.uploadTrainingFile;
    expect(file).toMatchObject({ filename: 'train.jsonl', bytes: JSONL.length * 3, purpose: 'fine-tune', status: 'processed' });
    expect(file.id).toMatch(/^file-ft-/);
    expect(stack.upstreamCalls('file-upload')).toBe(1);
    expect((await stack.ok(GET, { id: file.id })).trainingFile).toEqual({ id: file.id, filename: 'train.jsonl', bytes: JSONL.length * 3 });
    expect((await stack.ok(LIST)).trainingFiles.items).toContainEqual({ id: file.id, filename: 'train.jsonl', bytes: JSONL.length * 3 });
  });

  it('accepts a BOM and blank lines before the first JSON line', async () => {
    const content = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('\n \r\n' + JSONL)]);
    const response = await upload(stack.url, 'bom.JSONL', content);
    expect(response.body.data?.uploadTrainingFile, JSON.stringify(response.body)).toMatchObject({ bytes: content.length });
  });

  it('through @urql/core, with the preflight header in fetchOptions: a JSONL and a ZIP', async () => {
    const client = new UrqlClient({ url: `${stack.url}/graphql`, exchanges: [fetchExchange], fetchOptions: { headers: PREFLIGHT } });
    const jsonl = await client.mutation(UPLOAD, { file: new File([JSONL], 'urql.jsonl'), description: 'from urql' }).toPromise();
    expect(jsonl.error).toBeUndefined();
    expect(jsonl.data.uploadTrainingFile).toMatchObject({ filename: 'urql.jsonl', bytes: JSONL.length });
    const zip = await client.mutation(UPLOAD, { file: new File([ZIP], 'images.zip', { type: 'application/zip' }) }).toPromise();
    expect(zip.error).toBeUndefined();
    expect(zip.data.uploadTrainingFile).toMatchObject({ filename: 'images.zip', bytes: ZIP.length });
    const id = zip.data.uploadTrainingFile.id as string;
    expect((await stack.ok(GET, { id })).trainingFile).toMatchObject({ id, filename: 'images.zip' });
    expect(stack.upstreamCalls('file-upload')).toBe(2);
  });

  it("through @urql/core's defaults alone (no preflight header): refused as a cross-site form would be, nothing sent", async () => {
    const client = new UrqlClient({ url: `${stack.url}/graphql`, exchanges: [fetchExchange] });
    const result = await client.mutation(UPLOAD, { file: new File([JSONL], 'urql.jsonl') }).toPromise();
    expect(result.error?.response?.status).toBe(415);
    expect(stack.upstreamCalls()).toBe(0);
  });

  it('through apollo-upload-client (UploadHttpLink, Apollo-Require-Preflight as its docs say): a JSONL and a ZIP', async () => {
    const client = new ApolloClient({
      cache: new InMemoryCache(),
      link: new UploadHttpLink({ uri: `${stack.url}/graphql`, headers: { 'Apollo-Require-Preflight': 'true' } }),
    });
    const mutation = gql(UPLOAD);
    const jsonl = await client.mutate({ mutation, variables: { file: new File([JSONL], 'apollo.jsonl') } });
    expect(jsonl.data).toMatchObject({ uploadTrainingFile: { filename: 'apollo.jsonl', bytes: JSONL.length } });
    // A Blob has no name: apollo-upload-client sends it as "blob", which is neither JSONL nor ZIP by name.
    await expect(client.mutate({ mutation, variables: { file: new Blob([ZIP]) } })).rejects.toThrow(/not a \.jsonl or \.zip file/);
    const named = await client.mutate({ mutation, variables: { file: new File([ZIP], 'apollo.zip') } });
    expect(named.data).toMatchObject({ uploadTrainingFile: { filename: 'apollo.zip', bytes: ZIP.length } });
    expect(stack.upstreamCalls('file-upload')).toBe(2);
  });

  describe('refused with BAD_USER_INPUT before anything is sent upstream, no file left', () => {
    let before: number;
    beforeEach(async () => {
      before = await fileCount();
      stack.emulator.resetStats();
    });
    const nothingSent = async () => {
      expect(stack.upstreamCalls('file-upload')).toBe(0);
      expect(await fileCount()).toBe(before);
    };

    it.each([
      ['empty', 'empty.jsonl', '', /is empty/, undefined],
      ['not JSONL or ZIP by name', 'train.csv', 'a,b\n', /not a \.jsonl or \.zip file/, 'uploadTypes'],
      ['named JSONL, not JSONL inside', 'train.jsonl', 'hello\n', /does not start like one/, 'uploadTypes'],
      ['named ZIP, not ZIP inside', 'data.zip', JSONL, /does not start like one/, 'uploadTypes'],
      ['named JSONL, ZIP inside', 'data.jsonl', ZIP, /does not start like one/, 'uploadTypes'],
      ['over the size limit', 'big.jsonl', JSONL.repeat(100), /larger than 4096 bytes/, 'maxUploadBytes'],
    ])('%s', async (_case, filename, content, message, limit) => {
      const error = errorOf(await upload(stack.url, filename, content));
      expect(error.message).toMatch(message);
      expect(error.extensions).toMatchObject({ code: 'BAD_USER_INPUT', ...(limit && { limit }) });
      await nothingSent();
    });

    it('a declared Content-Length over the limit: 413 up front', async () => {
      const response = await upload(stack.url, 'big.jsonl', JSONL.repeat(3000));
      expect(response.status).toBe(413);
      expect(errorOf(response).extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit: 'maxUploadBytes' });
      await nothingSent();
    });

    it('a cross-site form (multipart without a preflight header): 415', async () => {
      const response = await upload(stack.url, 'train.jsonl', JSONL, {});
      expect(response.status).toBe(415);
      expect(errorOf(response).message).toMatch(/graphql-preflight/);
      await nothingSent();
    });

    it.each([
      [
        'two files in map',
        [
          ['operations', operations({ file: null, other: null })],
          ['map', JSON.stringify({ 0: ['variables.file'], 1: ['variables.other'] })],
          ['0', JSONL, 'a.jsonl'],
          ['1', JSONL, 'b.jsonl'],
        ],
        /One file per request/,
      ],
      [
        'a file in a nested place',
        [
          ['operations', operations({ file: { x: null } })],
          ['map', JSON.stringify({ 0: ['variables.file.x'] })],
          ['0', JSONL, 'a.jsonl'],
        ],
        /top-level variable/,
      ],
      [
        'map pointing at a variable operations lacks',
        [
          ['operations', operations({})],
          ['map', MAP],
          ['0', JSONL, 'a.jsonl'],
        ],
        /does not hold as null/,
      ],
      [
        'a file in an unexpected variable',
        [
          ['operations', operations({ file: null, description: null })],
          ['map', JSON.stringify({ 0: ['variables.description'] })],
          ['0', JSONL, 'a.jsonl'],
        ],
        /declare as a File/,
      ],
      [
        'a file never used (map names a file the body lacks)',
        [
          ['operations', operations()],
          ['map', MAP],
        ],
        /ended without file "0"/,
      ],
      [
        'a file part not in map',
        [
          ['operations', operations()],
          ['map', MAP],
          ['7', JSONL, 'a.jsonl'],
        ],
        /not named in "map"/,
      ],
      [
        'a file part before operations',
        [
          ['0', JSONL, 'a.jsonl'],
          ['operations', operations()],
          ['map', MAP],
        ],
        /before "operations" and "map"/,
      ],
      [
        'operations not JSON',
        [
          ['operations', '{nope'],
          ['map', MAP],
          ['0', JSONL, 'a.jsonl'],
        ],
        /not valid JSON/,
      ],
      [
        'a batch',
        [
          ['operations', JSON.stringify([{ query: UPLOAD, variables: { file: null } }])],
          ['map', JSON.stringify({ 0: ['0.variables.file'] })],
          ['0', JSONL, 'a.jsonl'],
        ],
        /not a batch/,
      ],
      [
        'an unknown field',
        [
          ['operations', operations()],
          ['extra', 'x'],
          ['map', MAP],
          ['0', JSONL, 'a.jsonl'],
        ],
        /Unexpected multipart field "extra"/,
      ],
      [
        'a file used twice',
        [
          ['operations', operations({ file: null, again: null })],
          ['map', JSON.stringify({ 0: ['variables.file', 'variables.again'] })],
          ['0', JSONL, 'a.jsonl'],
        ],
        /exactly one place/,
      ],
    ] as Array<[string, Array<[string, string | Buffer, string?]>, RegExp]>)('%s', async (_case, parts, message) => {
      const response = await send(stack.url, parts);
      expect(response.status).toBeLessThan(500);
      const error = errorOf(response);
      expect(error.message).toMatch(message);
      expect(error.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
      await nothingSent();
    });

    it('operations over the body limit, no boundary, a truncated body: 4xx, nothing sent, the gateway still serves', async () => {
      const big = await send(stack.url, [
        ['operations', operations({ file: null, pad: 'x'.repeat(200_000) })],
        ['map', MAP],
        ['0', JSONL, 'a.jsonl'],
      ]);
      expect(big.status).toBe(413);
      expect(errorOf(big).extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit: 'maxBodyBytes' });

      const noBoundary = await fetch(`${stack.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'multipart/form-data', ...PREFLIGHT },
        body: 'x',
      });
      expect(noBoundary.status).toBe(400);
      expect(((await noBoundary.json()) as Body).errors?.[0]?.message).toMatch(/no boundary/);

      const head = `--b\r\ncontent-disposition: form-data; name="operations"\r\n\r\n${operations()}\r\n--b\r\ncontent-disposition: form-data; name="map"\r\n\r\n${MAP}\r\n--b\r\ncontent-disposition: form-data; name="0"; filename="t.jsonl"\r\n\r\n${JSONL}`;
      const truncated = await fetch(`${stack.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'multipart/form-data; boundary=b', ...PREFLIGHT },
        body: head,
      });
      const error = ((await truncated.json()) as Body).errors?.[0];
      expect(error?.message).toMatch(/cut off|malformed/);
      expect(error?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
      expect(await fileCount()).toBe(before);
      expect((await upload(stack.url, 'after.jsonl', JSONL)).body.data?.uploadTrainingFile).toMatchObject({ filename: 'after.jsonl' });
    });

    it('a second file part after the first: the upload already under way is aborted, no file is made', async () => {
      const response = await send(stack.url, [
        ['operations', operations()],
        ['map', MAP],
        ['0', JSONL, 'a.jsonl'],
        ['1', JSONL, 'b.jsonl'],
      ]);
      const error = errorOf(response);
      expect(error.message).toMatch(/One file per request/);
      expect(error.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
      expect(await fileCount()).toBe(before);
    });

    it('a compressed multipart body: 415, nothing sent', async () => {
      const response = await upload(stack.url, 'train.jsonl', JSONL, { ...PREFLIGHT, 'content-encoding': 'gzip' });
      expect(response.status).toBe(415);
      expect(errorOf(response).message).toMatch(/without Content-Encoding/);
      await nothingSent();
    });

    it('many parts: refused at the parts limit at the parts limit', async () => {
      const parts = Array.from({ length: 1000 }, (_, i) => [`f${i}`, 'x'] as [string, string]);
      const response = await send(stack.url, [['operations', operations()], ['map', MAP], ...parts]);
      expect(response.status).toBe(400);
      expect(errorOf(response).extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
      await nothingSent();
    });

    it('a chunked body that crosses the size limit mid-stream: the upstream request is aborted, no file is made', async () => {
      const boundary = 'chunked-b';
      const encoder = new TextEncoder();
      const pieces = [
        `--${boundary}\r\ncontent-disposition: form-data; name="operations"\r\n\r\n${operations()}\r\n`,
        `--${boundary}\r\ncontent-disposition: form-data; name="map"\r\n\r\n${MAP}\r\n`,
        `--${boundary}\r\ncontent-disposition: form-data; name="0"; filename="grow.jsonl"\r\n\r\n`,
        ...Array.from({ length: 10 }, () => JSONL.repeat(10)),
        `\r\n--${boundary}--\r\n`,
      ];
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          const next = pieces.shift();
          if (next === undefined) controller.close();
          else controller.enqueue(encoder.encode(next));
        },
      });
      const response = await fetch(`${stack.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, ...PREFLIGHT },
        body,
        duplex: 'half',
      } as RequestInit);
      const error = ((await response.json()) as Body).errors?.[0];
      expect(error?.message).toMatch(/larger than 4096 bytes/);
      expect(error?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit: 'maxUploadBytes' });
      expect(await fileCount()).toBe(before);
    });
  });

  it('a client that goes away mid-file: the upload under way is aborted, no file is made', async () => {
    const before = await fileCount();
    stack.emulator.resetStats();
    const boundary = 'gone-b';
    const encoder = new TextEncoder();
    let step = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (step++ === 0) {
          const head = `--${boundary}\r\ncontent-disposition: form-data; name="operations"\r\n\r\n${operations()}\r\n--${boundary}\r\ncontent-disposition: form-data; name="map"\r\n\r\n${MAP}\r\n--${boundary}\r\ncontent-disposition: form-data; name="0"; filename="gone.jsonl"\r\n\r\n${JSONL}`;
          return controller.enqueue(encoder.encode(head));
        }
        // DashScope's request is open, the file's first bytes on their way: then the client is gone.
        await expect.poll(() => stack.upstreamCalls('file-upload')).toBe(1);
        controller.error(new Error('client gone'));
      },
    });
    const sent = fetch(`${stack.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, ...PREFLIGHT },
      body,
      duplex: 'half',
    } as RequestInit);
    await expect(sent).rejects.toThrow();
    await expect.poll(() => stack.emulator.stats().inFlight).toBe(0);
    expect(await fileCount()).toBe(before);
  });

  it('a File given as JSON (a string, an object) is BAD_USER_INPUT over HTTP and graphql-ws, nothing sent', async () => {
    const transports = [httpPost(stack.url), graphqlWs(stack.url)];
    try {
      for (const transport of transports) {
        for (const file of ['train.jsonl', { name: 'train.jsonl', stream: 'x' }]) {
          const outcome = await transport.run({ query: UPLOAD, variables: { file } });
          const errors = outcome.payloads[0]?.errors;
          expect(errors, `${transport.name}: ${JSON.stringify(outcome)}`).toHaveLength(1);
          expect(errors![0]!.message).toMatch(/only as a file part of a multipart request/);
          expect(errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
        }
      }
      const literal = await transports[0]!.run({ query: 'mutation { uploadTrainingFile(file: "x.jsonl") { id } }' });
      expect(literal.payloads[0]?.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    } finally {
      await Promise.all(transports.map((t) => t.close()));
    }
    expect(stack.upstreamCalls()).toBe(0);
  });

  it("DashScope's refusal of an upload comes back through the error table", async () => {
    stack.emulator.injectFault({
      match: { route: 'file-upload' },
      fault: { kind: 'status', status: 400, code: 'InvalidParameter', message: 'bad file' },
      times: 1,
    });
    const error = errorOf(await upload(stack.url, 'train.jsonl', JSONL));
    expect(error.extensions).toMatchObject({ code: 'BAD_USER_INPUT', upstream: { httpStatus: 400 } });
  });
});

describe('uploadTrainingFile in forward mode: a file belongs to the key that uploaded it', () => {
  const A: EmulatorAccount = { ...DEMO_ACCOUNT };
  const B: EmulatorAccount = { apiKey: 'sk-upload-b', workspaceId: 'llm-b', userId: '2', seed: false };
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { AUTH_MODE: 'forward' }, emulator: { accounts: [A, B] } });
  });
  afterAll(() => stack.close());

  it('uploaded with key A: readable with A, invisible to B; without a key: UNAUTHENTICATED, nothing sent', async () => {
    const as = (account: EmulatorAccount) => ({ ...PREFLIGHT, authorization: `Bearer ${account.apiKey}` });
    const id = (await upload(stack.url, 'a.jsonl', JSONL, as(A))).body.data!.uploadTrainingFile.id as string;
    expect((await stack.ok(GET, { id }, as(A))).trainingFile).toMatchObject({ id });
    expect((await stack.ok(GET, { id }, as(B))).trainingFile).toBeNull();
    expect((await stack.ok(LIST, {}, as(B))).trainingFiles.items).toEqual([]);
    stack.emulator.resetStats();
    expect(errorOf(await upload(stack.url, 'a.jsonl', JSONL)).extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(stack.upstreamCalls()).toBe(0);
  });
});
