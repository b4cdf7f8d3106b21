import type { GatewayContext } from '../../context.js';
import { badUserInput } from '../../errors/index.js';
import type { SubscriptionResolvers } from '../../generated/graphql.js';
import { requireJobId } from '../arguments.js';
import { ONE_CALL, type FieldCosts } from '../costs.js';
import type { JobEvent, LogEvent } from './job-watch.js';

/* Each event is either a value or the error that ends the stream: thrown here, it reaches the client as a GraphQL
   error with its code, and the stream then completes. */
export const Subscription: SubscriptionResolvers = {
  fineTuneJobUpdated: {
    subscribe: (_parent, { id }, ctx) => {
      requireJobId(id);
      return ctx.live.watchJob(ctx.credential(), id);
    },
    resolve: (event: JobEvent, _args: unknown, ctx: GatewayContext) => {
      if ('error' in event) throw event.error;
      // The subscription's context lives as long as the stream: nested fields (checkpoints, logs) must read afresh, and
      // so must the subscriber's next query. Only its own copies: other credentials' kept copies are of a finished job
      // (true for ever) or of a running one within CACHE_NONTERMINAL_TTL_MS (allowed to be that old), so a stream
      // (one subscribe after another) is no way to empty everyone's caches.
      void ctx.invalidateJob(event.value.id, false);
      return event.value;
    },
  },

  fineTuneJobLogLines: {
    subscribe: (_parent, { id, fromLine }, ctx) => {
      requireJobId(id);
      if (fromLine < 0) throw badUserInput(`fromLine must be at least 0, got ${fromLine}.`, 'fromLine');
      return ctx.live.watchLogs(ctx.credential(), id, fromLine);
    },
    resolve: (event: LogEvent) => {
      if ('error' in event) throw event.error;
      return event.line;
    },
  },
};

/** What starting each stream costs upstream. */
export const costs: FieldCosts = {
  Subscription: {
    fineTuneJobUpdated: ONE_CALL,
    fineTuneJobLogLines: ONE_CALL,
  },
};
