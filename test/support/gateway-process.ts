// The gateway alone in a process of its own (configured by its environment), for measuring its memory: prints
// `{"url"}` once listening, then answers each line on stdin with its memory, `{"rssKb","peakKb"}` from
// /proc/self/status. `reset` first sets the peak back to the current RSS (Linux's clear_refs), so that a peak read
// after an upload is the upload's.
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { loadConfig } from '../../src/config.js';
import { createGateway } from '../../src/gateway/index.js';

const gateway = createGateway({ config: loadConfig(process.env) });
const url = await gateway.listen(0, '127.0.0.1');

function memory(): { rssKb: number; peakKb: number } {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return { rssKb: kb('VmRSS'), peakKb: kb('VmHWM') };
}

process.stdout.write(`${JSON.stringify({ url })}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'reset') writeFileSync('/proc/self/clear_refs', '5');
  if (line === 'close') {
    await gateway.close();
    process.exit(0);
  }
  process.stdout.write(`${JSON.stringify(memory())}\n`);
}
