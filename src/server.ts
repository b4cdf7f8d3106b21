import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { Config } from './config.js';
import { createContext, type GatewayContext } from './context.js';
import { maskError } from './errors.js';
import { loadPriceList } from './modules/fine-tune-job/derived.js';
import { buildSchema } from './schema.js';
import { DashScopeClient, isValidId, type Credential } from './upstream/dashscope/index.js';

export const GRAPHIQL_DEFAULT_QUERY = `# Welcome to finetune-gateway: GraphQL over DashScope fine-tuning jobs.
# Press the play button. Then try fineTuneJob(id: "ft-202410291653-1c7f") with checkpoints and logs.
query Dashboard {
  fineTuneJobs(page: 1, pageSize: 10) {
    total
    hasNextPage
    items {
      id
      status
      model
      createdAt
      durationSeconds
      costEstimate { amount currency isFinal }
    }
  }
}
`;

export interface GatewayOptions {
  config: Config;
  /** The upstream client; made from `config.upstream` when not given. */
  client?: DashScopeClient;
  /** Clock for derived fields (tests pin it). */
  now?: () => number;
}

export interface Gateway {
  yoga: YogaServerInstance<object, GatewayContext>;
  server: Server;
  /** Starts listening; resolves to the base URL, e.g. `http://127.0.0.1:4000`. */
  listen(port?: number, host?: string): Promise<string>;
  close(): Promise<void>;
}

const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Every response carries `x-request-id` (the caller's, when well-formed), to quote when reporting a problem. */
function useRequestId(): Plugin {
  return {
    onResponse({ request, response }) {
      const incoming = request.headers.get('x-request-id');
      response.headers.set('x-request-id', incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID());
    },
  };
}

const BEARER = /^Bearer\s+([\x21-\x7e]{1,512})\s*$/i;

/** Which DashScope key and workspace a request acts with: the gateway's own, or in forward mode the caller's. */
function credentialFor(config: Config, headers: Headers): Credential | null {
  if (config.auth.mode === 'server') return { apiKey: config.auth.apiKey ?? '', workspace: config.upstream.workspace };
  const token = BEARER.exec(headers.get('authorization') ?? '')?.[1];
  if (!token) return null;
  const workspace = headers.get('x-dashscope-workspace');
  return { apiKey: token, workspace: workspace && isValidId(workspace) ? workspace : config.upstream.workspace };
}

export function createGateway({ config, client, now }: GatewayOptions): Gateway {
  const { upstream } = config;
  if (!upstream.baseUrl) throw new Error('config.upstream.baseUrl is not set (demo mode sets it once the emulator listens)');
  const dashscope = client ?? new DashScopeClient({ ...upstream, baseUrl: upstream.baseUrl });
  const prices = loadPriceList(upstream.region, config.pricesFile);
  const isDev = config.env === 'development';

  const yoga = createYoga<object, GatewayContext>({
    schema: buildSchema(),
    context: ({ request }) =>
      createContext({
        client: dashscope,
        credential: credentialFor(config, request.headers),
        batchConcurrency: upstream.batchConcurrency,
        prices,
        signal: request.signal,
        now,
      }),
    graphiql: config.graphiql && { title: 'finetune-gateway', defaultQuery: GRAPHIQL_DEFAULT_QUERY },
    // GraphiQL's assets are served from this package, not a CDN: it works offline and behind strict networks.
    renderGraphiQL,
    landingPage: false,
    maskedErrors: { maskError, isDev },
    logging: config.logLevel,
    healthCheckEndpoint: '/health',
    plugins: [useRequestId()],
  });

  const server = createServer(yoga.requestListener);
  return {
    yoga,
    server,
    listen: (port = config.port, host = config.host) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          const address = server.address() as AddressInfo;
          resolve(`http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`);
        });
      }),
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await dashscope.close();
    },
  };
}
