import type { GatewayModule } from '../costs.js';
import { FineTuneJob, Mutation, Query, TrainingFile, costs } from './resolvers.js';
import { FileScalar } from './upload.js';

/**
 * Training files (docs/upstream.md §6.12): `uploadTrainingFile` (streamed, the `File` scalar), `trainingFiles`,
 * `trainingFile`, `deleteTrainingFile`, `FineTuneJob.trainingFiles`; `TrainingFile` is a federation entity.
 */
export const trainingFileModule: GatewayModule = { resolvers: { Query, Mutation, FineTuneJob, TrainingFile, File: FileScalar }, costs };
