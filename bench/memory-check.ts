import autocannon from 'autocannon';
import { check, emulatorCalls, requestFor } from './measure.js';
import { rssMb, sampleRss } from './processes.js';
import { startEmulator, startGateway } from './servers.js';
import { fmt } from './table.js';
import { GATEWAY_ENV, WORKLOADS } from './workloads.js';

/**
 * `npm run bench -- --memory`: 100,000 requests (a mix that fills the cache and misses it) to one gateway, RSS at the
 * start, the middle and the end.
 */
export async function runMemoryCheck({
  connections,
  requests: total,
  gatewayEnv,
}: {
  connections: number;
  requests: number;
  gatewayEnv: Record<string, string>;
}): Promise<void> {
  const emulator = await startEmulator(0);
  const gateway = await startGateway('gateway', emulator, { ...GATEWAY_ENV.gateway, ...gatewayEnv });
  const mix = WORKLOADS.filter((w) => ['finished job, response cache', 'running job', 'page of 40, derived fields'].includes(w.name));
  const requests = mix.map((w) => {
    const { method, headers, body } = requestFor(gateway, w, false);
    return { method: method!, headers, body: body as string };
  });
  for (const w of mix) await check(requestFor(gateway, w, false), w.name);
  const start = rssMb(gateway.pid);
  let done = 0;
  let middle = NaN;
  const stopRss = sampleRss(gateway.pid);
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ url: `${gateway.url}/graphql`, connections, amount: total, requests }, (error, finished) =>
      error ? reject(error as Error) : resolve(finished),
    );
    instance.on('response', () => {
      if (++done === Math.floor(total / 2)) middle = rssMb(gateway.pid);
    });
  });
  const peak = stopRss();
  const end = rssMb(gateway.pid);
  await emulatorCalls(emulator);
  console.log(`\nmemory check: ${total} requests (${result.non2xx + result.errors} failed), ${connections} connections`);
  console.log(`RSS start ${fmt(start)} MB, middle ${fmt(middle)} MB, end ${fmt(end)} MB, peak ${fmt(peak)} MB`);
  // Growth from the middle to the end is what a leak shows; the start is before the heap sized itself for load.
  const grew = end > middle * 1.1;
  console.log(`${peak < 200 ? '✓' : '✗'} peak under 200 MB; ${grew ? '✗ grew' : '✓ flat'} from the middle to the end`);
}
