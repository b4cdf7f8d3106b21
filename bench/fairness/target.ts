import { startRedis, startReplicas, type RedisServer } from '../../test/support/redis.js';
import type { Attack, AttackTarget } from './attacks.js';

/** The attacking tenant's key: an account of its own in the emulator (the dashboard uses the demo account). */
export const ATTACKER_KEY = 'sk-fairness-attacker';

export interface RunningTarget extends AttackTarget {
  /** The dashboard's key: the emulator's demo account, whose seeded jobs include running ones (read upstream each time). */
  victimKey: string;
  close(): Promise<void>;
}

/**
 * Real processes for one attack: a standalone emulator with the two tenants' accounts, and the gateway (src/main.ts
 * by tsx) in forward mode with the attack's environment; with `replicas` > 1, that many sharing a throw-away Redis.
 */
export async function startTarget(attack: Attack | undefined, env: Record<string, string> = {}): Promise<RunningTarget> {
  const count = attack?.replicas ?? 1;
  const redis: RedisServer | undefined = count > 1 ? await startRedis() : undefined;
  try {
    const replicas = await startReplicas({
      count,
      emulatorArgs: ['--account', ATTACKER_KEY],
      env: { ...(redis && { REDIS_URL: redis.url }), ...env, ...attack?.env },
    });
    if (redis) for (const replica of replicas.replicas) await replica.child.logged(/Redis at .* ready/);
    return {
      gateways: replicas.replicas.map((r) => r.url),
      emulatorUrl: replicas.emulatorUrl,
      attackerKey: ATTACKER_KEY,
      victimKey: replicas.apiKey,
      close: async () => {
        await replicas.close();
        await redis?.stop();
      },
    };
  } catch (error) {
    await redis?.stop();
    throw error;
  }
}
