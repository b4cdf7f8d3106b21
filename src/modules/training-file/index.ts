import type { GatewayModule } from '../costs.js';
import { FineTuneJob, Mutation, Query, costs } from './resolvers.js';
import { FileScalar } from './upload.js';

/**
 * Training files (docs/upstream.md §6.12): `uploadTrainingFile` (streamed, the `File` scalar), `trainingFiles`,
 * `trainingFile`, `deleteTrainingFile`, `FineTuneJob.trainingFiles`.
 */
export const trainingFileModule: GatewayModule = { resolvers: { Query, Mutation, FineTuneJob, File: FileScalar }, costs };
