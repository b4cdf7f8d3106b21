import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { createRedisClient, describeRedisError, execAll, type SharedRedis } from '../../shared-state/redis.js';
import { credentialScope } from '../../upstream/credential-scope.js';
import type { Credential } from '../../upstream/dashscope/index.js';
import type { Watched } from './job-watch.js';
import { inProcessPolling, type PollCoordination, type PollTurn } from './poll-coordination.js';

/*
 * One poller per (resource, credential) across every replica sharing a Redis:
 * - a lease `live:<kind>:<credential hash>:<id>:lease` (SET NX PX), taken by whichever replica asks first and renewed
 *   by it before each poll; released when it stops; a replica that dies loses it when it expires, and the next
 *   replica to ask (each asks once per poll interval) polls from then on;
 * - the holder publishes each changed value on the channel `<prefix>live:<kind>:<credential hash>:<id>` and keeps it
 *   under `…:last`, which a replica reads when it joins and before each poll it does not make (so a message lost
 *   during a reconnection is caught up within an interval). Messages are untrusted: checked against the kind's shape
 *   (the id included), dropped with a warning otherwise. The credential is hashed, never in a key or channel name, and
 *   tenants have different channels;
 * - Redis unavailable (down, slow past REDIS_COMMAND_TIMEOUT_MS): each replica polls for its own subscribers, as
 *   without Redis, with one warning per transition; when Redis answers again, leases resume.
 */

export interface RedisCoordinationOptions {
  redis: SharedRedis;
  leaseMs: number;
  log: { warn(message: string): void; info(message: string): void };
  /** Each time Redis stops answering and this replica starts polling for its own subscribers (for a counter). */
  onFallBack?: () => void;
}

/** Takes or renews the lease; when another replica holds it, answers its last shared value instead. */
const TAKE_TURN = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] or not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, false}
end
return {0, redis.call('GET', KEYS[2])}`;

/** Deletes the lease only if this replica still holds it (it may have expired and been taken by another). */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

const envelope = z.strictObject({ origin: z.string().max(100), at: z.number().int().nonnegative(), value: z.unknown() });

export class RedisPollCoordination implements PollCoordination {
  /** This process, in lease values and messages (its own messages come back on its subscriptions). */
  private readonly origin = randomUUID();
  private readonly subscriber: Redis;
  private readonly handlers = new Map<string, Set<(message: string) => void>>();
  private readonly subscribing = new Map<string, Promise<void>>();
  private readonly subscribed = new Set<string>();
  private fallingBack = false;

  constructor(private readonly options: RedisCoordinationOptions) {
    // Subscribed connections can send nothing else: a dedicated one, with the same bounded settings.
    this.subscriber = createRedisClient(options.redis.config, { lazyConnect: true });
    this.subscriber.on('error', () => undefined); // state changes are logged from the shared connection and the turns
    this.subscriber.on('message', (channel: string, message: string) => {
      for (const handler of this.handlers.get(channel) ?? []) handler(message);
    });
    // The id is what this replica writes in the leases it holds (`GET <prefix>live:…:lease` names the poller).
    this.subscriber.once('ready', () => options.log.info(`Live subscriptions shared through Redis as poller ${this.origin}`));
    this.subscriber.connect().catch(() => undefined);
  }

  join<T>(kind: Watched<T>, credential: Credential, id: string, receive: (value: T) => void): PollTurn<T> {
    if (!kind.shape) return inProcessPolling.join(kind, credential, id, receive);
    const shape = envelope.extend({ value: kind.shape(id) });
    const base = `live:${kind.name}:${credentialScope(credential)}:${id}`;
    const lease = `${base}:lease`;
    const last = `${base}:last`;
    const channel = `${this.options.redis.config.keyPrefix}${base}`;
    const { redis, leaseMs } = this.options;
    let newest = -1;
    let left = false;
    let holding = false;
    /** The value last published while holding, as JSON: an unchanged one is not published again. */
    let shared: string | undefined;

    /** A malformed `…:last` is read at every poll until it expires: logged once. */
    let badSnapshot: string | undefined;
    const accept = (message: string, source: 'pub/sub' | 'snapshot') => {
      const problem = (reason: string) => {
        if (source === 'snapshot' && message === badSnapshot) return;
        if (source === 'snapshot') badSnapshot = message;
        // The logger escapes control characters; the reason may quote the message (a key name): kept short.
        this.options.log.warn(`Live ${kind.name} ${id}: dropped a malformed update from Redis ${source} (${reason.slice(0, 200)})`);
      };
      let json: unknown;
      try {
        json = JSON.parse(message);
      } catch {
        return problem('not JSON');
      }
      const result = shape.safeParse(json);
      if (!result.success) {
        const issue = result.error.issues[0];
        return problem(`${issue?.path.join('.') || 'message'}: ${issue?.message ?? 'invalid'}`);
      }
      const parsed = result.data;
      // Older than what was delivered (a snapshot read while a newer message arrived): nothing to deliver.
      if (parsed.origin === this.origin || parsed.at < newest) return;
      newest = parsed.at;
      receive(parsed.value);
    };
    const handler = (message: string) => accept(message, 'pub/sub');

    return {
      shouldPoll: async () => {
        if (left) return false;
        try {
          await this.subscribe(channel, handler);
          const [mine, snapshot] = await redis.run(
            'live lease',
            (client) => client.eval(TAKE_TURN, 2, lease, last, this.origin, leaseMs) as Promise<[number, string | null]>,
          );
          this.recovered();
          // Just took over (first poll, a dead holder's lease, Redis back): share even an unchanged value.
          if (mine === 1 && !holding) shared = undefined;
          holding = mine === 1;
          if (!holding && snapshot) accept(snapshot, 'snapshot');
          return holding;
        } catch (error) {
          this.fallBack(error);
          holding = false;
          return true;
        }
      },
      share: (value) => {
        const body = JSON.stringify(value);
        if (body === shared) return;
        // Read here (holding, or polling here while Redis was unavailable): an older shared value is not delivered.
        const at = Date.now();
        newest = Math.max(newest, at);
        if (left || !holding) return;
        shared = body;
        const message = JSON.stringify({ origin: this.origin, at, value });
        redis
          .run('live publish', (client) =>
            execAll(
              client
                .multi()
                .set(last, message, 'PX', leaseMs * 10)
                .publish(channel, message),
            ),
          )
          .catch((error: unknown) => {
            shared = undefined;
            this.fallBack(error);
          });
      },
      leave: () => {
        if (left) return;
        left = true;
        this.unsubscribe(channel, handler);
        if (holding) redis.run('live release', (client) => client.eval(RELEASE, 1, lease, this.origin)).catch(() => undefined);
      },
    };
  }

  close(): void {
    this.handlers.clear();
    this.subscribed.clear();
    this.subscriber.disconnect();
  }

  private async subscribe(channel: string, handler: (message: string) => void): Promise<void> {
    // Without a live subscription, values from the holder would not arrive: poll here instead (the caller falls back).
    if (this.subscriber.status !== 'ready') throw new Error(`the subscriber connection is ${this.subscriber.status}`);
    const handlers = this.handlers.get(channel) ?? new Set();
    this.handlers.set(channel, handlers);
    handlers.add(handler);
    // ioredis subscribes again by itself after a reconnection.
    if (this.subscribed.has(channel)) return;
    let pending = this.subscribing.get(channel);
    if (!pending) {
      pending = this.subscriber
        .subscribe(channel)
        .then(() => {
          if (this.handlers.has(channel)) this.subscribed.add(channel);
        })
        .finally(() => this.subscribing.delete(channel));
      this.subscribing.set(channel, pending);
    }
    await pending;
  }

  private unsubscribe(channel: string, handler: (message: string) => void): void {
    const handlers = this.handlers.get(channel);
    if (!handlers?.delete(handler) || handlers.size > 0) return;
    this.handlers.delete(channel);
    this.subscribed.delete(channel);
    this.subscriber.unsubscribe(channel).catch(() => undefined);
  }

  /** True while Redis cannot coordinate and this replica polls for its own subscribers (for a gauge). */
  get pollingLocally(): boolean {
    return this.fallingBack;
  }

  private fallBack(error: unknown): void {
    if (this.fallingBack) return;
    this.fallingBack = true;
    this.options.onFallBack?.();
    this.options.log.warn(
      `Live subscriptions: Redis unavailable (${describeRedisError(error)}); each replica polls for its own subscribers until it returns`,
    );
  }

  private recovered(): void {
    if (!this.fallingBack) return;
    this.fallingBack = false;
    this.options.log.info('Live subscriptions: Redis available again; one replica polls each watched resource (leases)');
  }
}
