import type { Credential } from '../../upstream/dashscope/index.js';
import type { Watched } from './job-watch.js';

/*
 * Who polls a watched resource. One process: its poller, always (`inProcessPolling`). Several replicas sharing Redis:
 * the one holding the resource's lease, while the others receive its values (`RedisPollCoordination`). The pollers
 * (src/modules/live/job-watch.ts) are the same either way; only their turn differs.
 */

/** How a poller coordinates with the other replicas. */
export interface PollCoordination {
  /** A poller starts: `receive` gets each value another replica read (already validated), newest last. */
  join<T>(kind: Watched<T>, credential: Credential, id: string, receive: (value: T) => void): PollTurn<T>;
  /** The gateway closes (after its pollers stopped). */
  close?(): void;
}

/** One poller's turn. */
export interface PollTurn<T> {
  /** Before each poll: whether this process reads upstream now. Never rejects (a failure means "poll here"). */
  shouldPoll(): Promise<boolean>;
  /**
   * Each value this process read on its turn, for the other replicas' subscribers: passed on when it changed, or when
   * this process just took the turn over (the others may not have it). Fire and forget.
   */
  share(value: T): void;
  /** The poller stopped or reached its end: lets another replica poll at once. Idempotent. */
  leave(): void;
}

const alone: PollTurn<never> = { shouldPoll: () => Promise.resolve(true), share: () => undefined, leave: () => undefined };

/** Without Redis: every poller polls for its own subscribers, as one process always did. */
export const inProcessPolling: PollCoordination = { join: () => alone };
