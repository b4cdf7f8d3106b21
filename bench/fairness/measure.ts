import { setTimeout as pause } from 'node:timers/promises';
import type { Attack, AttackTarget } from './attacks.js';
import { pollDashboard, readOnce, type DashboardReport } from './dashboard.js';

export interface Measurement extends DashboardReport {
  attack: string;
  /** Misbehaving requests (or sockets) the attack made. */
  sent: number;
}

/**
 * One attack against a running target while the other tenant's dashboard polls: the attack starts, gets `warmUpMs` to
 * take hold, then the dashboard polls for `durationMs`; the attack stops once the dashboard is done.
 * `attack: undefined` measures the dashboard alone (the baseline).
 */
export async function measure(
  attack: Attack | undefined,
  target: AttackTarget,
  options: { victimKey: string; width: number; durationMs: number; warmUpMs?: number },
): Promise<Measurement> {
  const dashboardUrl = target.gateways[0]!;
  // The first read compiles and connects: not the attack's doing.
  await readOnce(dashboardUrl, options.victimKey);
  const stopAttack = new AbortController();
  const attacking = attack?.run(target, { width: options.width, signal: stopAttack.signal }) ?? Promise.resolve({ sent: 0 });
  let report: DashboardReport;
  try {
    await pause(options.warmUpMs ?? 1_000);
    report = await pollDashboard(dashboardUrl, options.victimKey, { signal: AbortSignal.timeout(options.durationMs) });
  } finally {
    stopAttack.abort();
  }
  const { sent } = await attacking;
  return { attack: attack?.name ?? 'none', sent, ...report };
}
