import type { GatewayModule } from '../costs.js';
import { DateTime, JSONScalar, SafeInt } from './resolvers.js';

/** The custom scalars; their SDL is in schema/scalars.graphql, shared by every domain. */
export const scalarsModule: GatewayModule = { resolvers: { DateTime, SafeInt, JSON: JSONScalar }, costs: {} };
