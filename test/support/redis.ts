import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { FaultRule } from '../../src/emulator/index.js';

/*
 * Real processes for the multi-replica tests: Debian's redis-server on a loopback port, and a standalone emulator with
 * several gateways (src/main.ts run by tsx, forward mode) pointing at it, each a child process of the test.
 */

export const REDIS_SERVER = '/usr/bin/redis-server';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/**
 * How long a process may take to log what a test waits for. Generous: a full `npm test` starts each replica (tsx
 * compiling the gateway) while every other worker runs, and on the shared 2-core machine that was seen to take more
 * than 15 s; the suites' `beforeAll` (60 s) still bounds a start that hangs.
 */
const START_TIMEOUT_MS = 40_000;

/**
 * Whether the Redis tests can run. CI installs redis-server (.ci/run) and must run them; a developer machine without
 * it skips them with a reason.
 */
export function redisAvailable(suite: string): boolean {
  const available = existsSync(REDIS_SERVER);
  if (!available && process.env.CI === 'true') throw new Error(`${REDIS_SERVER} is missing: .ci/run installs it`);
  if (!available) console.warn(`Skipping the ${suite} tests: no ${REDIS_SERVER} (apt-get install redis-server).`);
  return available;
}

/** A free loopback port (asked of the OS, then released for the child to bind). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A child process whose output is collected, with a way to wait for a line. */
export interface Child {
  process: ChildProcess;
  /** stdout and stderr so far (for failure messages). */
  output(): string;
  /**
   * Resolves with the first line matching `pattern` in the output from offset `from` on (default: all of it, past or
   * future); rejects if the process exits first, or after `timeoutMs`.
   */
  logged(pattern: RegExp, options?: { from?: number; timeoutMs?: number }): Promise<string>;
  exited: Promise<number | null>;
  /** SIGKILL unless already gone; resolves once it exited. */
  kill(): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
}

export function startChild(command: string, args: string[], env: Record<string, string>, name: string): Child {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const waiters: Array<{ pattern: RegExp; from: number; resolve: (line: string) => void }> = [];
  const check = () => {
    for (const waiter of [...waiters]) {
      const line = output
        .slice(waiter.from)
        .split('\n')
        .find((l) => waiter.pattern.test(l));
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  };
  const append = (chunk: Buffer) => {
    output += chunk.toString();
    check();
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  return {
    process: child,
    output: () => output,
    exited,
    logged: (pattern, { from = 0, timeoutMs = START_TIMEOUT_MS } = {}) => {
      let timer: NodeJS.Timeout | undefined;
      return Promise.race([
        new Promise<string>((resolve) => {
          waiters.push({ pattern, from, resolve });
          check();
        }),
        exited.then((code) => {
          throw new Error(`${name} exited (${code}) before logging ${pattern}; its output:\n${output}`);
        }),
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(
            () => reject(new Error(`${name} did not log ${pattern} in ${timeoutMs} ms; its output:\n${output}`)),
            timeoutMs,
          );
        }),
      ]).finally(() => clearTimeout(timer));
    },
    kill: async () => {
      if (!gone()) child.kill('SIGKILL');
      await exited;
    },
    stop: async (graceMs = 5_000) => {
      if (gone()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface RedisServer {
  port: number;
  url: string;
  /** Kills the server at once (SIGKILL: no goodbye to its clients), as a crash would. */
  kill(): Promise<void>;
  /** Freezes it (SIGSTOP): connections stay open, commands get no answer, as with a Redis stuck or overloaded. */
  freeze(): void;
  /** Lets a frozen server go on (SIGCONT). */
  thaw(): void;
  /** Starts it again on the same port, empty (no persistence). */
  restart(): Promise<void>;
  /** Stops it for good (the test file's afterAll). */
  stop(): Promise<void>;
}

/** A throw-away redis-server on a free loopback port: no persistence, nothing written to disk. */
export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  let child: Child | undefined;
  const launch = async () => {
    const started = startChild(
      REDIS_SERVER,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', '/tmp', '--loglevel', 'notice'],
      { PATH: process.env.PATH ?? '' },
      `redis-server on port ${port}`,
    );
    child = started;
    // A server that never got ready must not outlive the test that gave up on it.
    await started.logged(/Ready to accept connections/).catch(async (error: unknown) => {
      await started.kill();
      throw error;
    });
  };
  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill: async () => child?.kill(),
    freeze: () => child?.process.kill('SIGSTOP'),
    thaw: () => child?.process.kill('SIGCONT'),
    restart: async () => {
      await child?.kill();
      await launch();
    },
    stop: async () => child?.stop(),
  };
}

export interface Replica {
  url: string;
  child: Child;
  /** POSTs an operation with the demo key (forward mode), and `headers`; the parsed body. */
  gql<T = Record<string, any>>(
    query: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<GraphQLBody<T>>;
}

export interface GraphQLBody<T> {
  data?: T | null;
  errors?: Array<{ message: string; path?: Array<string | number>; extensions?: Record<string, any> }>;
}

export interface Replicas {
  /** The standalone emulator every replica calls (its own process). */
  emulatorUrl: string;
  apiKey: string;
  replicas: Replica[];
  /** Upstream calls the emulator counted, by route (all when no route), since the last `resetUpstreamCalls`. */
  upstreamCalls(route?: string): Promise<number>;
  resetUpstreamCalls(): Promise<void>;
  /** Adds a fault rule to the emulator (its control API), e.g. `{ match: { route: 'create' }, times: 1, fault: … }`. */
  injectFault(rule: FaultRule): Promise<void>;
  close(): Promise<void>;
}

/**
 * One standalone emulator process (`src/emulator/main.ts`) and `count` gateway processes (`src/main.ts`, forward mode)
 * calling it, each with `env` (e.g. REDIS_URL) on a port of its own. Callers send the emulator's demo key.
 */
export async function startReplicas({
  count = 2,
  env = {},
  emulatorArgs = [],
}: { count?: number; env?: Record<string, string>; emulatorArgs?: string[] } = {}): Promise<Replicas> {
  const base = { PATH: process.env.PATH ?? '' };
  const emulator = startChild(
    process.execPath,
    ['--import', 'tsx', 'src/emulator/main.ts', '--port', '0', ...emulatorArgs],
    base,
    'the emulator',
  );
  const started: Child[] = [emulator];
  try {
    const banner = await emulator.logged(/emulator listening on/);
    const [, emulatorUrl, apiKey] = /listening on (http:\/\/\S+) \(api key (\S+)\)/.exec(banner)!;
    const replicas = await Promise.all(
      Array.from({ length: count }, async (_, index) => {
        const child = startChild(
          process.execPath,
          ['--import', 'tsx', 'src/main.ts'],
          {
            ...base,
            NODE_ENV: 'test',
            LOG_LEVEL: 'info',
            HOST: '127.0.0.1',
            PORT: '0',
            AUTH_MODE: 'forward',
            DASHSCOPE_BASE_URL: emulatorUrl!,
            ...env,
          },
          `gateway replica ${index}`,
        );
        started.push(child);
        const ready = await child.logged(/finetune-gateway ready/);
        const url = /GraphQL at (http:\/\/\S+)\/graphql/.exec(ready)![1]!.replace('localhost', '127.0.0.1');
        const gql: Replica['gql'] = async (query, variables, headers) => {
          const response = await fetch(`${url}/graphql`, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              accept: 'application/graphql-response+json',
              authorization: `Bearer ${apiKey}`,
              ...headers,
            },
            body: JSON.stringify({ query, variables }),
          });
          return (await response.json()) as never;
        };
        return { url, child, gql };
      }),
    );
    const control = (path: string, init?: RequestInit) => fetch(`${emulatorUrl}/__emulator/${path}`, init);
    return {
      emulatorUrl: emulatorUrl!,
      apiKey: apiKey!,
      replicas,
      upstreamCalls: async (route) => {
        const stats = (await (await control('stats')).json()) as { total: number; byRoute: Record<string, number> };
        return route ? (stats.byRoute[route] ?? 0) : stats.total;
      },
      resetUpstreamCalls: async () => {
        await (await control('stats/reset', { method: 'POST' })).body?.cancel();
      },
      injectFault: async (rule) => {
        const response = await control('faults', { method: 'POST', body: JSON.stringify(rule) });
        if (!response.ok) throw new Error(`the emulator refused the fault rule: ${await response.text()}`);
        await response.body?.cancel();
      },
      close: async () => {
        await Promise.all(started.map((child) => child.stop()));
      },
    };
  } catch (error) {
    await Promise.all(started.map((child) => child.kill()));
    throw error;
  }
}
