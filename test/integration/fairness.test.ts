import { describe, expect, it } from 'vitest';
import { ATTACKS } from '../../bench/fairness/attacks.js';
import { measure } from '../../bench/fairness/measure.js';
import { startFairnessTarget } from '../support/fairness-target.js';

/*
 * The fairness rule (docs/operations.md#fairness-between-tenants) at a small scale: under each attack of
 * bench/fairness/attacks.ts, another tenant's dashboard reads answer without errors and within 2 s (`npm run fairness`
 * runs the same with real processes at a larger scale and prints the figures). A fresh emulator and gateway per attack,
 * over loopback HTTP (test/support/fairness-target.ts).
 */

/** The bound on another tenant's read under attack. */
const BOUND_MS = 2_000;

describe('one tenant cannot hurt another (forward mode)', () => {
  it.each(ATTACKS.map((attack) => [attack.name, attack] as const))(
    'under %s, the other tenant reads without errors, each read within 2 s',
    async (_name, attack) => {
      const target = await startFairnessTarget(attack);
      try {
        const result = await measure(attack, target, { victimKey: target.victimKey, width: attack.width.test, durationMs: 3_000 });
        expect(result.reads, JSON.stringify(result)).toBeGreaterThan(0);
        expect(result.sent, 'the attack made requests').toBeGreaterThan(0);
        expect({ errors: result.errors, codes: result.codes }, JSON.stringify(result)).toEqual({ errors: 0, codes: {} });
        expect(result.maxMs, JSON.stringify(result)).toBeLessThan(BOUND_MS);
      } finally {
        await target.close();
      }
    },
    90_000,
  );
});
