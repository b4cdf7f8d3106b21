import { z } from 'zod';

/* The only file that reads process.env. Every problem is reported at once; main.ts exits 1 on any. */

export const REGION_BASE_URLS = {
  intl: 'https://dashscope-intl.aliyuncs.com',
  'cn-beijing': 'https://dashscope.aliyuncs.com',
} as const;
export type Region = keyof typeof REGION_BASE_URLS;

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const positiveInt = z.coerce.number().int().positive();
const emptyAsUnset = (v: unknown) => (v === '' ? undefined : v);
const optional = <T extends z.ZodType>(schema: T) => z.preprocess(emptyAsUnset, schema.optional());

const EnvModel = z.object({
  NODE_ENV: optional(z.enum(['development', 'production', 'test'])),
  PORT: optional(z.coerce.number().int().min(0).max(65535)),
  HOST: optional(z.string().min(1)),
  LOG_LEVEL: optional(z.enum(['debug', 'info', 'warn', 'error'])),
  DASHSCOPE_BASE_URL: optional(z.url({ protocol: /^https?$/ })),
  DASHSCOPE_API_KEY: optional(z.string().min(1)),
  DASHSCOPE_REGION: optional(z.enum(['intl', 'cn-beijing'])),
  DASHSCOPE_WORKSPACE: optional(z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'letters, digits and _ . : - only')),
  DASHSCOPE_TIMEZONE: optional(z.string().regex(/^[+-](0\d|1[0-4]):[0-5]\d$/, 'an offset such as +08:00')),
  AUTH_MODE: optional(z.enum(['server', 'forward'])),
  PRICES_FILE: optional(z.string().min(1)),
  UPSTREAM_CONNECT_TIMEOUT_MS: optional(positiveInt),
  UPSTREAM_HEADERS_TIMEOUT_MS: optional(positiveInt),
  UPSTREAM_BODY_TIMEOUT_MS: optional(positiveInt),
  UPSTREAM_CONNECTIONS: optional(positiveInt),
  UPSTREAM_BATCH_CONCURRENCY: optional(positiveInt),
  GRAPHIQL: optional(bool),
  INTROSPECTION: optional(bool),
});

export interface Config {
  env: 'development' | 'production' | 'test';
  port: number;
  host: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** `demo`: no upstream configured, the embedded emulator serves. `remote`: a real (or compatible) DashScope. */
  mode: 'demo' | 'remote';
  upstream: {
    /** Unset in demo mode until the emulator is listening. */
    baseUrl: string | undefined;
    region: Region;
    workspace: string | undefined;
    timeZoneOffsetMinutes: number;
    connectTimeoutMs: number;
    headersTimeoutMs: number;
    bodyTimeoutMs: number;
    connections: number;
    /** Upstream calls one operation may have in flight at once (the fan-out cap). */
    batchConcurrency: number;
  };
  auth: { mode: 'server'; apiKey: string | undefined } | { mode: 'forward' };
  pricesFile: string | undefined;
  graphiql: boolean;
  introspection: boolean;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

function offsetMinutes(offset: string): number {
  const sign = offset.startsWith('-') ? -1 : 1;
  const [hours = 0, minutes = 0] = offset.slice(1).split(':').map(Number);
  return sign * (hours * 60 + minutes);
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = EnvModel.safeParse(env);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message} (got ${JSON.stringify(env[String(issue.path[0])])})`);
  // Rules across variables, read from the raw values so that they are reported together with the ones above.
  const set = (name: string) => Boolean(env[name]);
  if (env.AUTH_MODE !== 'forward' && set('DASHSCOPE_BASE_URL') && !set('DASHSCOPE_API_KEY')) {
    problems.push("DASHSCOPE_API_KEY: required when DASHSCOPE_BASE_URL is set (or set AUTH_MODE=forward to use each caller's key)");
  }
  if (env.AUTH_MODE === 'forward' && set('DASHSCOPE_API_KEY')) {
    problems.push('DASHSCOPE_API_KEY: must be unset with AUTH_MODE=forward, where each request brings its own key');
  }
  if (!parsed.success || problems.length) throw new ConfigError(problems);
  const e = parsed.data;
  const authMode = e.AUTH_MODE ?? 'server';
  const region = e.DASHSCOPE_REGION ?? 'intl';
  const demo = authMode === 'server' && !e.DASHSCOPE_BASE_URL && !e.DASHSCOPE_API_KEY;

  return {
    env: e.NODE_ENV ?? 'development',
    port: e.PORT ?? 4000,
    host: e.HOST ?? '127.0.0.1',
    logLevel: e.LOG_LEVEL ?? 'info',
    mode: demo ? 'demo' : 'remote',
    upstream: {
      baseUrl: demo ? undefined : (e.DASHSCOPE_BASE_URL ?? REGION_BASE_URLS[region]),
      region,
      workspace: e.DASHSCOPE_WORKSPACE,
      timeZoneOffsetMinutes: offsetMinutes(e.DASHSCOPE_TIMEZONE ?? '+08:00'),
      connectTimeoutMs: e.UPSTREAM_CONNECT_TIMEOUT_MS ?? 3_000,
      headersTimeoutMs: e.UPSTREAM_HEADERS_TIMEOUT_MS ?? 10_000,
      bodyTimeoutMs: e.UPSTREAM_BODY_TIMEOUT_MS ?? 10_000,
      connections: e.UPSTREAM_CONNECTIONS ?? 64,
      batchConcurrency: e.UPSTREAM_BATCH_CONCURRENCY ?? 10,
    },
    auth: authMode === 'forward' ? { mode: 'forward' } : { mode: 'server', apiKey: e.DASHSCOPE_API_KEY },
    pricesFile: e.PRICES_FILE,
    graphiql: e.GRAPHIQL ?? true,
    introspection: e.INTROSPECTION ?? true,
  };
}
