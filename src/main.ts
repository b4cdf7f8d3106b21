import { ConfigError, loadConfig, type Config } from './config.js';
import type { Emulator } from './emulator/index.js';
import { createGateway } from './gateway/index.js';
import { metricsOnPublicPort } from './gateway/ops-routes.js';
import { createLogger } from './logging/index.js';
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

  // Every line from here on is the gateway's: JSON (pretty in development), at LOG_LEVEL. Starting, listening and
  // shutting down are always told (info even at LOG_LEVEL=warn or error), unless LOG_LEVEL=silent.
  const gatewayLogger = createLogger({ level: config.logLevel, env: config.env });
  const logger = ['warn', 'error', 'fatal'].includes(config.logLevel) ? gatewayLogger.child({}, { level: 'info' }) : gatewayLogger;
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
    logger.info(
      { event: 'start', mode: 'demo', emulator: emulator.url },
      `Demo mode (${config.env === 'production' ? 'DEMO=true' : 'no DASHSCOPE_BASE_URL or DASHSCOPE_API_KEY set'}): serving the embedded DashScope emulator's demo jobs at ${emulator.url}`,
    );
  } else {
    logger.info(
      { event: 'start', mode: 'remote', upstream: config.upstream.baseUrl, region: config.upstream.region, auth: config.auth.mode },
      `Upstream: ${config.upstream.baseUrl} (region ${config.upstream.region}, auth ${config.auth.mode})`,
    );
  }

  if (config.tracing) {
    // Without the URL's user and password, if any; the export headers (credentials) are never printed.
    const where = new URL(config.tracing.url);
    where.username = where.password = '';
    logger.info(
      { event: 'start', tracing: where.href },
      `Tracing: OTLP ${config.tracing.protocol} to ${where.href} as service ${config.tracing.serviceName}`,
    );
  }
  const gateway = createGateway({ config, logger: gatewayLogger, tracing: await startTracing(config.tracing) });
  const url = await gateway.listen();
  const browsable = url.replace('://127.0.0.1:', '://localhost:').replace('://[::1]:', '://localhost:');
  const metricsBase = gateway.metricsUrl() ?? (metricsOnPublicPort(config.env, config.metrics) ? browsable : undefined);
  logger.info(
    { event: 'listening', url: browsable, metrics: metricsBase ? `${metricsBase}/metrics` : null },
    `finetune-gateway ready: ${config.graphiql ? 'GraphiQL and ' : ''}GraphQL at ${browsable}/graphql, health at ${browsable}/health, readiness at ${browsable}/ready${metricsBase ? `, metrics at ${metricsBase}/metrics` : ''}`,
  );

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      // A second signal: the operator does not want to wait for the drain.
      logger.warn({ event: 'shutdown', signal }, `${signal} received again, exiting now`);
      process.exit(1);
    }
    stopping = true;
    logger.info({ event: 'shutdown', signal }, `${signal} received, shutting down gracefully`);
    await gateway.shutdown({ log: (message) => logger.info({ event: 'shutdown' }, `shutdown: ${message}`) });
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
