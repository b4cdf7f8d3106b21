import { loadConfig } from '../../src/config.js';
import { startEmulator, type Emulator, type EmulatorOptions } from '../../src/emulator/index.js';
import { createGateway, type Gateway, type GatewayOptions } from '../../src/gateway/index.js';
import type { LogCapture } from './logs.js';
import type { DashScopeClient } from '../../src/upstream/dashscope/index.js';

export interface GraphQLResponse<TData = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: { data?: TData | null; errors?: Array<{ message: string; path?: Array<string | number>; extensions?: Record<string, unknown> }> };
}

export interface Stack {
  emulator: Emulator;
  gateway: Gateway;
  url: string;
  /** POSTs an operation to the gateway over HTTP. */
  gql<TData = Record<string, any>>(
    query: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<GraphQLResponse<TData>>;
  /** Like gql, but fails with the operation, the whole body and the request id when the response has errors. */
  ok<TData = Record<string, any>>(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<TData>;
  /** Upstream calls the emulator saw since the last reset, by route. */
  upstreamCalls(route?: string): number;
  close(): Promise<void>;
}

/** A real emulator and a real gateway, each on its own loopback port, talking HTTP. */
export async function startStack(
  options: {
    env?: Record<string, string>;
    emulator?: EmulatorOptions;
    now?: () => number;
    /** Where the gateway's JSON log lines go (`captureLogs()`); without it, nowhere. */
    logs?: LogCapture;
    /** An upstream client of the test's own (e.g. one with a bug), made from the config. */
    client?: (config: ReturnType<typeof loadConfig>, emulatorUrl: string) => DashScopeClient;
    /** The response cache's store and hit/miss events. */
    responseCache?: GatewayOptions['responseCache'];
    /** `demo`: the gateway acts as in demo mode (GraphiQL's workflow tabs), with this emulator as its upstream. */
    mode?: 'demo';
  } = {},
): Promise<Stack> {
  const emulator = await startEmulator(options.emulator);
  const loaded = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'error',
    DASHSCOPE_BASE_URL: emulator.url,
    ...(options.env?.AUTH_MODE === 'forward' ? {} : { DASHSCOPE_API_KEY: emulator.demoApiKey }),
    ...options.env,
  });
  const config = options.mode ? { ...loaded, mode: options.mode } : loaded;
  const gateway = createGateway({
    config,
    now: options.now,
    logDestination: options.logs?.destination ?? { write: () => {} },
    client: options.client?.(config, emulator.url),
    responseCache: options.responseCache,
  });
  const url = await gateway.listen(0, '127.0.0.1');

  const gql: Stack['gql'] = async (query, variables, headers) => {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
      body: JSON.stringify({ query, variables }),
    });
    return { status: response.status, headers: response.headers, body: (await response.json()) as GraphQLResponse['body'] } as never;
  };

  return {
    emulator,
    gateway,
    url,
    gql,
    ok: async (query, variables, headers) => {
      const response = await gql(query, variables, headers);
      if (response.status !== 200 || response.body.errors?.length || !response.body.data) {
        throw new Error(
          `GraphQL operation failed (HTTP ${response.status}, request id ${response.headers.get('x-request-id') ?? 'none'})\n` +
            `query: ${query}\nvariables: ${JSON.stringify(variables)}\nbody: ${JSON.stringify(response.body, null, 2)}`,
        );
      }
      return response.body.data as never;
    },
    upstreamCalls: (route) => {
      const stats = emulator.stats();
      return route ? (stats.byRoute[route] ?? 0) : stats.total;
    },
    close: async () => {
      await gateway.close();
      await emulator.close();
    },
  };
}
