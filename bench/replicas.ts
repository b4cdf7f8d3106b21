import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { SEED_JOB_IDS } from '../src/emulator/seed.js';
import { check, emulatorCalls, requestFor, resetEmulator, upstreamStatuses, type Load } from './measure.js';
import { freePort, type Child } from './processes.js';
import { startEmulator, startGateway } from './servers.js';
import { fmt, printTable } from './table.js';
import { chooseTwentyIds, GATEWAY_ENV, WORKLOADS, type Workload } from './workloads.js';

/*
 * `npm run bench -- --replicas N`, and what it needs besides the gateways: a throw-away redis-server (Debian's, on a
 * loopback port, nothing written to disk) and subscribers held open over SSE.
 */

const REDIS_SERVER = '/usr/bin/redis-server';

/** Starts redis-server on `port`; resolves once it accepts connections. It is killed when the bench exits. */
export async function startRedisServer(port: number): Promise<{ url: string }> {
  if (!existsSync(REDIS_SERVER)) throw new Error(`--replicas needs ${REDIS_SERVER} (apt-get install redis-server)`);
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', '/tmp'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  process.on('exit', () => child.kill('SIGKILL'));
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server was not ready within 10 s:\n${output}`)), 10_000);
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}):\n${output}`)));
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return { url: `redis://127.0.0.1:${port}` };
}

/** Opens a subscription over SSE and resolves once its first event arrived; `close` ends it. */
export async function subscribe(gatewayUrl: string, query: string, variables: Record<string, unknown>): Promise<{ close(): void }> {
  const controller = new AbortController();
  const response = await fetch(`${gatewayUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ query, variables }),
    signal: controller.signal,
  });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (!text.includes('event: next')) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the subscription ended before its first event: ${text.slice(0, 300)}`);
    text += decoder.decode(value, { stream: true });
  }
  if (text.includes('"errors"')) throw new Error(`the subscription answered an error: ${text.slice(0, 300)}`);
  // Keep reading (and discarding) so that the gateway never sees a slow consumer.
  void (async () => {
    for (;;) if ((await reader.read().catch(() => ({ done: true }))).done) return;
  })();
  return { close: () => controller.abort() };
}

/**
 * --replicas N: one emulator, one gateway alone and N gateways sharing a Redis, all configured as `gateway`. Each
 * query workload runs against the one gateway, then against the N at once (the connections split between them); then
 * 10 subscribers of a running job, on the one gateway and split across the N, for a few poll intervals. The figure is
 * upstream calls per operation (for the subscribers: per poll interval), which replicas should keep at one process's.
 */
export async function runReplicas(
  count: number,
  { load, latencyMs, filters, gatewayEnv }: { load: Load; latencyMs: number; filters: string[]; gatewayEnv: Record<string, string> },
): Promise<void> {
  const { connections, duration } = load;
  const pollIntervalMs = 100;
  const env = { ...GATEWAY_ENV.gateway, POLL_INTERVAL_MS: String(pollIntervalMs), ...gatewayEnv };
  const emulator = await startEmulator(latencyMs);
  const redis = await startRedisServer(await freePort());
  const single = await startGateway('gateway', emulator, env);
  const replicas: Child[] = [];
  for (let i = 0; i < count; i++) replicas.push(await startGateway(`replica ${i}`, emulator, { ...env, REDIS_URL: redis.url }));

  chooseTwentyIds(await upstreamStatuses(emulator));
  const watchRow = '10 subscribers, one running job';
  const selected = WORKLOADS.filter((w) => w.gateway === 'gateway' && (!filters.length || filters.some((f) => w.name.includes(f))));
  if (!selected.length && !filters.some((f) => watchRow.includes(f))) throw new Error(`no workload matches ${filters.join(', ')}`);

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
  if (!filters.length || filters.some((f) => watchRow.includes(f))) {
    process.stderr.write('10 subscribers…\n');
    const one = await watching([single]);
    const many = await watching(replicas);
    rows.push([`${watchRow} (per poll)`, '1', fmt(one, 2), fmt(many, 2), '', '']);
    targets.push(
      `${many <= 1.2 ? '✓' : '✗'} 10 subscribers split across ${count} replicas: ${fmt(many, 2)} upstream reads per poll interval (1 gateway: ${fmt(one, 2)}; one poller per replica would be ${count})`,
    );
  }

  console.log(
    `\nfinetune-gateway bench across replicas: ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, Node ${process.version}, ` +
      `${count} gateways sharing one Redis vs 1 gateway, ${connections} connections in all, ${duration} s per run, upstream latency ${latencyMs} ms\n`,
  );
  printTable(header, rows, 1);
  console.log(`\n${targets.join('\n')}`);
}
