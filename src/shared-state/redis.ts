import { Redis, type ChainableCommander, type RedisOptions } from 'ioredis';

/*
 * The one Redis connection of a gateway (REDIS_URL), for the state replicas share: idempotency records, the cache of
 * finished jobs, the upstream rate limit. Redis is an optimisation and a lock, never the only way to answer: every
 * command is bounded (connect and command timeouts, no offline queue, so a down Redis fails at once instead of
 * queueing), and each caller decides what a failure means (reads fall back to this process; an idempotent create
 * refuses rather than risk a second paid job).
 */

export interface RedisConfig {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS). Never logged: it may hold a password. */
  url: string;
  /** Prepended to every key, so that several gateways (or environments) can share one Redis. */
  keyPrefix: string;
  /** A command that has not answered by then fails (Redis slow or unreachable), and the caller falls back. */
  commandTimeoutMs: number;
  /** A connection attempt that has not succeeded by then is abandoned and retried with back-off. */
  connectTimeoutMs: number;
}

/**
 * `disabled`: no REDIS_URL, state stays in-process. `connecting`: not connected yet since start. `ready`: the last
 * connection event or command succeeded. `unavailable`: the connection is down or the last command failed or timed
 * out; commands are still tried (each bounded), and the first success makes it `ready` again.
 */
export type RedisState = 'disabled' | 'connecting' | 'ready' | 'unavailable';

export type RedisStateListener = (state: RedisState, detail: string) => void;

/** Back-off between reconnection attempts: 100 ms, 200 ms, … up to 2 s, for ever (a Redis that returns is picked up). */
export const reconnectDelayMs = (attempt: number): number => Math.min(100 * attempt, 2_000);

/**
 * An ioredis client with the gateway's bounded settings. Also for the connections other parts need of their own (a
 * pub/sub subscriber must have a dedicated one): `createRedisClient(config)` gives one with the same rules.
 */
export function createRedisClient(config: RedisConfig, overrides: RedisOptions = {}): Redis {
  return new Redis(config.url, {
    keyPrefix: config.keyPrefix,
    connectTimeout: config.connectTimeoutMs,
    commandTimeout: config.commandTimeoutMs,
    // Fail fast while disconnected: a command queued until Redis returns would hold its request for as long.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: reconnectDelayMs,
    ...overrides,
  });
}

/**
 * The gateway's shared Redis: the client, and its state (`state`, `onStateChange`), which changes on connection events
 * and on the outcome of each command the gateway runs through `run`. A listener hears each transition once, not
 * each failed request: what the gateway logs, and what /health and metrics can report.
 */
export class SharedRedis {
  readonly client: Redis;
  private current: RedisState = 'connecting';
  private readonly listeners = new Set<RedisStateListener>();
  private closed = false;

  constructor(readonly config: RedisConfig) {
    this.client = createRedisClient(config);
    this.client.on('ready', () => this.set('ready', 'connected'));
    // ioredis emits `error` for each failed connection attempt; without a listener it would print each one.
    this.client.on('error', (error: Error) => this.set('unavailable', describeRedisError(error)));
    this.client.on('close', () => this.set('unavailable', 'connection closed'));
  }

  get state(): RedisState {
    return this.current;
  }

  /** Called with (state, detail) on every transition; returns the function that unsubscribes. */
  onStateChange(listener: RedisStateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Runs one Redis command (or a pipeline of them), bounded by the command timeout, and records its outcome in the
   * state. Rejects with `RedisUnavailableError` when Redis is down, slow or answered an error.
   */
  async run<T>(what: string, command: (client: Redis) => Promise<T>): Promise<T> {
    if (this.closed) throw new RedisUnavailableError(`${what}: the Redis connection is closed`);
    try {
      const result = await command(this.client);
      this.set('ready', 'a command succeeded');
      return result;
    } catch (error) {
      const detail = describeRedisError(error);
      this.set('unavailable', `${what}: ${detail}`);
      throw new RedisUnavailableError(`${what}: ${detail}`, { cause: error });
    }
  }

  /** Closes the connection (QUIT, or at once when Redis is unreachable). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    if (this.client.status === 'ready') {
      await this.client.quit().catch(() => this.client.disconnect());
    } else this.client.disconnect();
  }

  private set(state: RedisState, detail: string): void {
    if (this.closed || state === this.current) return;
    this.current = state;
    for (const listener of this.listeners) listener(state, detail);
  }
}

/**
 * A Lua script as a command of `client` (ioredis `defineCommand`: sent by EVALSHA, loaded on first use, and with the
 * client's key prefix applied to its keys); returns a function calling it with `keys` then `args`.
 */
export function defineScript<R>(
  client: Redis,
  name: string,
  lua: string,
  numberOfKeys: number,
): (keys: string[], args: Array<string | number>) => Promise<R> {
  if (!(name in client)) client.defineCommand(name, { numberOfKeys, lua });
  const command = (client as unknown as Record<string, (...args: Array<string | number>) => Promise<R>>)[name]!;
  return (keys, args) => command.call(client, ...keys, ...args);
}

/**
 * Executes a pipeline or MULTI and rejects with the first command's error. ioredis resolves `exec()` with a
 * `[error, result]` pair per command, so a pipeline sent while the connection is down "succeeds" with every command
 * failed: through `run`, that would mark Redis ready in the middle of an outage.
 */
export async function execAll(pipeline: ChainableCommander): Promise<unknown[]> {
  const results = (await pipeline.exec()) ?? [];
  const failed = results.find(([error]) => error);
  if (failed) throw failed[0]!;
  return results.map(([, result]) => result);
}

/** Redis could not serve a command: down, slow past its timeout, or an error answer. */
export class RedisUnavailableError extends Error {
  override readonly name = 'RedisUnavailableError';
}

/** A short reason without the URL (which may hold a password): ioredis' messages name host and port at most. */
export function describeRedisError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  return code && !error.message.includes(code) ? `${code} ${error.message}` : error.message;
}

/** A description of where Redis is for log lines: host and port, never the password in the URL. */
export function redisLocation(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname.length > 1 ? parsed.pathname : ''}`;
  } catch {
    return 'redis';
  }
}
