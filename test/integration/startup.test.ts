import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { SEED_JOB_IDS } from '../../src/emulator/seed.js';

/*
 * How the real process (`src/main.ts` run by tsx as a child) starts: which configurations it refuses, and whether the
 * embedded emulator is loaded at all. test/support/record-emulator-load.ts records every emulator module it loads.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'gateway-startup-'));
let upstream: Emulator;
let children = 0;
const running = new Set<ReturnType<typeof spawn>>();

beforeAll(async () => {
  upstream = await startEmulator();
});
afterAll(async () => {
  await upstream.close();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
});

interface Run {
  /** Resolves with the output once a line matches, or rejects when the process exits first. */
  logged(pattern: RegExp): Promise<string>;
  exited: Promise<{ code: number | null; output: string }>;
  /** Kills it (graceful shutdown is test/integration/shutdown.test.ts's): with the load recorder's module hooks, a
   * SIGTERM right after start can end the process before its handler runs. */
  stop(): Promise<void>;
  /** Emulator modules the process loaded so far. */
  emulatorModules(): string[];
  /** OpenTelemetry modules (the SDK, the exporters, envelop's plugin, src/observability/otel.ts) it loaded so far. */
  tracingModules(): string[];
}

function start(env: Record<string, string>): Run {
  const record = join(dir, `loaded-${++children}.txt`);
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', './test/support/record-emulator-load.ts', 'src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn', RECORD_EMULATOR_LOAD: record, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const loaded = () => (existsSync(record) ? readFileSync(record, 'utf8').split('\n').filter(Boolean) : []);
  let output = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<{ code: number | null; output: string }>((resolve) =>
    child.once('close', (code) => {
      running.delete(child);
      resolve({ code, output });
    }),
  );
  return {
    logged: (pattern) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (pattern.test(output)) {
            listeners.delete(check);
            resolve(output);
          }
        };
        listeners.add(check);
        check();
        void exited.then(() => reject(new Error(`exited before logging ${pattern}:\n${output}`)));
      }),
    exited,
    stop: async () => {
      child.kill('SIGKILL');
      await exited;
    },
    emulatorModules: () => loaded().filter((url) => url.includes('/src/emulator/')),
    tracingModules: () => loaded().filter((url) => !url.includes('/src/emulator/')),
  };
}

const graphqlUrl = (output: string) => /GraphQL at (http:\/\/\S+\/graphql)/.exec(output)![1]!.replace('localhost', '127.0.0.1');

describe('NODE_ENV=production', () => {
  it('exits 1 naming DASHSCOPE_API_KEY when no key, no base URL and no forward mode is set, without loading the emulator', async () => {
    const run = start({ NODE_ENV: 'production' });
    const { code, output } = await run.exited;
    expect(code).toBe(1);
    expect(output).toContain('DASHSCOPE_API_KEY: required when NODE_ENV=production');
    expect(output).toContain('DEMO=true');
    expect(output).not.toContain('ready');
    expect(run.emulatorModules()).toEqual([]);
  });

  it('serves the demo jobs only with an explicit DEMO=true', async () => {
    const run = start({ NODE_ENV: 'production', DEMO: 'true' });
    const output = await run.logged(/finetune-gateway ready/);
    expect(output).toContain('Demo mode (DEMO=true)');
    const response = await fetch(graphqlUrl(output), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `{ fineTuneJob(id: "${SEED_JOB_IDS.contractExample}") { status } }` }),
    });
    expect(await response.json()).toEqual({ data: { fineTuneJob: { status: 'SUCCEEDED' } } });
    expect(run.emulatorModules().length).toBeGreaterThan(0);
    await run.stop();
  });

  it('never loads the emulator with a real upstream', async () => {
    const run = start({ NODE_ENV: 'production', DASHSCOPE_BASE_URL: upstream.url, DASHSCOPE_API_KEY: upstream.demoApiKey });
    const output = await run.logged(/finetune-gateway ready/);
    const response = await fetch(graphqlUrl(output), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `{ fineTuneJob(id: "${SEED_JOB_IDS.failed}") { status } }` }),
    });
    expect(await response.json()).toEqual({ data: { fineTuneJob: { status: 'FAILED' } } });
    expect(run.emulatorModules()).toEqual([]);
    await run.stop();
  });

  it('starts in forward mode without a key', async () => {
    const run = start({ NODE_ENV: 'production', AUTH_MODE: 'forward', DASHSCOPE_BASE_URL: upstream.url });
    await run.logged(/finetune-gateway ready/);
    expect(run.emulatorModules()).toEqual([]);
    await run.stop();
  });
});

describe('tracing', () => {
  const query = async (output: string) => {
    const response = await fetch(graphqlUrl(output), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `{ fineTuneJob(id: "${SEED_JOB_IDS.contractExample}") { status } }` }),
    });
    expect(await response.json()).toEqual({ data: { fineTuneJob: { status: 'SUCCEEDED' } } });
  };

  it('loads no OpenTelemetry module without OTEL_EXPORTER_OTLP_ENDPOINT, even after serving an operation', async () => {
    const run = start({ DASHSCOPE_BASE_URL: upstream.url, DASHSCOPE_API_KEY: upstream.demoApiKey, OTEL_SERVICE_NAME: 'unused' });
    const output = await run.logged(/finetune-gateway ready/);
    await query(output);
    expect(output).not.toContain('Tracing:');
    expect(run.tracingModules()).toEqual([]);
    await run.stop();
  });

  it('loads it, and says where spans go, with OTEL_EXPORTER_OTLP_ENDPOINT set', async () => {
    const run = start({
      DASHSCOPE_BASE_URL: upstream.url,
      DASHSCOPE_API_KEY: upstream.demoApiKey,
      // Nothing listens there: exporting fails quietly, serving does not.
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20collector-secret',
    });
    const output = await run.logged(/finetune-gateway ready/);
    await query(output);
    expect(output).toContain('Tracing: OTLP http/protobuf to http://127.0.0.1:9/v1/traces as service finetune-gateway');
    expect(output).not.toContain('collector-secret');
    expect(run.tracingModules()).toEqual(
      expect.arrayContaining([
        expect.stringContaining('/src/observability/otel.ts'),
        expect.stringContaining('/@opentelemetry/sdk-trace-base/'),
      ]),
    );
    await run.stop();
  });
});

describe('trusted documents', () => {
  it('exits 1 naming the variable when the manifest is missing, or ONLY is set without one', async () => {
    const [missing, only] = await Promise.all([
      start({ PERSISTED_DOCUMENTS: join(dir, 'no-such-manifest.json') }).exited,
      start({ PERSISTED_DOCUMENTS_ONLY: 'true' }).exited,
    ]);
    expect(missing.code).toBe(1);
    expect(missing.output).toMatch(/PERSISTED_DOCUMENTS: \S*no-such-manifest\.json cannot be read/);
    expect(only.code).toBe(1);
    expect(only.output).toContain('PERSISTED_DOCUMENTS_ONLY: needs PERSISTED_DOCUMENTS');
  });
});
