import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { DEMO_API_KEY } from '../src/emulator/index.js';
import { SEED_JOB_IDS } from '../src/emulator/seed.js';
import { buildIfNeeded, cpuMs, freePort, GATEWAY_ARGS, ROOT, rssMb, sampleRss, startChild, type Child } from './processes.js';
import { startRedisServer, subscribe } from './replicas.js';

/*
 * npm run bench [-- --duration 5 --connections 32 --latency-ms 0 --workload page --memory --replicas 2]
 * The emulator, the gateway (three ways configured) and a bare pass-through run as separate processes on 127.0.0.1;
 * autocannon drives each in turn from this process. Not a test: it prints numbers and target checks.
 */

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '32' },
    'latency-ms': { type: 'string', default: '0' },
    workload: { type: 'string' },
    memory: { type: 'boolean', default: false },
    requests: { type: 'string', default: '100000' },
    // Extra environment for every gateway, e.g. --gateway-env CACHE_MAX_ENTRIES=100.
    'gateway-env': { type: 'string', multiple: true, default: [] },
    // N gateways sharing one Redis against one gateway alone: upstream calls per operation, side by side.
    replicas: { type: 'string' },
  },
});
const extraGatewayEnv = Object.fromEntries(
  values['gateway-env'].map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
);
const duration = Number(values.duration);
const connections = Number(values.connections);
const latencyMs = Number(values['latency-ms']);
const memoryRequests = Number(values.requests);
const replicaCount = values.replicas === undefined ? undefined : Number(values.replicas);
if (
  ![duration, connections, memoryRequests].every((n) => Number.isInteger(n) && n > 0) ||
  !(latencyMs >= 0) ||
  (replicaCount !== undefined && !(Number.isInteger(replicaCount) && replicaCount >= 2 && replicaCount <= 4))
) {
  console.error(
    'usage: npm run bench -- [--duration S] [--connections N] [--latency-ms N] [--workload NAME] [--gateway-env K=V]… [--memory [--requests N] | --replicas 2..4]',
  );
  process.exit(1);
}

type GatewayName = 'gateway' | 'gateway, no response cache' | 'gateway, cache off' | 'no loaders/caches';
const NO_RESPONSE_CACHE = { RESPONSE_CACHE_ENABLED: 'false' };
const GATEWAY_ENV: Record<GatewayName, Record<string, string>> = {
  gateway: {},
  // The finished-job cache of the read path alone: execution on every request, no upstream call.
  'gateway, no response cache': NO_RESPONSE_CACHE,
  'gateway, cache off': { CACHE_ENABLED: 'false', ...NO_RESPONSE_CACHE },
  'no loaders/caches': { CACHE_ENABLED: 'false', UPSTREAM_SINGLE_FLIGHT: 'false', DATALOADERS_ENABLED: 'false', ...NO_RESPONSE_CACHE },
};

interface Workload {
  name: string;
  gateway: GatewayName;
  query: string;
  variables?: Record<string, unknown>;
  /** The same upstream call, through the bare pass-through. */
  passthroughPath: string;
  /** Fewest upstream calls per operation a gateway can make, for the configured gateway and for the bare one. */
  bound: (statuses: Map<string, string>) => { gateway: number; bare: number };
}

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELED']);
const JOB_QUERY = 'query($id: ID!) { fineTuneJob(id: $id) { id status durationSeconds costEstimate { amount currency } } }';
let twentyIds: string[] = [];

const WORKLOADS: Workload[] = [
  {
    // First: the pass-through's figure for this job call is measured right after it, in the same minute.
    name: 'finished job, response cache',
    gateway: 'gateway',
    query: JOB_QUERY,
    variables: { id: SEED_JOB_IDS.contractExample },
    passthroughPath: `/jobs/${SEED_JOB_IDS.contractExample}`,
    bound: () => ({ gateway: 0, bare: 1 }),
  },
  {
    name: 'terminal job, cache on',
    gateway: 'gateway, no response cache',
    query: JOB_QUERY,
    variables: { id: SEED_JOB_IDS.contractExample },
    passthroughPath: `/jobs/${SEED_JOB_IDS.contractExample}`,
    bound: () => ({ gateway: 0, bare: 1 }),
  },
  {
    name: 'terminal job, cache off',
    gateway: 'gateway, cache off',
    query: JOB_QUERY,
    variables: { id: SEED_JOB_IDS.contractExample },
    passthroughPath: `/jobs/${SEED_JOB_IDS.contractExample}`,
    bound: () => ({ gateway: 1, bare: 1 }),
  },
  {
    name: 'running job',
    gateway: 'gateway',
    query: JOB_QUERY,
    variables: { id: SEED_JOB_IDS.running },
    passthroughPath: `/jobs/${SEED_JOB_IDS.running}`,
    bound: () => ({ gateway: 1, bare: 1 }),
  },
  {
    name: '20 jobs by id',
    gateway: 'gateway',
    query: 'query($ids: [ID!]!) { fineTuneJobsByIds(ids: $ids) { id status durationSeconds costEstimate { amount currency } } }',
    passthroughPath: `/jobs/${SEED_JOB_IDS.running}`,
    // Finished jobs are cached: only the ones still going cost a call.
    bound: (statuses) => ({ gateway: twentyIds.filter((id) => !TERMINAL.has(statuses.get(id) ?? '')).length, bare: 20 }),
  },
  {
    name: 'page of 40, derived fields',
    gateway: 'gateway',
    query: `{ fineTuneJobs(page: 1, pageSize: 40) { total hasNextPage items { id status model createdAt durationSeconds isTerminal
      costEstimate { amount currency isFinal } hyperParameters { nEpochs batchSize learningRate loraRank raw } } } }`,
    passthroughPath: '/jobs?page_no=1&page_size=40',
    bound: () => ({ gateway: 1, bare: 1 }),
  },
  {
    name: 'page of 10 with checkpoints',
    gateway: 'gateway',
    query: '{ fineTuneJobs(page: 1, pageSize: 10) { items { id status checkpoints { name step status modelName } } } }',
    passthroughPath: '/jobs?page_no=1&page_size=10',
    // Checkpoints change after a job ends (exports), so they are never cached: one call per job plus the page.
    bound: () => ({ gateway: 11, bare: 11 }),
  },
];

interface Measurement {
  rps: number;
  p50: number;
  p99: number;
  upstreamPerOp: number;
  cpuMsPerOp: number;
  peakRssMb: number;
  errors: number;
}

async function emulatorCalls(emulator: Child): Promise<number> {
  const stats = (await (await fetch(`${emulator.url}/__emulator/stats`)).json()) as { total: number };
  return stats.total;
}

const resetEmulator = (emulator: Child) =>
  fetch(`${emulator.url}/__emulator/stats/reset`, { method: 'POST' }).then((r) => r.body?.cancel());

/** Job statuses as the upstream sees them now (the emulator's live jobs move on during a run). */
async function upstreamStatuses(emulator: Child): Promise<Map<string, string>> {
  const response = await fetch(`${emulator.url}/api/v1/fine-tunes?page_no=1&page_size=100`, {
    headers: { authorization: `Bearer ${DEMO_API_KEY}` },
  });
  const body = (await response.json()) as { output: { jobs: Array<{ job_id: string; status: string }> } };
  return new Map(body.output.jobs.map((job) => [job.job_id, job.status]));
}

function requestFor(target: Child, workload: Workload, viaPassthrough: boolean): autocannon.Options {
  if (viaPassthrough) return { url: target.url + workload.passthroughPath };
  return {
    url: `${target.url}/graphql`,
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query: workload.query, variables: workload.variables }),
  };
}

/** One request first, so that a workload that answers errors (a 200 with `errors`) fails loudly instead of measuring. */
async function check(options: autocannon.Options, name: string): Promise<void> {
  const response = await fetch(options.url, {
    method: options.method ?? 'GET',
    headers: options.headers as Record<string, string>,
    body: options.body as string,
  });
  const text = await response.text();
  if (response.status !== 200 || text.includes('"errors"')) throw new Error(`${name}: HTTP ${response.status}: ${text.slice(0, 500)}`);
}

async function measure(target: Child, emulator: Child, options: autocannon.Options, name: string): Promise<Measurement> {
  await check(options, name);
  // Warm-up: JIT, connection pools, and the cache for the cached workload.
  await autocannon({ ...options, connections, amount: Math.max(500, connections * 20) });
  await resetEmulator(emulator);
  const cpuBefore = cpuMs(target.pid);
  const stopRss = sampleRss(target.pid);
  const result = await autocannon({ ...options, connections, duration });
  const peakRssMb = stopRss();
  const cpu = cpuMs(target.pid) - cpuBefore;
  const operations = result['2xx'] + result.non2xx;
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    upstreamPerOp: (await emulatorCalls(emulator)) / Math.max(1, operations),
    cpuMsPerOp: cpu / Math.max(1, operations),
    peakRssMb,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}

// ---- output ----

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}×` : '–');
const HEADER = ['workload', 'target', 'req/s', 'p50 ms', 'p99 ms', 'upstream/op', 'bound', 'CPU ms/op', 'peak RSS MB'];

function printTable(rows: string[][]): void {
  const widths = HEADER.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  console.log(line(HEADER));
  console.log(`| ${widths.map((w, i) => (i < 2 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`);
  for (const row of rows) console.log(line(row));
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

// ---- modes ----

async function startEmulator(): Promise<Child> {
  const emulatorPort = await freePort();
  return startChild('emulator', ['dist/emulator/main.js', '--port', String(emulatorPort), '--latency-ms', String(latencyMs)], {
    cwd: ROOT,
    port: emulatorPort,
    readyPath: '/__emulator/stats',
  });
}

async function startGateway(name: string, emulator: Child, env: Record<string, string>): Promise<Child> {
  const port = await freePort();
  return startChild(name, GATEWAY_ARGS, {
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
      ...extraGatewayEnv,
    },
  });
}

async function startAll(gatewayNames: GatewayName[]) {
  const emulator = await startEmulator();
  const gateways = new Map<GatewayName, Child>();
  for (const name of gatewayNames) gateways.set(name, await startGateway(name, emulator, GATEWAY_ENV[name]));
  return { emulator, gateways };
}

async function runWorkloads(): Promise<void> {
  const selected = WORKLOADS.filter((w) => !values.workload || w.name.includes(values.workload));
  if (!selected.length) throw new Error(`no workload matches "${values.workload}"; workloads: ${WORKLOADS.map((w) => w.name).join(', ')}`);
  const names = [...new Set<GatewayName>([...selected.map((w) => w.gateway), 'no loaders/caches'])];
  const { emulator, gateways } = await startAll(names);
  const passthroughPort = await freePort();
  const passthrough = await startChild(
    'pass-through',
    ['--import', 'tsx', 'bench/passthrough.ts', '--upstream', emulator.url, '--port', String(passthroughPort)],
    {
      cwd: ROOT,
      port: passthroughPort,
      readyPath: '/jobs?page_size=1',
    },
  );
  const statuses = await upstreamStatuses(emulator);
  // Twenty distinct ids, the jobs still going first, from the upstream's own list.
  twentyIds = [...statuses.keys()]
    .sort((a, b) => Number(TERMINAL.has(statuses.get(a)!)) - Number(TERMINAL.has(statuses.get(b)!)))
    .slice(0, 20);
  for (const workload of WORKLOADS) if (workload.name === '20 jobs by id') workload.variables = { ids: twentyIds };

  const rows: string[][] = [];
  const passthroughResults = new Map<string, Measurement>();
  const targets: string[] = [];
  const results = new Map<string, { gateway: Measurement; bare: Measurement; passthrough: Measurement }>();
  for (const workload of selected) {
    process.stderr.write(`${workload.name}…\n`);
    const bound = workload.bound(await upstreamStatuses(emulator));
    const gateway = gateways.get(workload.gateway)!;
    const bare = gateways.get('no loaders/caches')!;
    const g = await measure(gateway, emulator, requestFor(gateway, workload, false), `${workload.name} (${workload.gateway})`);
    const b = await measure(bare, emulator, requestFor(bare, workload, false), `${workload.name} (no loaders/caches)`);
    let p = passthroughResults.get(workload.passthroughPath);
    if (!p) {
      p = await measure(passthrough, emulator, requestFor(passthrough, workload, true), `${workload.name} (pass-through)`);
      passthroughResults.set(workload.passthroughPath, p);
    }
    results.set(workload.name, { gateway: g, bare: b, passthrough: p });
    const call = workload.passthroughPath.startsWith('/jobs?') ? 'list call' : 'job call';
    rows.push(row(workload.name, workload.gateway, g, String(bound.gateway)));
    rows.push(row('', 'no loaders/caches', b, String(bound.bare)));
    rows.push(row('', `pass-through, same ${call}`, p, '1'));
    rows.push(ratioRow('pass-through', g, p));
    rows.push(ratioRow('no loaders/caches', g, b));
    if (g.upstreamPerOp > bound.gateway + 0.01)
      targets.push(`✗ ${workload.name}: ${fmt(g.upstreamPerOp, 2)} upstream calls/op, bound ${bound.gateway}`);
    else targets.push(`✓ ${workload.name}: ${fmt(g.upstreamPerOp, 2)} upstream calls/op (bound ${bound.gateway})`);
  }

  const singleJob =
    passthroughResults.get(`/jobs/${SEED_JOB_IDS.running}`) ?? passthroughResults.get(`/jobs/${SEED_JOB_IDS.contractExample}`);
  const against = (name: string, factor: number, base: Measurement | undefined, label: string) => {
    const m = results.get(name)?.gateway;
    if (!m || !base) return;
    const r = m.rps / base.rps;
    targets.push(`${r >= factor ? '✓' : '✗'} ${name}: ${r.toFixed(2)}× ${label} req/s (target ≥ ${factor}×)`);
  };
  against('running job', 0.35, results.get('running job')?.passthrough, 'the pass-through');
  against('finished job, response cache', 1.0, results.get('finished job, response cache')?.passthrough, 'the pass-through');
  against('page of 40, derived fields', 0.15, singleJob, "the pass-through's single-job");
  const peak = Math.max(...[...results.values()].map((r) => r.gateway.peakRssMb));
  targets.push(`${peak < 200 ? '✓' : '✗'} gateway peak RSS ${fmt(peak)} MB (target < 200 MB; growth: npm run bench -- --memory)`);

  console.log(
    `\nfinetune-gateway bench: ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, Node ${process.version}, ` +
      `${connections} connections, ${duration} s per run, upstream latency ${latencyMs} ms\n`,
  );
  printTable(rows);
  console.log(`\n${targets.join('\n')}`);
}

/** 100,000 requests (a mix that fills the cache and misses it), RSS at the start, the middle and the end. */
async function runMemoryCheck(): Promise<void> {
  const { emulator, gateways } = await startAll(['gateway']);
  const gateway = gateways.get('gateway')!;
  const mix = WORKLOADS.filter((w) => ['finished job, response cache', 'running job', 'page of 40, derived fields'].includes(w.name));
  const requests = mix.map((w) => {
    const { method, headers, body } = requestFor(gateway, w, false);
    return { method: method!, headers, body: body as string };
  });
  for (const w of mix) await check(requestFor(gateway, w, false), w.name);
  const start = rssMb(gateway.pid);
  let done = 0;
  let middle = NaN;
  const stopRss = sampleRss(gateway.pid);
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ url: `${gateway.url}/graphql`, connections, amount: memoryRequests, requests }, (error, finished) =>
      error ? reject(error as Error) : resolve(finished),
    );
    instance.on('response', () => {
      if (++done === Math.floor(memoryRequests / 2)) middle = rssMb(gateway.pid);
    });
  });
  const peak = stopRss();
  const end = rssMb(gateway.pid);
  await emulatorCalls(emulator);
  console.log(`\nmemory check: ${memoryRequests} requests (${result.non2xx + result.errors} failed), ${connections} connections`);
  console.log(`RSS start ${fmt(start)} MB, middle ${fmt(middle)} MB, end ${fmt(end)} MB, peak ${fmt(peak)} MB`);
  // Growth from the middle to the end is what a leak shows; the start is before the heap sized itself for load.
  const grew = end > middle * 1.1;
  console.log(`${peak < 200 ? '✓' : '✗'} peak under 200 MB; ${grew ? '✗ grew' : '✓ flat'} from the middle to the end`);
}

/**
 * --replicas N: one emulator, one gateway alone and N gateways sharing a Redis, all configured as `gateway`. Each
 * query workload runs against the one gateway, then against the N at once (the connections split between them); then
 * 10 subscribers of a running job, on the one gateway and split across the N, for a few poll intervals. The figure is
 * upstream calls per operation (for the subscribers: per poll interval), which replicas should keep at one process's.
 */
async function runReplicas(count: number): Promise<void> {
  const pollIntervalMs = 100;
  const env = { ...GATEWAY_ENV.gateway, POLL_INTERVAL_MS: String(pollIntervalMs) };
  const emulator = await startEmulator();
  const redis = await startRedisServer(await freePort());
  const single = await startGateway('gateway', emulator, env);
  const replicas: Child[] = [];
  for (let i = 0; i < count; i++) replicas.push(await startGateway(`replica ${i}`, emulator, { ...env, REDIS_URL: redis.url }));

  const statuses = await upstreamStatuses(emulator);
  twentyIds = [...statuses.keys()]
    .sort((a, b) => Number(TERMINAL.has(statuses.get(a)!)) - Number(TERMINAL.has(statuses.get(b)!)))
    .slice(0, 20);
  for (const workload of WORKLOADS) if (workload.name === '20 jobs by id') workload.variables = { ids: twentyIds };
  const selected = WORKLOADS.filter((w) => w.gateway === 'gateway' && (!values.workload || w.name.includes(values.workload)));

  /** Upstream calls per operation, and req/s, with the connections split between `targets`. */
  const across = async (targets: Child[], workload: Workload) => {
    const per = targets.map((target) => requestFor(target, workload, false));
    for (const options of per) await check(options, workload.name);
    const share = Math.max(1, Math.floor(connections / targets.length));
    await Promise.all(per.map((options) => autocannon({ ...options, connections: share, amount: Math.max(500, share * 20) })));
    await resetEmulator(emulator);
    const results = await Promise.all(per.map((options) => autocannon({ ...options, connections: share, duration })));
    const operations = results.reduce((sum, r) => sum + r['2xx'] + r.non2xx, 0);
    return {
      upstreamPerOp: (await emulatorCalls(emulator)) / Math.max(1, operations),
      rps: results.reduce((sum, r) => sum + r.requests.average, 0),
      errors: results.reduce((sum, r) => sum + r.errors + r.timeouts + r.non2xx, 0),
    };
  };

  /** GETs of a running job per poll interval while 10 subscribers (split between `targets`) watch it. */
  const watching = async (targets: Child[]) => {
    const id = SEED_JOB_IDS.running;
    const query = 'subscription($id: ID!) { fineTuneJobUpdated(id: $id) { id status } }';
    const subscribers = await Promise.all(Array.from({ length: 10 }, (_, i) => subscribe(targets[i % targets.length]!.url, query, { id })));
    await resetEmulator(emulator);
    const windowMs = Math.max(2_000, Math.min(duration * 1000, 5_000));
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const stats = (await (await fetch(`${emulator.url}/__emulator/stats`)).json()) as {
      requests: Array<{ route: string; jobId?: string }>;
    };
    for (const subscriber of subscribers) subscriber.close();
    return stats.requests.filter((r) => r.route === 'get' && r.jobId === id).length / (windowMs / pollIntervalMs);
  };

  const header = [
    'workload',
    'bound',
    '1 gateway: upstream/op',
    `${count} replicas: upstream/op`,
    '1 gateway: req/s',
    `${count} replicas: req/s`,
  ];
  const rows: string[][] = [];
  const targets: string[] = [];
  for (const workload of selected) {
    process.stderr.write(`${workload.name}…\n`);
    const bound = workload.bound(await upstreamStatuses(emulator)).gateway;
    const one = await across([single], workload);
    const many = await across(replicas, workload);
    const errors = one.errors + many.errors ? ` (${one.errors + many.errors} errors)` : '';
    rows.push([workload.name + errors, String(bound), fmt(one.upstreamPerOp, 2), fmt(many.upstreamPerOp, 2), fmt(one.rps), fmt(many.rps)]);
    // Queries: finished jobs and kept answers are shared in Redis; reads of what can change are shared only in flight,
    // per process (single-flight), so the bound is one process's (docs/performance.md#across-replicas).
    const ok = many.upstreamPerOp <= bound + 0.01;
    targets.push(
      `${ok ? '✓' : '✗'} ${workload.name}: ${fmt(many.upstreamPerOp, 2)} upstream calls/op across ${count} replicas (bound ${bound}; 1 gateway ${fmt(one.upstreamPerOp, 2)})`,
    );
  }
  if (!values.workload || '10 subscribers'.includes(values.workload)) {
    process.stderr.write('10 subscribers…\n');
    const one = await watching([single]);
    const many = await watching(replicas);
    rows.push(['10 subscribers, one running job (per poll)', '1', fmt(one, 2), fmt(many, 2), '', '']);
    targets.push(
      `${many <= 1.2 ? '✓' : '✗'} 10 subscribers split across ${count} replicas: ${fmt(many, 2)} upstream reads per poll interval (1 gateway: ${fmt(one, 2)}; one poller per replica would be ${count})`,
    );
  }

  console.log(
    `\nfinetune-gateway bench across replicas: ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, Node ${process.version}, ` +
      `${count} gateways sharing one Redis vs 1 gateway, ${connections} connections in all, ${duration} s per run, upstream latency ${latencyMs} ms\n`,
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  console.log(line(header));
  console.log(`| ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`);
  for (const cells of rows) console.log(line(cells));
  console.log(`\n${targets.join('\n')}`);
}

const overall = setTimeout(
  () => {
    console.error('bench: took too long, giving up');
    process.exit(1);
  },
  values.memory ? 600_000 : (WORKLOADS.length * 4 * (duration + 10) + 60) * 1000,
);
overall.unref();

try {
  buildIfNeeded();
  await (values.memory ? runMemoryCheck() : replicaCount ? runReplicas(replicaCount) : runWorkloads());
  process.exit(0);
} catch (error) {
  console.error(`bench failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
