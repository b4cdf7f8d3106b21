import { parseArgs } from 'node:util';
import { ATTACKS } from './fairness/attacks.js';
import { measure, type Measurement } from './fairness/measure.js';
import { startTarget } from './fairness/target.js';

/*
 * npm run fairness [-- --duration 10 --attack 'stalled uploads' --scale 1]
 * One tenant misbehaves (each attack of bench/fairness/attacks.ts in turn, or the one named) while another tenant's
 * dashboard polls its jobs; the emulator and the gateway (forward mode, from source) run as processes of their own on
 * 127.0.0.1, fresh for each attack. Prints the dashboard's p50, p99, max and errors under each attack, beside a
 * baseline without one. The fairness rule (docs/operations.md#fairness-between-tenants) is errors 0 and max under 2 s.
 * Not a test: test/integration/fairness.test.ts holds the same at a small scale.
 */

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    attack: { type: 'string', multiple: true, default: [] },
    scale: { type: 'string', default: '1' },
  },
});
const durationS = Number(values.duration);
const scale = Number(values.scale);
const unknown = values.attack.filter((name) => !ATTACKS.some((a) => a.name === name));
if (!(durationS > 0 && durationS <= 600 && scale > 0 && scale <= 10) || unknown.length > 0) {
  console.error(
    `usage: fairness [--duration S (1..600)] [--scale 0..10] [--attack NAME]…; attacks: ${ATTACKS.map((a) => a.name).join(', ')}`,
  );
  process.exit(1);
}
const chosen = values.attack.length ? ATTACKS.filter((a) => values.attack.includes(a.name)) : ATTACKS;

async function main(): Promise<void> {
  console.log(`fairness: each attack for ${durationS} s while another tenant's dashboard polls (2 readers, 50 ms apart)`);
  const rows: Array<Measurement & { width: number }> = [];
  for (const attack of [undefined, ...chosen]) {
    const target = await startTarget(attack);
    try {
      const width = attack ? Math.max(1, Math.round(attack.width.bench * scale)) : 0;
      const result = await measure(attack, target, { victimKey: target.victimKey, width, durationMs: durationS * 1000 });
      rows.push({ ...result, width });
      print(rows.at(-1)!);
    } finally {
      await target.close();
    }
  }
  const unfair = rows.filter((r) => r.errors > 0 || r.maxMs >= 2_000);
  console.log(
    unfair.length ? `over the bound (errors or a read ≥ 2 s): ${unfair.map((r) => r.attack).join(', ')}` : 'every attack within the bound',
  );
}

function print(r: Measurement & { width: number }): void {
  const codes = Object.entries(r.codes)
    .map(([code, n]) => `${code} ${n}`)
    .join(', ');
  console.log(
    `${r.attack.padEnd(22)} width ${String(r.width).padStart(3)}, sent ${String(r.sent).padStart(6)} | dashboard: ${String(r.reads).padStart(5)} reads, ` +
      `p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms, max ${r.maxMs.toFixed(1)} ms, errors ${r.errors}${codes ? ` (${codes})` : ''}`,
  );
}

main()
  .then(() => process.exit(0))
  .catch((error: unknown) => {
    console.error('fairness failed:', error instanceof Error ? error.message : error);
    process.exit(1);
  });
