import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { DEMO_API_KEY } from '../src/emulator/index.js';

/*
 * The floor any gateway can approach: a bare undici pass-through. `GET /jobs/<id>` and `GET /jobs?<query>` are sent
 * on as the same GET under `/api/v1/fine-tunes` with the demo key, and the upstream body is returned as it came.
 */
const { values } = parseArgs({
  options: { upstream: { type: 'string' }, port: { type: 'string', default: '0' }, key: { type: 'string', default: DEMO_API_KEY } },
});
if (!values.upstream) {
  console.error('usage: passthrough --upstream http://127.0.0.1:PORT [--port N] [--key KEY]');
  process.exit(1);
}
const pool = new Pool(values.upstream, { connections: 64, keepAliveTimeout: 10_000 });
const headers = { authorization: `Bearer ${values.key}`, accept: 'application/json' };

const server = createServer((req, res) => {
  const url = req.url ?? '/';
  if (req.method !== 'GET' || !url.startsWith('/jobs')) {
    res.writeHead(404).end();
    return;
  }
  pool
    .request({ method: 'GET', path: `/api/v1/fine-tunes${url.slice('/jobs'.length)}`, headers })
    .then(async (upstream) => {
      const body = await upstream.body.text();
      res.writeHead(upstream.statusCode, { 'content-type': 'application/json' }).end(body);
    })
    .catch(() => res.writeHead(502).end());
});
server.listen(Number(values.port), '127.0.0.1', () => {
  console.log(`passthrough listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(0));
