import { badUserInput, fromUpstreamError } from '../../errors.js';
import type { MutationResolvers } from '../../generated/graphql.js';
import { credentialScope } from '../../upstream/credential-scope.js';
import { UpstreamError, toCreateJobBody } from '../../upstream/dashscope/index.js';
import { parseCreateInput } from './create-input.js';
import { checkJobId } from './resolvers.js';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,128}$/;

function requireJobId(id: string): void {
  const invalid = checkJobId(id);
  if (invalid) throw invalid;
}

/** An upstream failure in its GraphQL form (an expected outcome, not a gateway error to log). */
async function upstream<T>(write: Promise<T>): Promise<T> {
  try {
    return await write;
  } catch (error) {
    throw error instanceof UpstreamError ? fromUpstreamError(error) : error;
  }
}

/* Writes go to the client directly: never retried, never cached. None is tied to the request's signal: a write
   that reached DashScope finishes (and a create is remembered for its idempotency key) even if the caller left. */
export const Mutation: MutationResolvers = {
  createFineTuneJob: async (_parent, { input, idempotencyKey }, ctx) => {
    const body = toCreateJobBody(parseCreateInput(input));
    if (idempotencyKey != null && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
      throw badUserInput('idempotencyKey must be 1 to 128 printable ASCII characters without spaces.', 'idempotencyKey');
    }
    const credential = ctx.credential();
    const create = () => ctx.client.createJob(credential, body);
    const job = await upstream(
      idempotencyKey == null ? create() : ctx.idempotency.run(credentialScope(credential), idempotencyKey, body, create),
    );
    ctx.invalidateJob(job.id);
    return job;
  },

  cancelFineTuneJob: async (_parent, { id }, ctx) => {
    requireJobId(id);
    try {
      await upstream(ctx.client.cancelJob(ctx.credential(), id));
    } finally {
      // Even a refused cancel says the job moved on: no copy read before may be served.
      ctx.invalidateJob(id);
    }
    return ctx.loaders.job.load(id);
  },

  deleteFineTuneJob: async (_parent, { id }, ctx) => {
    requireJobId(id);
    try {
      await upstream(ctx.client.deleteJob(ctx.credential(), id));
    } finally {
      ctx.invalidateJob(id);
    }
    return { id, deleted: true };
  },
};
