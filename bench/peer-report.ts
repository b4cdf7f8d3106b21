import type { Measurement } from './measure.js';
import type { PeerName } from './servers.js';
import { fmt, printTable, ratio } from './table.js';
import type { Workload } from './workloads.js';

/*
 * The peer table (the gateway beside the pass-through, Apollo Server and a lean yoga, per workload), the latency table
 * (each server's p50/p99 against the pass-through's) and the peer targets, all ratios measured in the same run.
 */

export type ServerName = 'pass-through' | PeerName | 'gateway';

export interface PeerResult {
  workload: Workload & { peer: NonNullable<Workload['peer']> };
  /** The pass-through's figure is its same call, or for 20 ids one job call: the floor of a round trip. */
  servers: Map<ServerName, Measurement>;
}

const ORDER: ServerName[] = ['pass-through', 'Apollo Server 5 + RESTDataSource', 'lean yoga + dataloader', 'gateway'];
const SHORT: Record<ServerName, string> = {
  'pass-through': 'pass-through',
  'Apollo Server 5 + RESTDataSource': 'Apollo',
  'lean yoga + dataloader': 'lean yoga',
  gateway: 'gateway',
};

const withErrors = (name: string, m: Measurement) => name + (m.errors ? ` (${m.errors} errors)` : '');

export function printPeerTable(results: PeerResult[]): void {
  const header = ['workload', 'server', 'req/s', 'p50 ms', 'p99 ms', 'CPU ms/op', 'upstream/op', 'peak RSS MB'];
  const rows: string[][] = [];
  for (const { workload, servers } of results) {
    const shown = ORDER.filter((name) => servers.has(name) && (name !== 'pass-through' || workload.peer.sameCall));
    shown.forEach((name, i) => {
      const m = servers.get(name)!;
      rows.push([
        i === 0 ? workload.peer.label : '',
        withErrors(name, m),
        fmt(m.rps),
        fmt(m.p50, 1),
        fmt(m.p99, 1),
        fmt(m.cpuMsPerOp, 3),
        fmt(m.upstreamPerOp, 2),
        fmt(m.peakRssMb),
      ]);
    });
    const gateway = servers.get('gateway')!;
    for (const name of shown.filter((n) => n !== 'gateway')) {
      const base = servers.get(name)!;
      rows.push(['', `gateway ÷ ${SHORT[name]}`, ratio(gateway.rps, base.rps), '', '', ratio(gateway.cpuMsPerOp, base.cpuMsPerOp), '', '']);
    }
  }
  printTable(header, rows, 2);
}

export function printLatencyTable(results: PeerResult[]): void {
  const header = ['workload', 'server', 'p50 ms', 'p99 ms', 'p50 − pass-through', 'p99 − pass-through', 'req/s'];
  const rows: string[][] = [];
  const signed = (n: number) => (n >= 0 ? '+' : '') + fmt(n, 1);
  for (const { workload, servers } of results) {
    const floor = servers.get('pass-through')!;
    ORDER.filter((name) => servers.has(name)).forEach((name, i) => {
      const m = servers.get(name)!;
      const label = name === 'pass-through' && !workload.peer.sameCall ? 'pass-through (one job call)' : name;
      const isFloor = name === 'pass-through';
      rows.push([
        i === 0 ? workload.peer.label : '',
        withErrors(label, m),
        fmt(m.p50, 1),
        fmt(m.p99, 1),
        isFloor ? '' : signed(m.p50 - floor.p50),
        isFloor ? '' : signed(m.p99 - floor.p99),
        fmt(m.rps),
      ]);
    });
  }
  printTable(header, rows, 2);
}

const mark = (ok: boolean, text: string) => `${ok ? '✓' : '✗'} ${text}`;

/** The peer targets: throughput and CPU ratios without upstream latency, latencies with it. */
export function peerTargets(results: PeerResult[], latencyMs: number): string[] {
  const get = (label: string) => results.find((r) => r.workload.peer.label === label)?.servers;
  const targets: string[] = [];
  const rpsAtLeast = (label: string, base: ServerName, factor: number, suffix = '') => {
    const servers = get(label);
    const g = servers?.get('gateway');
    const b = servers?.get(base);
    if (!g || !b) return;
    const r = g.rps / b.rps;
    targets.push(mark(r >= factor, `${label}: ${r.toFixed(2)}× ${SHORT[base]} req/s (target ≥ ${factor}×)${suffix}`));
  };
  if (latencyMs === 0) {
    const running = get('running job (one id)');
    const g = running?.get('gateway');
    const p = running?.get('pass-through');
    if (g && p) {
      const r = g.cpuMsPerOp / p.cpuMsPerOp;
      targets.push(mark(r <= 2, `running job (one id): CPU/op ${r.toFixed(2)}× the pass-through's (target ≤ 2×)`));
    }
    rpsAtLeast('running job (one id)', 'Apollo Server 5 + RESTDataSource', 2.5);
    rpsAtLeast('running job (one id)', 'lean yoga + dataloader', 2.5);
    rpsAtLeast('finished job (kept answer)', 'pass-through', 1.0);
    rpsAtLeast('20 jobs by id', 'Apollo Server 5 + RESTDataSource', 4);
    rpsAtLeast('page of 40', 'Apollo Server 5 + RESTDataSource', 2);
    rpsAtLeast('page of 40', 'lean yoga + dataloader', 1.5);
    return targets;
  }
  const note = latencyMs === 100 ? '' : ' (the targets are set at 100 ms)';
  const running = get('running job (one id)');
  const g = running?.get('gateway');
  const p = running?.get('pass-through');
  if (g && p) {
    const gap = g.p50 - p.p50;
    targets.push(
      mark(
        gap <= 5,
        `running job (one id) at ${latencyMs} ms upstream: p50 ${fmt(gap, 1)} ms over the pass-through's (target ≤ 5 ms)${note}`,
      ),
    );
  }
  rpsAtLeast('page of 40', 'Apollo Server 5 + RESTDataSource', 1, ` at ${latencyMs} ms upstream${note}`);
  return targets;
}
