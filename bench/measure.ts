import autocannon from 'autocannon';
import { DEMO_API_KEY } from '../src/emulator/index.js';
import { cpuMs, sampleRss, type Child } from './processes.js';
import { essentials, type Workload } from './workloads.js';

/* One measurement of one server: autocannon drives it; /proc and the emulator's counters say what it cost. */

export interface Measurement {
  rps: number;
  p50: number;
  p99: number;
  upstreamPerOp: number;
  cpuMsPerOp: number;
  peakRssMb: number;
  errors: number;
}

/** One timed run: the raw counts, so that rounds add up before they are divided. */
export interface Round {
  rps: number;
  p50: number;
  p99: number;
  operations: number;
  upstreamCalls: number;
  cpuMs: number;
  peakRssMb: number;
  errors: number;
}

export interface Load {
  connections: number;
  /** seconds */
  duration: number;
}

export async function emulatorCalls(emulator: Child): Promise<number> {
  const stats = (await (await fetch(`${emulator.url}/__emulator/stats`)).json()) as { total: number };
  return stats.total;
}

export const resetEmulator = (emulator: Child) =>
  fetch(`${emulator.url}/__emulator/stats/reset`, { method: 'POST' }).then((r) => r.body?.cancel());

/** Job statuses as the upstream sees them now (the emulator's live jobs move on during a run). */
export async function upstreamStatuses(emulator: Child): Promise<Map<string, string>> {
  const response = await fetch(`${emulator.url}/api/v1/fine-tunes?page_no=1&page_size=100`, {
    headers: { authorization: `Bearer ${DEMO_API_KEY}` },
  });
  const body = (await response.json()) as { output: { jobs: Array<{ job_id: string; status: string }> } };
  return new Map(body.output.jobs.map((job) => [job.job_id, job.status]));
}

export function requestFor(target: Child, workload: Workload, viaPassthrough: boolean): autocannon.Options {
  if (viaPassthrough) return { url: target.url + workload.passthroughPath };
  return {
    url: `${target.url}/graphql`,
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query: workload.query, variables: workload.variables }),
  };
}

/** One request first, so that a workload that answers errors (a 200 with `errors`) fails loudly instead of measuring. */
export async function check(options: autocannon.Options, name: string): Promise<string> {
  const response = await fetch(options.url, {
    method: options.method ?? 'GET',
    headers: options.headers as Record<string, string>,
    body: options.body as string,
  });
  const text = await response.text();
  if (response.status !== 200 || text.includes('"errors"')) throw new Error(`${name}: HTTP ${response.status}: ${text.slice(0, 500)}`);
  return text;
}

/**
 * Fails unless `peer` answers `workload` with the gateway's jobs and statuses (`essentials`). The emulator's live jobs
 * move on, so the peer's answer may match the gateway's just before or just after it; three tries.
 */
export async function checkSameAnswer(workload: Workload, gateway: Child, peer: Child): Promise<void> {
  const answer = async (target: Child) =>
    JSON.stringify(essentials(JSON.parse(await check(requestFor(target, workload, false), `${workload.name} (${target.name})`))));
  for (let attempt = 1; ; attempt++) {
    const before = await answer(gateway);
    const theirs = await answer(peer);
    const after = await answer(gateway);
    if (theirs === before || theirs === after) return;
    if (attempt === 3) {
      throw new Error(`${peer.name} does not answer "${workload.name}" as the gateway does:\ngateway: ${after}\n${peer.name}: ${theirs}`);
    }
  }
}

/** A warm-up first when `warm` (JIT, connection pools, the cache of a cached workload), then one timed run. */
export async function measure(target: Child, emulator: Child, options: autocannon.Options, load: Load, warm: boolean): Promise<Round> {
  if (warm) await autocannon({ ...options, connections: load.connections, amount: Math.max(500, load.connections * 20) });
  await resetEmulator(emulator);
  const cpuBefore = cpuMs(target.pid);
  const stopRss = sampleRss(target.pid);
  const result = await autocannon({ ...options, connections: load.connections, duration: load.duration });
  const peakRssMb = stopRss();
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    operations: result['2xx'] + result.non2xx,
    upstreamCalls: await emulatorCalls(emulator),
    cpuMs: cpuMs(target.pid) - cpuBefore,
    peakRssMb,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}

/** Rounds of one server: mean req/s and latencies, CPU and upstream calls over all operations, the highest RSS. */
export function combine(rounds: Round[]): Measurement {
  const mean = (pick: (r: Round) => number) => rounds.reduce((sum, r) => sum + pick(r), 0) / rounds.length;
  const operations = Math.max(
    1,
    rounds.reduce((sum, r) => sum + r.operations, 0),
  );
  return {
    rps: mean((r) => r.rps),
    p50: mean((r) => r.p50),
    p99: mean((r) => r.p99),
    upstreamPerOp: rounds.reduce((sum, r) => sum + r.upstreamCalls, 0) / operations,
    cpuMsPerOp: rounds.reduce((sum, r) => sum + r.cpuMs, 0) / operations,
    peakRssMb: Math.max(...rounds.map((r) => r.peakRssMb)),
    errors: rounds.reduce((sum, r) => sum + r.errors, 0),
  };
}
