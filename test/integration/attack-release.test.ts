import { createClient } from 'graphql-ws';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DEMO_ACCOUNT } from '../../src/emulator/index.js';
import { SEED_FILE_IDS, SEED_JOB_IDS } from '../../src/emulator/seed.js';
import { startStack, type Stack } from '../support/stack.js';
import { graphqlWs } from '../support/transports.js';

/*
 * Defects found by attacking the surfaces added for the release (uploads, trusted documents, the response cache,
 * federation, create-as-documented). Each test states the contract and failed on the code it was written against;
 * each is fixed in the product code, with a comment there saying why.
 */

const JSONL = '{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}\n';
const PREFLIGHT = { 'graphql-preflight': '1' };
const MAP = JSON.stringify({ 0: ['variables.file'] });
type Body = {
  data?: Record<string, any> | null;
  errors?: Array<{ message: string; path?: unknown[]; extensions?: Record<string, unknown> }>;
};

/** A GraphQL multipart request made by hand: `operations`, `map`, then one file part with its disposition as given. */
async function multipart(url: string, operations: unknown, file: { disposition: string; content: string | Buffer }) {
  const boundary = 'attack-release-boundary';
  const part = (disposition: string, value: string | Buffer) => [
    Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; ${disposition}\r\n\r\n`),
    Buffer.from(value),
    Buffer.from('\r\n'),
  ];
  const body = Buffer.concat([
    ...part('name="operations"', JSON.stringify(operations)),
    ...part('name="map"', MAP),
    ...part(`name="0"; ${file.disposition}`, file.content),
    Buffer.from(`--${boundary}--\r\n`),
  ]);
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, ...PREFLIGHT },
    body,
  });
  return { status: response.status, body: (await response.json()) as Body };
}

describe('uploads', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { UPLOAD_MAX_BYTES: '4096', CACHE_ENABLED: 'false', NODE_ENV: 'production' } });
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.emulator.resetStats());

  it('a document that passes the one file to two fields is BAD_USER_INPUT before anything runs: no upload, no internal error', async () => {
    const query = 'mutation($file: File!) { a: uploadTrainingFile(file: $file) { id } b: uploadTrainingFile(file: $file) { id } }';
    const response = await multipart(
      stack.url,
      { query, variables: { file: null } },
      { disposition: 'filename="a.jsonl"', content: JSONL },
    );
    expect(response.body.data ?? null, JSON.stringify(response.body)).toBeNull();
    expect(response.body.errors).toHaveLength(1);
    expect(response.body.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(response.body.errors![0]!.message).toMatch(/once/);
    expect(stack.upstreamCalls('file-upload')).toBe(0);
  });

  it('keeps a UTF-8 file name as the browser sent it (FormData), not decoded as Latin-1', async () => {
    const name = '训练-données.jsonl';
    const form = new FormData();
    form.set(
      'operations',
      JSON.stringify({ query: 'mutation($file: File!) { uploadTrainingFile(file: $file) { filename } }', variables: { file: null } }),
    );
    form.set('map', MAP);
    form.set('0', new Blob([JSONL]), name);
    const response = await fetch(`${stack.url}/graphql`, { method: 'POST', headers: PREFLIGHT, body: form });
    const body = (await response.json()) as Body;
    expect(body.errors, JSON.stringify(body)).toBeUndefined();
    expect(body.data!.uploadTrainingFile.filename).toBe(name);
  });
});

describe('create-as-documented: reinforcement JSON fields', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { CREATE_SETTLE_MS: '0' } });
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.emulator.resetStats());

  const CREATE = 'mutation($input: CreateFineTuneJobInput!) { createFineTuneJob(input: $input) { id } }';
  const base = { model: 'qwen3-8b', trainingDatasets: [{ fileId: SEED_FILE_IDS.first }], trainingType: 'reinforcement' };

  // JSON.stringify of an object literal cannot hold an own "__proto__" key: the body is written as text, as a client
  // (or an attacker) sends it.
  it.each(['rewards', 'rollout', 'resourceConfig'])(
    'a "__proto__" key in %s is never silently dropped: BAD_USER_INPUT naming the field, nothing sent',
    async (field) => {
      const input = `${JSON.stringify(base).slice(0, -1)},"${field}":{"__proto__":{"n":1},"kept":1}}`;
      const response = await fetch(`${stack.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: `{"query":${JSON.stringify(CREATE)},"variables":{"input":${input}}}`,
      });
      const body = (await response.json()) as Body;
      expect(body.data?.createFineTuneJob ?? null, JSON.stringify(body)).toBeNull();
      expect(body.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName: `input.${field}` });
      expect(stack.upstreamCalls()).toBe(0);
    },
  );
});

describe('the response cache: invalidation whatever the selection', () => {
  let stack: Stack;
  beforeEach(async () => {
    // The read path's own cache off: every execution reads DashScope, so "no upstream call" means "served from the cache".
    stack = await startStack({ env: { CACHE_ENABLED: 'false' } });
  });
  afterEach(() => stack.close());

  // Each selection leaves the job's `id` or `__typename` out of the answer, where the cache used to look for what the
  // answer holds: it was kept where no invalidation found it, and served after the job was deleted.
  it.each([
    ['id @skip(if: true)', 'query($id: ID!) { fineTuneJob(id: $id) { id @skip(if: true) status } }', {}],
    ['id @include(if: $no)', 'query($id: ID!, $no: Boolean!) { fineTuneJob(id: $id) { id @include(if: $no) status } }', { no: false }],
    ['__typename @skip(if: true)', 'query($id: ID!) { fineTuneJob(id: $id) { __typename @skip(if: true) status } }', {}],
  ])(
    'a job deleted over graphql-ws is never answered from the cache after, and no cache bookkeeping shows, when the answer selected %s',
    async (_case, query, extra) => {
      const variables = { id: SEED_JOB_IDS.failed, ...extra };
      for (let read = 0; read < 2; read++) {
        const answer = await stack.gql(query, variables);
        expect(answer.body).toEqual({ data: { fineTuneJob: { status: 'FAILED' } } });
      }
      const ws = graphqlWs(stack.url);
      try {
        const deleted = await ws.run({
          query: 'mutation($id: ID!) { deleteFineTuneJob(id: $id) { deleted } }',
          variables: { id: SEED_JOB_IDS.failed },
        });
        expect(deleted.payloads[0]?.data).toEqual({ deleteFineTuneJob: { deleted: true } });
      } finally {
        await ws.close();
      }
      const after = await stack.gql(query, variables);
      expect(JSON.stringify(after.body)).not.toContain('__responseCache');
      expect(after.body.data?.fineTuneJob ?? null, JSON.stringify(after.body)).toBeNull();
      expect(after.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    },
  );
});

describe('forward mode over graphql-ws: connectionParams named as the HTTP headers are documented', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { AUTH_MODE: 'forward', CACHE_ENABLED: 'false' } });
  });
  afterAll(() => stack.close());

  /** One query over a socket whose connectionParams are exactly `params`; its result or its errors. */
  async function overSocket(params: Record<string, unknown>, query: string) {
    const client = createClient({
      url: `${stack.url.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: params,
    });
    try {
      return await new Promise<{ data?: unknown; errors?: Array<{ extensions?: Record<string, unknown> }> }>((resolve) => {
        let result: { data?: unknown; errors?: Array<{ extensions?: Record<string, unknown> }> } = {};
        client.subscribe(
          { query },
          {
            next: (value) => void (result = value as never),
            complete: () => resolve(result),
            error: (errors) => resolve({ errors: errors as never }),
          },
        );
      });
    } finally {
      await client.dispose();
    }
  }

  // docs/api.md: "the optional workspace in `X-DashScope-WorkSpace`; over WebSocket both go in `connectionParams`".
  // HTTP header names are case-insensitive; a connectionParams key spelled like the documented header was dropped, and
  // the operation ran in the key's default workspace, which the caller did not ask for.
  it('a workspace in connectionParams as "X-DashScope-WorkSpace" is used, as the same header is over HTTP: never dropped for the default workspace', async () => {
    const query = '{ fineTuneJobs(pageSize: 1) { total } }';
    const key = `Bearer ${DEMO_ACCOUNT.apiKey}`;
    const http = await stack.gql(query, {}, { authorization: key, 'X-DashScope-WorkSpace': 'llm-not-this-keys' });
    const code = http.body.errors?.[0]?.extensions?.code;
    expect(code, JSON.stringify(http.body)).toBeDefined();
    for (const params of [
      { authorization: key, 'X-DashScope-WorkSpace': 'llm-not-this-keys' },
      { Authorization: key, 'X-DASHSCOPE-WORKSPACE': 'llm-not-this-keys' },
    ]) {
      const ws = await overSocket(params, query);
      expect(ws.data ?? null, JSON.stringify(ws)).toBeNull();
      expect(ws.errors?.[0]?.extensions?.code).toBe(code);
    }
    // The key itself under another spelling is the caller's too.
    expect(await overSocket({ AUTHORIZATION: key }, query)).toMatchObject({ data: { fineTuneJobs: { total: expect.any(Number) } } });
  });

  it('one name given twice in connectionParams, under two spellings with two values, is BAD_USER_INPUT, nothing sent', async () => {
    stack.emulator.resetStats();
    const key = `Bearer ${DEMO_ACCOUNT.apiKey}`;
    const ws = await overSocket(
      { authorization: key, 'x-dashscope-workspace': DEMO_ACCOUNT.workspaceId, 'X-DashScope-WorkSpace': 'llm-other' },
      '{ fineTuneJobs(pageSize: 1) { total } }',
    );
    expect(ws.errors?.[0]?.extensions?.code, JSON.stringify(ws)).toBe('BAD_USER_INPUT');
    expect(stack.upstreamCalls()).toBe(0);
  });
});
