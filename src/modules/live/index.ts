import type { GatewayModule } from '../costs.js';
import { Subscription, costs } from './resolvers.js';

/** Live updates: subscriptions (resolvers.ts, live.graphql) over one shared poll per job (job-watch.ts). */
export const liveModule: GatewayModule = { resolvers: { Subscription }, costs };
