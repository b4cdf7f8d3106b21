import { request, type IncomingHttpHeaders } from 'node:http';
import { brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSse } from '../support/sse.js';
import { startStack, type Stack } from '../support/stack.js';

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The bytes as they came over the wire, not decoded. */
  wire: Buffer;
}

/** An HTTP request with node:http, which (unlike fetch) hands over the body exactly as sent. */
function raw(
  url: string,
  { method = 'GET', headers = {}, body }: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {},
) {
  return new Promise<RawResponse>((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, wire: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const decode = ({ headers, wire }: RawResponse): string => {
  const encoding = headers['content-encoding'];
  if (encoding === 'br') return brotliDecompressSync(wire).toString();
  if (encoding === 'gzip') return gunzipSync(wire).toString();
  expect(encoding).toBeUndefined();
  return wire.toString();
};

// A list page: a few KB of JSON, well over the 1 KB below which nothing is compressed.
const LIST = '{ fineTuneJobs(page: 1, pageSize: 50) { items { id status model createdAt trainingFileIds } } }';

describe('response compression', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack?.close());

  const post = (query: string, headers: Record<string, string> = {}) =>
    raw(`${stack.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
      body: JSON.stringify({ query }),
    });

  it.each([
    ['gzip', 'gzip'],
    ['br', 'br'],
    ['gzip, deflate, br, zstd', 'br'],
    ['br;q=0, gzip', 'gzip'],
    ['*', 'br'],
  ])('Accept-Encoding: %s gets %s, which decodes to the same answer as a plain one', async (accept, expected) => {
    const plain = await post(LIST);
    const compressed = await post(LIST, { 'accept-encoding': accept });
    expect(compressed.status).toBe(200);
    expect(compressed.headers['content-encoding']).toBe(expected);
    expect(compressed.headers.vary).toMatch(/Accept-Encoding/);
    expect(Number(compressed.headers['content-length'])).toBe(compressed.wire.byteLength);
    expect(compressed.wire.byteLength).toBeLessThan(plain.wire.byteLength / 3);
    expect(JSON.parse(decode(compressed))).toEqual(JSON.parse(decode(plain)));
  });

  it.each([[undefined], ['identity'], ['gzip;q=0, br;q=0']])('Accept-Encoding: %s gets a plain answer', async (accept) => {
    const response = await post(LIST, accept ? { 'accept-encoding': accept } : {});
    expect(response.headers['content-encoding']).toBeUndefined();
    expect(JSON.parse(response.wire.toString()).data.fineTuneJobs.items.length).toBeGreaterThan(0);
  });

  it('leaves small answers plain: compressing them costs more than it saves', async () => {
    const response = await post('{ __typename }', { 'accept-encoding': 'gzip, br' });
    expect(response.headers['content-encoding']).toBeUndefined();
    expect(JSON.parse(response.wire.toString())).toEqual({ data: { __typename: 'Query' } });
  });

  it('never compresses an event stream: each SSE event arrives as it happens', async () => {
    const stream = await openSse(
      stack.url,
      'subscription { fineTuneJobUpdated(id: "ft-202605271743-dd2a") { id status } }',
      {},
      {
        headers: { 'accept-encoding': 'gzip, br' },
      },
    );
    expect(stream.status).toBe(200);
    // The stream stays open; its first event is readable before it ends, which a buffering compressor would prevent.
    expect((await stream.next())?.data?.fineTuneJobUpdated?.id).toBe('ft-202605271743-dd2a');
    stream.close();
    const head = await fetch(`${stack.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'accept-encoding': 'gzip, br' },
      body: JSON.stringify({ query: 'subscription { fineTuneJobUpdated(id: "ft-202605271743-dd2a") { id } }' }),
    });
    expect(head.headers.get('content-encoding') ?? 'none').toBe('none');
    await head.body?.cancel();
  });

  it('still bounds compressed request bodies: a gzip bomb is refused with 413', async () => {
    const bomb = gzipSync(Buffer.from(`{"query":"{ __typename }","x":"${'a'.repeat(20_000_000)}"}`));
    const response = await raw(`${stack.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', 'accept-encoding': 'gzip' },
      body: bomb,
    });
    expect(response.status).toBe(413);
    expect(JSON.parse(decode(response)).errors[0].extensions.code).toBe('BAD_USER_INPUT');
  });
});

describe('GraphiQL first load', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack?.close());

  /** The page and every file it links (script, style, icon, Monaco's workers), as a browser would fetch them. */
  async function firstLoad(acceptEncoding: string) {
    const page = await raw(`${stack.url}/graphql`, { headers: { accept: 'text/html', 'accept-encoding': acceptEncoding } });
    expect(page.status).toBe(200);
    const html = decode(page);
    const assets = [...new Set([...html.matchAll(/"(\/graphiql-assets\/[^"]+)"/g)].map((m) => m[1]!))];
    const files = await Promise.all(assets.map((path) => raw(`${stack.url}${path}`, { headers: { 'accept-encoding': acceptEncoding } })));
    return { page, html, assets, files };
  }

  it.each([
    // Yoga's page was 9 MB (uncompressed, never cached). Brotli (quality 5) and gzip (level 6) give 2.17 and 2.44 MB.
    ['br', 2_300_000],
    ['gzip', 2_600_000],
  ])('is a small page and compressed, immutable files (%s: under %i bytes in all)', async (encoding, bound) => {
    const { page, html, assets, files } = await firstLoad(encoding);
    expect(page.wire.byteLength).toBeLessThan(2_000);
    expect(html).toContain('<title>finetune-gateway</title>');
    // The script, its style, the icon and Monaco's three workers.
    expect(assets).toHaveLength(6);
    for (const file of files) {
      expect(file.status).toBe(200);
      expect(file.headers['content-encoding']).toBe(encoding);
      expect(file.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(decode(file).length).toBeGreaterThan(0);
    }
    const total = page.wire.byteLength + files.reduce((sum, file) => sum + file.wire.byteLength, 0);
    expect(total).toBeLessThan(bound);
  });

  it('serves the files plain to a client that does not accept compression, and 404 for an unknown one', async () => {
    const { assets, files } = await firstLoad('identity');
    const script = files[assets.findIndex((path) => /graphiql\.[0-9a-f]{16}\.js$/.test(path))]!;
    expect(script.headers['content-encoding']).toBeUndefined();
    expect(script.headers['content-type']).toMatch(/^text\/javascript/);
    expect(script.wire.toString()).toContain('renderYogaGraphiQL');
    expect((await raw(`${stack.url}/graphiql-assets/graphiql.0000000000000000.js`)).status).toBe(404);
  });
});
