import { ConfigError, loadConfig, type Config } from './config.js';
import type { Emulator } from './emulator/index.js';
import { createGateway } from './gateway/index.js';
import { startTracing } from './observability/tracing.js';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(1);
  }

  let emulator: Emulator | undefined;
  if (config.mode === 'demo') {
    // No upstream configured: serve the embedded DashScope emulator on loopback and act with its demo key. Loaded
    // only here: a gateway with a real upstream never has the emulator's code or made-up jobs in its process.
    const { startEmulator } = await import('./emulator/index.js');
    emulator = await startEmulator({ host: '127.0.0.1', port: 0 });
    config = {
      ...config,
      upstream: { ...config.upstream, baseUrl: emulator.url },
      auth: { mode: 'server', apiKey: emulator.demoApiKey },
    };
    console.log(
      `Demo mode (${config.env === 'production' ? 'DEMO=true' : 'no DASHSCOPE_BASE_URL or DASHSCOPE_API_KEY set'}): serving the embedded DashScope emulator's demo jobs at ${emulator.url}`,
    );
  } else {
    console.log(`Upstream: ${config.upstream.baseUrl} (region ${config.upstream.region}, auth ${config.auth.mode})`);
  }

  if (config.tracing) {
    // Without the URL's user and password, if any; the export headers (credentials) are never printed.
    const where = new URL(config.tracing.url);
    where.username = where.password = '';
    console.log(`Tracing: OTLP ${config.tracing.protocol} to ${where.href} as service ${config.tracing.serviceName}`);
  }
  const gateway = createGateway({ config, tracing: await startTracing(config.tracing) });
  const url = await gateway.listen();
  const browsable = url.replace('://127.0.0.1:', '://localhost:').replace('://[::1]:', '://localhost:');
  console.log(
    `finetune-gateway ready: ${config.graphiql ? 'GraphiQL and ' : ''}GraphQL at ${browsable}/graphql, health at ${browsable}/health, readiness at ${browsable}/ready`,
  );

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      // A second signal: the operator does not want to wait for the drain.
      console.log(`${signal} received again, exiting now`);
      process.exit(1);
    }
    stopping = true;
    console.log(`${signal} received, shutting down gracefully`);
    await gateway.shutdown({ log: (message) => console.log(`shutdown: ${message}`) });
    await emulator?.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  console.error('finetune-gateway failed to start:', error instanceof Error ? error.message : error);
  process.exit(1);
});
