import { mkdtempSync, readdirSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type autocannon from 'autocannon';
import { runMemoryCheck } from './memory-check.js';
import {
  check,
  checkSameAnswer,
  combine,
  measure,
  requestFor,
  upstreamStatuses,
  type Load,
  type Measurement,
  type Round,
} from './measure.js';
import { peerTargets, printLatencyTable, printPeerTable, type PeerResult, type ServerName } from './peer-report.js';
import { buildIfNeeded, sampleRss, type Child } from './processes.js';
import { printTopSelfTime } from './profile-top.js';
import { runReplicas } from './replicas.js';
import { PEERS, startEmulator, startGateway, startPassthrough, startPeer } from './servers.js';
import { fmt, printTable, ratio } from './table.js';
import { chooseTwentyIds, GATEWAY_ENV, selectWorkloads, type GatewayName } from './workloads.js';

/*
 * npm run bench [-- --duration 5 --connections 32 --rounds 2 --latency-ms 0 --workload page… --no-peers --profile]
 * npm run bench -- --memory [--requests N] | --replicas 2..4
 * The emulator, the gateway (three ways configured), a bare pass-through and two peers (bench/peers/: Apollo Server
 * with RESTDataSource, a lean yoga with dataloader) run as separate processes on 127.0.0.1; autocannon drives each in
 * turn from this process. Not a test: it prints numbers and target checks.
 */

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '32' },
    // The peer table's timed runs, repeated and interleaved server by server (the other rows run once).
    rounds: { type: 'string', default: '2' },
    'latency-ms': { type: 'string', default: '0' },
    // A workload runs when its name holds any of these; all run when none is given.
    workload: { type: 'string', multiple: true, default: [] },
    'no-peers': { type: 'boolean', default: false },
    // The gateway with --cpu-prof: its .cpuprofile is written when the bench stops it, then summed up (profile-top.ts).
    profile: { type: 'boolean', default: false },
    memory: { type: 'boolean', default: false },
    requests: { type: 'string', default: '100000' },
    // Extra environment for every gateway, e.g. --gateway-env CACHE_MAX_ENTRIES=100.
    'gateway-env': { type: 'string', multiple: true, default: [] },
    // N gateways sharing one Redis against one gateway alone: upstream calls per operation, side by side.
    replicas: { type: 'string' },
  },
});
const gatewayEnv = Object.fromEntries(
  values['gateway-env'].map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
);
const load: Load = { duration: Number(values.duration), connections: Number(values.connections) };
const rounds = Number(values.rounds);
const latencyMs = Number(values['latency-ms']);
const memoryRequests = Number(values.requests);
const replicaCount = values.replicas === undefined ? undefined : Number(values.replicas);
if (
  ![load.duration, load.connections, rounds, memoryRequests].every((n) => Number.isInteger(n) && n > 0) ||
  !(latencyMs >= 0) ||
  (replicaCount !== undefined && !(Number.isInteger(replicaCount) && replicaCount >= 2 && replicaCount <= 4))
) {
  console.error(
    'usage: npm run bench -- [--duration S] [--connections N] [--rounds N] [--latency-ms N] [--workload NAME]… [--no-peers] [--profile] ' +
      '[--gateway-env K=V]… [--memory [--requests N] | --replicas 2..4]',
  );
  process.exit(1);
}
const machine = () => `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, Node ${process.version}`;
const loadAverage = () => loadavg()[0]!.toFixed(1);

interface Run {
  key: ServerName | 'no loaders/caches';
  target: Child;
  options: autocannon.Options;
  rounds: number;
}

/** Every run checked first; then round after round, each in turn (every other round in reverse, against drift). */
async function measureInterleaved(runs: Run[], emulator: Child, name: string): Promise<Map<Run['key'], Measurement>> {
  for (const run of runs) await check(run.options, `${name} (${run.target.name})`);
  const done = new Map<Run['key'], Round[]>(runs.map((run) => [run.key, []]));
  for (let round = 0; round < Math.max(...runs.map((run) => run.rounds)); round++) {
    for (const run of round % 2 ? [...runs].reverse() : runs) {
      if (run.rounds > round) done.get(run.key)!.push(await measure(run.target, emulator, run.options, load, round === 0));
    }
  }
  return new Map([...done].map(([key, measured]) => [key, combine(measured)]));
}

const row = (workload: string, target: string, m: Measurement, bound: string): string[] => [
  workload,
  target + (m.errors ? ` (${m.errors} errors)` : ''),
  fmt(m.rps),
  fmt(m.p50, 1),
  fmt(m.p99, 1),
  fmt(m.upstreamPerOp, 2),
  bound,
  fmt(m.cpuMsPerOp, 3),
  fmt(m.peakRssMb),
];
const ratioRow = (against: string, m: Measurement, base: Measurement): string[] => [
  '',
  `÷ ${against}`,
  ratio(m.rps, base.rps),
  ratio(m.p50, base.p50),
  ratio(m.p99, base.p99),
  '',
  '',
  ratio(m.cpuMsPerOp, base.cpuMsPerOp),
  '',
];

async function runWorkloads(): Promise<void> {
  const selected = selectWorkloads(values.workload);
  const startLoad = loadAverage();
  const emulator = await startEmulator(latencyMs);
  const profileRoot = values.profile ? mkdtempSync(join(tmpdir(), 'finetune-gateway-profile-')) : undefined;
  const gateways = new Map<GatewayName, Child>();
  const profiles = new Map<GatewayName, string>();
  for (const name of new Set<GatewayName>([...selected.map((w) => w.gateway), 'no loaders/caches'])) {
    const dir = profileRoot && name !== 'no loaders/caches' ? join(profileRoot, name.replace(/\W+/g, '-')) : undefined;
    if (dir) profiles.set(name, dir);
    const flags = dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
    gateways.set(name, await startGateway(name, emulator, { ...GATEWAY_ENV[name], ...gatewayEnv }, flags));
  }
  const gatewayRss = gateways.has('gateway') ? sampleRss(gateways.get('gateway')!.pid) : undefined;
  const passthrough = await startPassthrough(emulator);
  const peers: Child[] = [];
  if (!values['no-peers'] && selected.some((w) => w.peer)) for (const peer of PEERS) peers.push(await startPeer(peer, emulator));
  chooseTwentyIds(await upstreamStatuses(emulator));

  const rows: string[][] = [];
  const targets: string[] = [];
  const passthroughResults = new Map<string, Measurement>();
  const gatewayResults: Measurement[] = [];
  const peerResults: PeerResult[] = [];
  for (const workload of selected) {
    process.stderr.write(`${workload.name}…\n`);
    const bound = workload.bound(await upstreamStatuses(emulator));
    const gateway = gateways.get(workload.gateway)!;
    const bare = gateways.get('no loaders/caches')!;
    // Rounds for the peer table's servers; the other rows are for reference and run once.
    const repeat = workload.peer ? rounds : 1;
    const runs: Run[] = [
      { key: 'gateway', target: gateway, options: requestFor(gateway, workload, false), rounds: repeat },
      { key: 'no loaders/caches', target: bare, options: requestFor(bare, workload, false), rounds: 1 },
    ];
    if (!passthroughResults.has(workload.passthroughPath))
      runs.push({ key: 'pass-through', target: passthrough, options: requestFor(passthrough, workload, true), rounds: repeat });
    if (workload.peer) {
      for (const peer of peers) {
        await checkSameAnswer(workload, gateway, peer);
        runs.push({ key: peer.name as ServerName, target: peer, options: requestFor(peer, workload, false), rounds });
      }
    }
    const measured = await measureInterleaved(runs, emulator, workload.name);
    const g = measured.get('gateway')!;
    const b = measured.get('no loaders/caches')!;
    const p = measured.get('pass-through') ?? passthroughResults.get(workload.passthroughPath)!;
    passthroughResults.set(workload.passthroughPath, p);
    gatewayResults.push(g);
    if (workload.peer)
      peerResults.push({
        workload: { ...workload, peer: workload.peer },
        servers: new Map([...measured, ['pass-through', p]]) as PeerResult['servers'],
      });

    const call = workload.passthroughPath.startsWith('/jobs?') ? 'list call' : 'job call';
    rows.push(row(workload.name, workload.gateway, g, String(bound.gateway)));
    rows.push(row('', 'no loaders/caches', b, String(bound.bare)));
    rows.push(row('', `pass-through, same ${call}`, p, '1'));
    rows.push(ratioRow('pass-through', g, p));
    rows.push(ratioRow('no loaders/caches', g, b));
    const within = g.upstreamPerOp <= bound.gateway + 0.01;
    targets.push(`${within ? '✓' : '✗'} ${workload.name}: ${fmt(g.upstreamPerOp, 2)} upstream calls/op (bound ${bound.gateway})`);
  }

  const failed = gatewayResults.reduce((sum, m) => sum + m.errors, 0);
  targets.push(`${failed ? '✗' : '✓'} gateway: ${failed} failed requests`);
  if (gatewayRss) {
    const peak = gatewayRss();
    targets.push(
      `${peak <= 200 ? '✓' : '✗'} gateway peak RSS over the whole run ${fmt(peak)} MB (target ≤ 200 MB; growth: npm run bench -- --memory)`,
    );
  }
  targets.push(...peerTargets(peerResults, latencyMs));

  console.log(
    `\nfinetune-gateway bench: ${machine()}, ${load.connections} connections, ${load.duration} s per run (× ${rounds} rounds in the peer table), ` +
      `upstream latency ${latencyMs} ms; load average ${startLoad} at the start, ${loadAverage()} at the end\n`,
  );
  printTable(['workload', 'target', 'req/s', 'p50 ms', 'p99 ms', 'upstream/op', 'bound', 'CPU ms/op', 'peak RSS MB'], rows, 2);
  if (peerResults.length) {
    console.log('\nPeers, side by side (each its own process, the same emulator and key; ratios: the gateway ÷ the peer)\n');
    printPeerTable(peerResults);
    if (latencyMs > 0) {
      console.log(`\nLatency with ${latencyMs} ms upstream: each server against the pass-through\n`);
      printLatencyTable(peerResults);
    }
  }
  console.log(`\n${targets.join('\n')}`);

  for (const [name, dir] of profiles) {
    await gateways.get(name)!.stop();
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
      console.log(`\nCPU profile of "${name}": ${join(dir, file)} (npx tsx bench/profile-top.ts FILE [--top N] [--by file|package])\n`);
      printTopSelfTime(join(dir, file), 15);
    }
  }
}

// Every timed run is at most `duration` plus its warm-up and checks; the servers start in well under a minute.
const selectedForTimeout = values.memory || replicaCount ? [] : selectWorkloads(values.workload);
const timedRuns = selectedForTimeout.reduce(
  (sum, w) => sum + 2 * rounds + 1 + (w.peer && !values['no-peers'] ? PEERS.length * rounds : 0),
  0,
);
const overall = setTimeout(
  () => {
    console.error('bench: took too long, giving up');
    process.exit(1);
  },
  values.memory
    ? 600_000
    : replicaCount
      ? (selectWorkloads([]).length * 3 * (load.duration + 10) + 60) * 1000
      : (timedRuns * (load.duration + 12) + 120) * 1000,
);
overall.unref();

try {
  buildIfNeeded();
  if (values.memory) await runMemoryCheck({ connections: load.connections, requests: memoryRequests, gatewayEnv });
  else if (replicaCount) await runReplicas(replicaCount, { load, latencyMs, filters: values.workload, gatewayEnv });
  else await runWorkloads();
  process.exit(0);
} catch (error) {
  console.error(`bench failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
