import type { GatewayModule } from '../costs.js';
import { Deployment, FineTuneJob, Mutation, Query, Subscription, costs } from './resolvers.js';

/** Deployments (docs/upstream.md §6.13): reads, writes, `deploymentUpdated` on the shared pollers, `FineTuneJob.deployments`. */
export const deploymentModule: GatewayModule = { resolvers: { Query, Mutation, Subscription, FineTuneJob, Deployment }, costs };
