import type { Attack } from '../../bench/fairness/attacks.js';
import { ATTACKER_KEY, startTarget, type RunningTarget } from '../../bench/fairness/target.js';
import { DEMO_ACCOUNT } from '../../src/emulator/index.js';
import { startStack } from './stack.js';

/**
 * The target of one attack for the test suite: the emulator and the gateway in this process (startStack: real HTTP on
 * loopback, no process to start, so the suite stays light), forward mode with the attack's environment; an attack on
 * replicas gets the real processes and Redis of bench/fairness/target.ts.
 */
export async function startFairnessTarget(attack: Attack): Promise<RunningTarget> {
  if ((attack.replicas ?? 1) > 1) return startTarget(attack);
  const attacker = { apiKey: ATTACKER_KEY, workspaceId: 'llm-attacker01', userId: '2000000000000099' };
  const stack = await startStack({ env: { AUTH_MODE: 'forward', ...attack.env }, emulator: { accounts: [DEMO_ACCOUNT, attacker] } });
  return {
    gateways: [stack.url],
    emulatorUrl: stack.emulator.url,
    attackerKey: ATTACKER_KEY,
    victimKey: DEMO_ACCOUNT.apiKey,
    close: () => stack.close(),
  };
}
