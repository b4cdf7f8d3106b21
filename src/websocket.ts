import type { IncomingMessage, Server } from 'node:http';
import type { DocumentNode, ExecutionArgs, GraphQLError, GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import type { YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import type { GatewayContext } from './context.js';

interface Roots {
  execute: (args: ExecutionArgs) => unknown;
  subscribe: (args: ExecutionArgs) => unknown;
}

/** What `yoga.getEnveloped` hands back (typed loosely by envelop). */
interface Enveloped extends Roots {
  schema: GraphQLSchema;
  contextFactory: () => Promise<unknown>;
  parse: (source: string) => DocumentNode;
  validate: (schema: GraphQLSchema, document: DocumentNode) => readonly GraphQLError[];
}

/**
 * Cross-site WebSocket hijacking: browsers open WebSockets to any origin without CORS, so an upgrade from a page of
 * another origin is refused unless that origin is allowed. Clients outside a browser send no Origin.
 */
function originAllowed(request: IncomingMessage, allowedOrigins: readonly string[]): boolean {
  const origin = request.headers.origin;
  if (!origin) return true;
  if (allowedOrigins.includes(origin)) return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

/**
 * The upgrade request as a fetch `Request`, so that the same context function and plugins serve WebSocket operations
 * as HTTP ones. `connectionParams.authorization` (browsers cannot set headers on a WebSocket) takes the place of the
 * Authorization header.
 */
function requestFor(
  upgrade: IncomingMessage,
  connectionParams: Readonly<Record<string, unknown>> | undefined,
  signal: AbortSignal,
): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(upgrade.headers)) {
    if (typeof value === 'string') headers.set(name, value);
  }
  for (const name of ['authorization', 'x-dashscope-workspace']) {
    const value = connectionParams?.[name] ?? connectionParams?.[name.replace(/(^|-)\w/g, (c) => c.toUpperCase())];
    if (typeof value === 'string') headers.set(name, value);
  }
  return new Request(`http://${headers.get('host') ?? 'localhost'}${upgrade.url ?? '/graphql'}`, { headers, signal });
}

/**
 * GraphQL over WebSocket (graphql-ws, `graphql-transport-ws`) on the gateway's own HTTP server and path, executed
 * by the same yoga instance, so that schema, context, limits, error masking and shutdown apply alike.
 */
export function serveWebSocket(
  server: Server,
  yoga: YogaServerInstance<object, GatewayContext>,
  options: { allowedOrigins: readonly string[] },
): { close(): Promise<void> } {
  const wss = new WebSocketServer({
    server,
    path: yoga.graphqlEndpoint,
    verifyClient: ({ req }: { req: IncomingMessage }) => originAllowed(req, options.allowedOrigins),
  });
  // One signal per socket: its operations' upstream calls end when the socket closes.
  const sockets = new WeakMap<object, AbortController>();
  const disposable = useServer(
    {
      execute: (args) => (args.rootValue as Roots).execute(args) as never,
      subscribe: (args) => (args.rootValue as Roots).subscribe(args) as never,
      onClose: (ctx) => sockets.get(ctx)?.abort(),
      onSubscribe: async (ctx, _id, payload) => {
        let controller = sockets.get(ctx);
        if (!controller) sockets.set(ctx, (controller = new AbortController()));
        const request = requestFor(ctx.extra.request, ctx.connectionParams, controller.signal);
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          request,
          params: payload,
        }) as Enveloped;
        const document = parse(payload.query);
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
        const args: ExecutionArgs = {
          schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe } satisfies Roots,
        };
        return args;
      },
    },
    wss,
  );
  return {
    close: async () => {
      await disposable.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
