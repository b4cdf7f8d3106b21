import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config.js';

/**
 * The node HTTP server in front of yoga. Node's defaults let a client trickling its request hold a connection for
 * 300 s. The request timeout covers receiving the request only: SSE, multipart and WebSocket streams run past it. Node
 * checks the timeouts every `connectionsCheckingInterval`, so that follows the shortest one.
 */
export function createHttpServer(
  { requestTimeoutMs, headersTimeoutMs, keepAliveTimeoutMs, maxConnections }: Config['http'],
  listener: RequestListener,
): Server {
  const server = createServer(
    {
      requestTimeout: requestTimeoutMs,
      headersTimeout: headersTimeoutMs,
      keepAliveTimeout: keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(headersTimeoutMs / 4))),
    },
    listener,
  );
  server.maxConnections = maxConnections;
  return server;
}

/** Starts listening; resolves to the base URL, e.g. `http://127.0.0.1:4000`. */
export function listen(server: Server, port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const address = server.address() as AddressInfo;
      resolve(`http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`);
    });
  });
}
