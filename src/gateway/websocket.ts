import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import { GraphQLError, type DocumentNode, type ExecutionArgs, type GraphQLSchema } from 'graphql';
import { CloseCode, makeServer, type ExecutionResult, type FormattedExecutionResult, type ServerOptions } from 'graphql-ws';
import type { YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer, type WebSocket } from 'ws';
import type { GatewayContext } from '../context.js';
import { badUserInput, maskError } from '../errors/index.js';
import { capReached } from '../plugins/limits.js';
import { requestScope, type GatewayLogger } from '../logging/index.js';
import { publicError } from '../plugins/use-public-errors.js';
import type { PersistedQueries } from '../plugins/use-persisted-queries.js';

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

export interface WebSocketOptions {
  /** The CORS allow list: the only browser origins that may open a socket. */
  allowedOrigins: readonly string[];
  /** The HTTP body limit, applied to each message: a larger one closes the socket with 1009, unread. */
  maxPayloadBytes: number;
  /** Operations one socket may have in flight at once. */
  maxOperationsPerSocket: number;
  /** Sockets open at once (below the HTTP server's connection cap, so that HTTP keeps room); more are closed, 1013. */
  maxSockets: number;
  /** The documented error codes (the schema's `enum ErrorCode`). */
  codes: ReadonlySet<string>;
  /** The gateway's persisted-query store (the HTTP one): hashes are checked and resolved as over HTTP. */
  persistedQueries: PersistedQueries;
  isDev: boolean;
  logger: GatewayLogger;
  /** Ping interval; a socket that does not answer a ping within it is dropped. */
  keepAliveMs?: number;
}

/** One socket's in-flight operations, each with the signal its upstream calls follow. */
interface SocketState {
  socket: WebSocket;
  upgrade: IncomingMessage;
  operations: Map<string, AbortController>;
  /** Operations sent with a persisted-query hash or a document id and no query (see `withPersistedQueryPlaceholder`). */
  hashOnly: Set<string>;
}

/**
 * graphql-ws closes the whole socket (4400) on a `subscribe` without a string `query`, which is how Apollo's persisted
 * queries send a hash alone, and trusted documents a `documentId`. Such a message gets an empty query here, and its id is noted: `onSubscribe` then resolves
 * the hash through the persisted-query store, as over HTTP, and an unknown hash is an error for that id only.
 */
function withPersistedQueryPlaceholder(data: string, hashOnly: Set<string>): string {
  if (!data.includes('persistedQuery') && !data.includes('documentId')) return data;
  let message: unknown;
  try {
    message = JSON.parse(data);
  } catch {
    return data; // graphql-ws answers it
  }
  const { id, type, payload } = (message ?? {}) as { id?: unknown; type?: unknown; payload?: Record<string, unknown> | null };
  if (type !== 'subscribe' || typeof id !== 'string' || typeof payload !== 'object' || payload === null) return data;
  if (payload.query != null) return data;
  const byId = payload.documentId != null;
  const byHash = typeof payload.extensions === 'object' && payload.extensions !== null && 'persistedQuery' in payload.extensions;
  if (!byId && !byHash) return data;
  hashOnly.add(id);
  return JSON.stringify({ ...(message as object), payload: { ...payload, query: '' } });
}

/**
 * Cross-site WebSocket hijacking: browsers open WebSockets to any origin without CORS, so a page's upgrade is allowed
 * only from an origin on the CORS list. `Host` proves nothing (DNS rebinding makes it the attacker's name), and
 * `Origin: null` (sandboxed frames, files) is never on the list. Clients outside a browser send no Origin.
 */
function originAllowed(request: IncomingMessage, allowedOrigins: readonly string[]): boolean {
  const origin = request.headers.origin;
  return origin === undefined || allowedOrigins.includes(origin);
}

/** `extensions.http` (the response cache's ETag, an error's status) is HTTP's; yoga leaves it out of HTTP bodies too. */
function withoutHttpExtensions(result: ExecutionResult): ExecutionResult {
  if (!result.extensions || !('http' in result.extensions)) return result;
  const extensions: Record<string, unknown> = { ...result.extensions };
  delete extensions.http;
  const sent: ExecutionResult = { ...result, extensions };
  if (Object.keys(extensions).length === 0) delete sent.extensions;
  return sent;
}

// `traceparent`/`tracestate`: the caller's trace, for browsers that cannot set them on the upgrade request either.
const PARAM_HEADERS = ['authorization', 'x-dashscope-workspace', 'traceparent', 'tracestate'];

/**
 * The operation as a fetch `Request`, so that the same context function and plugins serve it as an HTTP one: the
 * upgrade's headers, with `connectionParams.authorization` (browsers cannot set headers on a WebSocket) in place of
 * the Authorization header. A POST: yoga refuses mutations in a GET. `signal` ends with the operation.
 */
function requestFor(
  upgrade: IncomingMessage,
  connectionParams: Readonly<Record<string, unknown>> | undefined,
  signal: AbortSignal,
): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(upgrade.headers)) {
    // Not the upgrade's Accept: a socket's results are graphql-ws messages, there is no media type to negotiate.
    if (typeof value === 'string' && name !== 'accept') headers.set(name, value);
  }
  for (const name of PARAM_HEADERS) {
    // Any spelling, as HTTP header names: a client writing the documented `X-DashScope-WorkSpace` must not have its
    // workspace dropped (the operation would act in the key's default workspace, which it did not ask for).
    const values = new Set(
      Object.entries(connectionParams ?? {})
        .filter(([key, value]) => key.toLowerCase() === name && value !== undefined)
        .map(([, value]) => value),
    );
    if (values.size === 0) continue;
    if (values.size > 1) throw badUserInput(`connectionParams holds ${name} twice (in two spellings) with two values.`);
    const [value] = values;
    try {
      if (typeof value !== 'string') throw new TypeError();
      headers.set(name, value);
    } catch {
      throw badUserInput(`connectionParams.${name} must be a string that is a valid HTTP header value.`);
    }
  }
  return new Request(`http://localhost${upgrade.url ?? '/graphql'}`, { method: 'POST', headers, signal });
}

/**
 * GraphQL over WebSocket (graphql-ws, `graphql-transport-ws`) on the gateway's own HTTP server and path. Each
 * operation runs through yoga's enveloped pipeline (parse with the token limit, validation with the operation limits,
 * context, execute/subscribe with every plugin), and its errors get the same masking, codes and public form as over
 * HTTP. A bad operation gets an `error` for its id; the socket and its other operations go on.
 */
export function serveWebSocket(
  server: Server,
  yoga: YogaServerInstance<object, GatewayContext>,
  options: WebSocketOptions,
): { close(): Promise<void>; drain(graceMs: number): Promise<{ forced: boolean }>; connections(): number } {
  const { logger, isDev, codes, maxOperationsPerSocket, keepAliveMs = 12_000 } = options;
  let draining = false;
  const sockets = new Set<SocketState>();
  let idle: (() => void) | undefined;

  const wss = new WebSocketServer({
    server,
    path: yoga.graphqlEndpoint,
    maxPayload: options.maxPayloadBytes,
    verifyClient: ({ req }: { req: IncomingMessage }) => !draining && originAllowed(req, options.allowedOrigins),
  });

  /** An error as a client sees it over HTTP: masked (and the original logged), coded, without `extensions.http`. */
  const toPublic = (error: unknown): GraphQLError => {
    const masked = maskError(error, 'Unexpected error.', isDev);
    if (masked !== error) logger.error({ err: error, transport: 'graphql-ws' }, 'masked an unexpected error');
    const result = publicError(masked instanceof GraphQLError ? masked : new GraphQLError(masked.message), codes, isDev);
    if (!result.extensions.http) return result;
    const extensions = { ...result.extensions };
    delete extensions.http;
    return new GraphQLError(result.message, {
      nodes: result.nodes,
      source: result.source,
      positions: result.positions,
      path: result.path,
      extensions,
    });
  };

  /** The operation is over: its upstream calls end, and a draining socket with nothing left in flight closes. */
  const end = (state: SocketState, id: string) => {
    const operation = state.operations.get(id);
    if (!operation) return;
    state.operations.delete(id);
    operation.abort();
    if (draining) closeIfIdle(state);
  };
  // After graphql-ws has sent the operation's `complete` (it does once `onComplete` returns).
  const closeIfIdle = (state: SocketState) =>
    setImmediate(() => {
      if (state.operations.size === 0) state.socket.close(1001, 'Going away');
    });

  const hooks: ServerOptions<Record<string, unknown>, SocketState> = {
    execute: (args) => (args.rootValue as Roots).execute(args) as never,
    subscribe: (args) => (args.rootValue as Roots).subscribe(args) as never,
    onSubscribe: async (ctx, id, payload) => {
      const state = ctx.extra;
      const hashOnly = state.hashOnly.delete(id);
      if (state.operations.size >= maxOperationsPerSocket) {
        return [
          toPublic(
            capReached(
              'maxOperationsPerSocket',
              `This socket has ${maxOperationsPerSocket} operations in flight, the most allowed; wait for one to finish.`,
            ),
          ),
        ];
      }
      const operation = new AbortController();
      state.operations.set(id, operation);
      try {
        const request = requestFor(state.upgrade, ctx.connectionParams, operation.signal);
        const sent = hashOnly ? { ...payload, query: undefined } : payload;
        const query = options.persistedQueries.query(sent, request.headers) ?? '';
        const params = { ...payload, query };
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({ request, params }) as Enveloped;
        const document = parse(query);
        const errors = validate(schema, document);
        if (errors.length > 0) {
          end(state, id);
          return errors.map(toPublic);
        }
        // A failure while executing is a result with errors, never a rejection (that would close the whole socket).
        // Each operation has its own request id, on every log line about it, as an HTTP request has.
        const requestId = randomUUID();
        const guard =
          (run: (args: ExecutionArgs) => unknown) =>
          async (args: ExecutionArgs): Promise<unknown> => {
            try {
              return await requestScope.run(requestId, () => run(args));
            } catch (error) {
              return { errors: [error] };
            }
          };
        return {
          schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue: await contextFactory(),
          rootValue: { execute: guard(execute), subscribe: guard(subscribe) } satisfies Roots,
        };
      } catch (error) {
        end(state, id);
        return [toPublic(error)];
      }
    },
    onNext: (_ctx, _id, _payload, _args, result: ExecutionResult): FormattedExecutionResult | void => {
      const sent = withoutHttpExtensions(result);
      if (!sent.errors?.length) return sent === result ? undefined : sent;
      return { ...sent, errors: sent.errors.map((error) => toPublic(error).toJSON()) };
    },
    onError: (ctx, id, _payload, errors) => {
      end(ctx.extra, id);
      return errors.map((error) => toPublic(error).toJSON());
    },
    onComplete: (ctx, id) => end(ctx.extra, id),
    onClose: (ctx) => {
      for (const id of [...ctx.extra.operations.keys()]) end(ctx.extra, id);
    },
  };
  const graphqlWs = makeServer(hooks);

  wss.on('error', (error) => logger.error({ err: error, transport: 'graphql-ws' }, 'WebSocket server error'));
  wss.on('connection', (socket, upgrade) => {
    if (sockets.size >= options.maxSockets) {
      // 1013 "Try Again Later"; a client that does not answer the close frame is dropped at once.
      socket.on('error', () => {}); // ws has closed it already; nothing to report for a refused socket
      socket.close(1013, 'Too many WebSocket connections; try again later');
      setTimeout(() => socket.terminate(), 1_000).unref();
      return;
    }
    const state: SocketState = { socket, upgrade, operations: new Map(), hashOnly: new Set() };
    sockets.add(state);
    // ws has already closed the socket (1009 for a message over maxPayload, 1002 for a protocol error).
    socket.on('error', (error) => logger.warn({ transport: 'graphql-ws', reason: error.message }, 'WebSocket closed on a client error'));
    let alive = true;
    socket.on('pong', () => (alive = true));
    const keepAlive = setInterval(() => {
      if (!alive) return socket.terminate();
      alive = false;
      socket.ping();
    }, keepAliveMs);
    keepAlive.unref();
    const closed = graphqlWs.opened(
      {
        protocol: socket.protocol,
        send: (data) =>
          new Promise<void>((resolve) => {
            if (socket.readyState !== socket.OPEN) return resolve();
            socket.send(data, () => resolve());
          }),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (handle) =>
          // A text or binary message, as one Buffer (ws' default binaryType).
          socket.on('message', (data: Buffer) => {
            handle(withPersistedQueryPlaceholder(data.toString(), state.hashOnly)).catch((error: unknown) => {
              logger.error({ err: error, transport: 'graphql-ws' }, 'WebSocket message handling failed');
              socket.close(CloseCode.InternalServerError, 'Internal server error');
            });
          }),
      },
      state,
    );
    socket.once('close', (code, reason) => {
      clearInterval(keepAlive);
      sockets.delete(state);
      void closed(code, reason.toString()).finally(() => {
        if (sockets.size === 0) idle?.();
      });
    });
  });

  const closeServer = () => new Promise<void>((resolve) => wss.close(() => resolve()));
  return {
    connections: () => sockets.size,
    /** At once: every socket dropped with whatever it has in flight (tests, or after the grace). */
    close: async () => {
      draining = true;
      for (const { socket } of sockets) socket.terminate();
      await closeServer();
    },
    /**
     * Graceful: no new sockets; each socket closes (1001) once its in-flight operations have answered (subscriptions
     * end with `complete` on the gateway's `closing` signal); after `graceMs` the rest are dropped.
     */
    drain: async (graceMs) => {
      draining = true;
      const allClosed = new Promise<void>((resolve) => {
        idle = resolve;
        if (sockets.size === 0) resolve();
      });
      for (const state of sockets) closeIfIdle(state);
      let timer: NodeJS.Timeout | undefined;
      const forced = await Promise.race([
        allClosed.then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs))),
      ]);
      clearTimeout(timer);
      if (forced) for (const { socket } of sockets) socket.terminate();
      await closeServer();
      return { forced };
    },
  };
}
