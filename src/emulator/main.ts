import { parseArgs } from 'node:util';
import { DEMO_ACCOUNT, startEmulator } from './index.js';

// argv only: src/config.ts is the one place that reads the environment.
const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'latency-ms': { type: 'string', default: '0' },
    // Another account besides the demo one (its API key), e.g. for a second tenant in forward mode. Repeatable.
    account: { type: 'string', multiple: true, default: [] },
  },
});

const port = Number(values.port);
const latencyMs = Number(values['latency-ms']);
if (!Number.isInteger(port) || port < 0 || port > 65535 || !Number.isFinite(latencyMs) || latencyMs < 0) {
  console.error('usage: emulator [--port N] [--host H] [--latency-ms N] [--account API_KEY]…');
  process.exit(1);
}

const accounts = [
  DEMO_ACCOUNT,
  ...values.account.map((apiKey, index) => ({
    apiKey,
    workspaceId: `llm-extra${index}`,
    userId: `20000000000000${String(index).padStart(2, '0')}`,
  })),
];
const emulator = await startEmulator({ port, host: values.host, latencyMs, accounts });
console.log(`emulator listening on ${emulator.url} (api key ${emulator.demoApiKey})`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void emulator.close().then(() => process.exit(0));
  });
}
