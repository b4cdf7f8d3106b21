import type { GatewayModule } from '../costs.js';
import { ValidationResult, validationResultCosts } from './checkpoints.js';
import { Mutation, costs as mutationCosts } from './mutations.js';
import { FineTuneJob, Query, costs as readCosts } from './resolvers.js';

/** Fine-tune jobs: reads (resolvers.ts, fine-tune-job.graphql; checkpoints.ts, checkpoint.graphql, validation.graphql) and writes (mutations.ts, mutations.graphql). */
export const fineTuneJobModule: GatewayModule = {
  resolvers: { Query, FineTuneJob, Mutation, ValidationResult },
  costs: { ...readCosts, ...mutationCosts, ValidationResult: validationResultCosts },
};
