import { mergeModules } from './costs.js';
import { deploymentModule } from './deployment/index.js';
import { federationModule } from './federation/index.js';
import { fineTuneJobModule } from './fine-tune-job/index.js';
import { liveModule } from './live/index.js';
import { scalarsModule } from './scalars/index.js';
import { trainingFileModule } from './training-file/index.js';

/**
 * Every domain: its SDL (`*.graphql` beside its code, loaded by src/schema.ts and codegen.ts), its resolvers and the
 * upstream cost of its fields. A new domain is one folder and one line here.
 */
export const { resolvers, costs: fieldCosts } = mergeModules([
  fineTuneJobModule,
  liveModule,
  scalarsModule,
  deploymentModule,
  trainingFileModule,
  federationModule,
]);
