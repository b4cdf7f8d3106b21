import { DEMO_API_KEY } from '../src/emulator/index.js';
import { freePort, GATEWAY_ARGS, ROOT, startChild, type Child } from './processes.js';

/* The servers the bench compares, each its own process on 127.0.0.1, all reading one emulator. */

export async function startEmulator(latencyMs: number): Promise<Child> {
  const port = await freePort();
  return startChild('emulator', ['dist/emulator/main.js', '--port', String(port), '--latency-ms', String(latencyMs)], {
    cwd: ROOT,
    port,
    readyPath: '/__emulator/stats',
  });
}

/** The built gateway as `npm start` runs it; `nodeFlags` go before its own (e.g. `--cpu-prof`). */
export async function startGateway(name: string, emulator: Child, env: Record<string, string>, nodeFlags: string[] = []): Promise<Child> {
  const port = await freePort();
  return startChild(name, [...nodeFlags, ...GATEWAY_ARGS], {
    cwd: ROOT,
    port,
    readyPath: '/health',
    env: {
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      DASHSCOPE_BASE_URL: emulator.url,
      DASHSCOPE_API_KEY: DEMO_API_KEY,
      ...env,
    },
  });
}

/** The floor: bench/passthrough.ts relays `GET /jobs…` to the emulator as it is. */
export async function startPassthrough(emulator: Child): Promise<Child> {
  const port = await freePort();
  return startChild('pass-through', ['--import', 'tsx', 'bench/passthrough.ts', '--upstream', emulator.url, '--port', String(port)], {
    cwd: ROOT,
    port,
    readyPath: '/jobs?page_size=1',
  });
}

export type PeerName = 'Apollo Server 5 + RESTDataSource' | 'lean yoga + dataloader';

export const PEERS: ReadonlyArray<{ name: PeerName; script: string }> = [
  { name: 'Apollo Server 5 + RESTDataSource', script: 'bench/peers/apollo.ts' },
  { name: 'lean yoga + dataloader', script: 'bench/peers/lean-yoga.ts' },
];

/** A peer (bench/peers/) with Node's defaults, as its team would run it, in production mode like the gateway. */
export async function startPeer(peer: (typeof PEERS)[number], emulator: Child): Promise<Child> {
  const port = await freePort();
  return startChild(peer.name, ['--import', 'tsx', peer.script, '--upstream', emulator.url, '--port', String(port)], {
    cwd: ROOT,
    port,
    readyPath: '/graphql?query=%7B__typename%7D',
    // Apollo's CSRF prevention refuses a GET without a header that a browser's simple request cannot send.
    readyHeaders: { 'apollo-require-preflight': 'true' },
    env: { NODE_ENV: 'production' },
  });
}
