// The emulator's HTTP server: each request goes to the control API or through the API pipeline (route, stats,
// latency, fault, handler). The parts live in router.ts, handlers/, faults.ts, control.ts and stats.ts.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CONTROL_PREFIX, controlReply, createControls } from './control.js';
import { deliverFault, FaultRules } from './faults.js';
import { bearerKey, errorReply, keyHash, notFound, readBody, send } from './http.js';
import { dispatch, matchRoute } from './router.js';
import { createState } from './state.js';
import { RequestStats } from './stats.js';
import type { EmulatorOptions } from './types.js';
import type { Emulator } from './control-types.js';

export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const state = createState(options);
  const latencyMs = options.latencyMs ?? 0;
  const stats = new RequestStats();
  const faults = new FaultRules();
  const controls = createControls(state, stats, faults);
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;

  // Timers are cleared on close(); the waiting handler is then simply abandoned with its socket.
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (closed) return;
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = req.url ?? '/';
    const queryAt = url.indexOf('?');
    const path = queryAt === -1 ? url : url.slice(0, queryAt);
    const query = new URLSearchParams(queryAt === -1 ? '' : url.slice(queryAt + 1));
    const match = matchRoute(method, path);
    // An upload's handler reads its body as a stream, at its own pace (after any delay fault): never held here.
    const body = match.route === 'file-upload' ? Buffer.alloc(0) : await readBody(req);
    if (path.startsWith(CONTROL_PREFIX)) return send(res, controlReply(method, path.slice(CONTROL_PREFIX.length), body, controls, state));

    const apiKey = bearerKey(req);
    const rawJobId = match.rawParams.jobId;
    stats.record(
      {
        method,
        url,
        route: match.route,
        ...(match.underApi && rawJobId !== undefined && { jobId: match.params.jobId ?? rawJobId }),
        ...(apiKey !== undefined && { apiKeyHash: keyHash(apiKey) }),
      },
      res,
    );
    if (!match.underApi) return send(res, notFound());

    if (latencyMs > 0) await sleep(latencyMs);
    const normal = () => dispatch(match, { req, apiKey, query, body }, state);
    const unknownKey = apiKey === undefined || !state.accounts.has(apiKey);
    const fault = faults.take({ method, route: match.route, jobId: match.params.jobId, apiKey, unknownKey });
    if (fault) return deliverFault(res, fault, normal, sleep);
    send(res, await normal());
  }

  const server = createServer((req, res) => {
    onRequest(req, res).catch(() => send(res, errorReply(500, 'InternalError', 'Internal server error!')));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${host}:${address.port}`,
    demoApiKey: state.defaultApiKey,
    ...controls,
    close: async () => {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await done;
    },
  };
}
