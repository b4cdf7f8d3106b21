import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

/*
 * What `npm run bench -- --replicas N` needs besides the gateways: a throw-away redis-server (Debian's, on a loopback
 * port, nothing written to disk) and subscribers held open over SSE.
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
