import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ROOT } from './processes.js';
import { fmt, printTable } from './table.js';

/*
 * npx tsx bench/profile-top.ts FILE.cpuprofile [--top 15] [--by function|file|package]
 * The functions (or files, or packages) that spent the most self time in a V8 CPU profile (`node --cpu-prof`, as
 * `npm run bench -- --profile` writes for the gateway). Self time: the samples taken while that function itself ran,
 * not what it called. Shares are of the time the process was busy, `(idle)` left out.
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface CpuProfile {
  nodes: Array<{ id: number; callFrame: CallFrame }>;
  startTime: number;
  endTime: number;
  samples: number[];
  /** µs since the previous sample (the first: since startTime) */
  timeDeltas: number[];
}
export type Grouping = 'function' | 'file' | 'package';

/** Where a frame's code lives: a path relative to the repository, `node:…` for Node's own, or V8's `(program)`. */
function whereOf(url: string): string {
  if (!url) return '';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  return path.startsWith('/') ? relative(ROOT, path) : path;
}

/** `graphql`, `@envelop/core`, `node:internal/…` → `node`, our own files → `finetune-gateway`. */
function packageOf(where: string): string {
  const inModules = where.lastIndexOf('node_modules/');
  if (inModules >= 0) {
    const [scope, name] = where.slice(inModules + 'node_modules/'.length).split('/');
    return scope?.startsWith('@') ? `${scope}/${name}` : (scope ?? where);
  }
  if (where.startsWith('node:')) return 'node';
  return where ? 'finetune-gateway' : '(V8)';
}

function keyOf(frame: CallFrame, by: Grouping): string {
  const where = whereOf(frame.url);
  const name = frame.functionName || '(anonymous)';
  // (garbage collector), (program), (idle), (root); and native bindings such as writev, which have no script.
  if (!where) return by === 'package' && !name.startsWith('(') ? 'node (native)' : name;
  if (by === 'package') return packageOf(where);
  if (by === 'file') return where;
  return `${name} ${where}:${frame.lineNumber + 1}`;
}

/** Self time in ms per function (file, package), highest first, with its share of the busy time. */
export function topSelfTime(profile: CpuProfile, top: number, by: Grouping = 'function') {
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const selfUs = new Map<string, number>();
  // A sample lasts until the next one is taken; the last one until the profile's end.
  let at = profile.startTime;
  const stamps = profile.timeDeltas.map((delta) => (at += delta));
  profile.samples.forEach((id, i) => {
    const duration = (stamps[i + 1] ?? profile.endTime) - stamps[i]!;
    const key = keyOf(frames.get(id)!, by);
    selfUs.set(key, (selfUs.get(key) ?? 0) + Math.max(0, duration));
  });
  const idleUs = selfUs.get('(idle)') ?? 0;
  selfUs.delete('(idle)');
  const busyUs = [...selfUs.values()].reduce((sum, us) => sum + us, 0);
  const rows = [...selfUs.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, us]) => ({ key, selfMs: us / 1000, share: us / Math.max(1, busyUs) }));
  return { rows, busyMs: busyUs / 1000, idleMs: idleUs / 1000 };
}

export function printTopSelfTime(file: string, top = 15, by: Grouping = 'function'): void {
  const { rows, busyMs, idleMs } = topSelfTime(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, top, by);
  console.log(`${file}: ${fmt(busyMs)} ms busy, ${fmt(idleMs)} ms idle; top ${rows.length} by self time (${by})\n`);
  printTable(
    [by, 'self ms', 'share of busy'],
    rows.map((r) => [r.key, fmt(r.selfMs), `${fmt(r.share * 100, 1)} %`]),
    1,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '15' }, by: { type: 'string', default: 'function' } },
  });
  const top = Number(values.top);
  const by = values.by as Grouping;
  if (positionals.length !== 1 || !(Number.isInteger(top) && top > 0) || !['function', 'file', 'package'].includes(by)) {
    console.error('usage: npx tsx bench/profile-top.ts FILE.cpuprofile [--top N] [--by function|file|package]');
    process.exit(1);
  }
  printTopSelfTime(positionals[0]!, top, by);
}
