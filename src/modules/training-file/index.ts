import type { GatewayModule } from '../costs.js';
import { FineTuneJob, Mutation, Query, TrainingFile, costs } from './resolvers.js';

/** Training files (docs/upstream.md §6.12), read and delete: `trainingFiles`, `trainingFile`, `deleteTrainingFile`, `FineTuneJob.trainingFiles`. */
export const trainingFileModule: GatewayModule = { resolvers: { Query, Mutation, FineTuneJob, TrainingFile }, costs };
