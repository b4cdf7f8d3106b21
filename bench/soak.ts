import { parseArgs } from 'node:util';
import { DEMO_API_KEY, type FaultRule } from '../src/emulator/index.js';
import { SEED_JOB_IDS } from '../src/emulator/seed.js';
import { buildIfNeeded, freePort, GATEWAY_ARGS, ROOT, rssMb, sampleRss, startChild } from './processes.js';

/*
 * npm run soak [-- --duration 60 --clients 32 --fault-rate 0.03 --latency-ms 5]
 * The emulator and the gateway run from source as separate processes on 127.0.0.1; `clients` concurrent loops send a
 * mix of operations for `duration` seconds while the emulator injects faults into a few percent of upstream calls.
 * Prints requests served, outcomes by error code, latency percentiles and the gateway's RSS. Not a test.
 */

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '60' },
    clients: { type: 'string', default: '32' },
    'fault-rate': { type: 'string', default: '0.03' },
    'latency-ms': { type: 'string', default: '5' },
  },
});
const durationS = Number(values.duration);
const clients = Number(values.clients);
const faultRate = Number(values['fault-rate']);
const latencyMs = Number(values['latency-ms']);
if (!(
  durationS > 0 &&
  durationS <= 3600 &&
  Number.isInteger(clients) &&
  clients >= 1 &&
  clients <= 1000 &&
  faultRate >= 0 &&
  faultRate <= 1
)) {
  console.error('usage: soak [--duration S (1..3600)] [--clients N (1..1000)] [--fault-rate 0..1] [--latency-ms N]');
  process.exit(1);
}

// The faults of the README's table, sharing the fault rate; the delay and slow body stay under the gateway's timeouts.
const FAULTS: FaultRule['fault'][] = [
  { kind: 'status', status: 500 },
  { kind: 'status', status: 503, retryAfter: '1' },
  { kind: 'status', status: 429, code: 'Throttling', retryAfter: '30' },
  { kind: 'reset' },
  { kind: 'truncated-json' },
  { kind: 'html', status: 502 },
  { kind: 'slow-body', ms: 300 },
  { kind: 'delay', ms: 1_000 },
];

const OPERATIONS = [
  {
    query: `query($id: ID!) { fineTuneJob(id: $id) { id status checkpoints { name } logs(limit: 20) { total lines } } }`,
    variables: { id: SEED_JOB_IDS.running },
  },
  {
    query: `query($id: ID!) { fineTuneJob(id: $id) { id status durationSeconds costEstimate { amount } } }`,
    variables: { id: SEED_JOB_IDS.pending },
  },
  { query: `{ fineTuneJobs(page: 1, pageSize: 10) { total items { id status } } }`, variables: {} },
  {
    query: `query($ids: [ID!]!) { fineTuneJobsByIds(ids: $ids) { id status } }`,
    variables: { ids: [SEED_JOB_IDS.running, SEED_JOB_IDS.pending, SEED_JOB_IDS.queuing, SEED_JOB_IDS.contractExample] },
  },
].map((operation) => JSON.stringify(operation));

async function main(): Promise<void> {
  const [emulatorPort, gatewayPort] = [await freePort(), await freePort()];
  const emulator = await startChild(
    'emulator',
    ['--import', 'tsx', 'src/emulator/main.ts', '--port', String(emulatorPort), '--latency-ms', String(latencyMs)],
    { cwd: ROOT, port: emulatorPort, readyPath: '/__emulator/stats' },
  );
  buildIfNeeded();
  const gateway = await startChild('gateway', GATEWAY_ARGS, {
    cwd: ROOT,
    port: gatewayPort,
    readyPath: '/ready',
    env: {
      NODE_ENV: 'production',
      LOG_LEVEL: 'error',
      HOST: '127.0.0.1',
      PORT: String(gatewayPort),
      DASHSCOPE_BASE_URL: emulator.url,
      DASHSCOPE_API_KEY: DEMO_API_KEY,
    },
  });

  // Warm up (compilation, pools) before the first RSS reading, so that start and end compare like with like.
  for (const body of OPERATIONS) await send(gateway.url, body);
  const rssStart = rssMb(gateway.pid);
  for (const fault of FAULTS) {
    const rule: FaultRule = { probability: faultRate / FAULTS.length, fault };
    const response = await fetch(`${emulator.url}/__emulator/faults`, { method: 'POST', body: JSON.stringify(rule) });
    if (!response.ok) throw new Error(`the emulator refused the fault rule ${JSON.stringify(rule)}`);
  }
  await fetch(`${emulator.url}/__emulator/stats/reset`, { method: 'POST' });

  console.log(
    `soak: ${clients} clients for ${durationS} s, ${(faultRate * 100).toFixed(1)} % of upstream calls faulty, emulator latency ${latencyMs} ms`,
  );
  const outcomes = new Map<string, number>();
  const latencies: number[] = [];
  const peakRss = sampleRss(gateway.pid);
  const end = Date.now() + durationS * 1000;
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (Date.now() < end) {
        const body = OPERATIONS[next++ % OPERATIONS.length]!;
        const started = performance.now();
        const outcome = await send(gateway.url, body);
        latencies.push(performance.now() - started);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }
    }),
  );
  const rssPeak = peakRss();
  const rssEnd = rssMb(gateway.pid);
  const upstream = (await (await fetch(`${emulator.url}/__emulator/stats`)).json()) as { total: number };

  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  const served = latencies.length;
  console.log(
    `requests served:  ${served} (${(served / durationS).toFixed(0)}/s), upstream calls ${upstream.total} (${(upstream.total / served).toFixed(2)} per request)`,
  );
  console.log('outcomes (an operation with several errors counts each code once):');
  for (const [outcome, count] of [...outcomes].sort((a, b) => b[1] - a[1])) {
    console.log(`  ${outcome.padEnd(28)} ${String(count).padStart(8)}  ${((count / served) * 100).toFixed(2)} %`);
  }
  console.log(`latency ms:       p50 ${at(0.5).toFixed(1)}, p99 ${at(0.99).toFixed(1)}, max ${at(1).toFixed(1)}`);
  console.log(`gateway RSS MB:   start ${rssStart.toFixed(1)}, end ${rssEnd.toFixed(1)}, peak ${rssPeak.toFixed(1)}`);
}

/** One operation; its outcome: `ok`, the error codes it carried (sorted, joined), `HTTP n`, or `network`. */
async function send(url: string, body: string): Promise<string> {
  try {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
      body,
      // Bounded whatever happens: far above the gateway's own deadline.
      signal: AbortSignal.timeout(30_000),
    });
    const json = (await response.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
    if (!json.errors?.length) return response.status === 200 ? 'ok' : `HTTP ${response.status}`;
    const codes = [...new Set(json.errors.map((e) => e.extensions?.code ?? 'no code'))].sort();
    return codes.join('+');
  } catch (error) {
    return `network (${error instanceof Error ? error.name : 'unknown'})`;
  }
}

main()
  .then(() => process.exit(0))
  .catch((error: unknown) => {
    console.error('soak failed:', error instanceof Error ? error.message : error);
    process.exit(1);
  });
