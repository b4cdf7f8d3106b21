import type { GatewayContext, UpstreamRead } from '../../context.js';
import { GatewayError, badUserInput, toGatewayError, type GatewayErrorExtensions } from '../../errors/index.js';
import type {
  DeploymentResolvers,
  FineTuneJobResolvers,
  MutationResolvers,
  QueryResolvers,
  SubscriptionResolvers,
} from '../../generated/graphql.js';
import { credentialScope } from '../../upstream/credential-scope.js';
import {
  UpstreamError,
  type CreateDeploymentBody,
  type Credential,
  type DeploymentPageRecord,
  type DeploymentRecord,
} from '../../upstream/dashscope/index.js';
import { nullIfNotFound, requireId, requireRange } from '../arguments.js';
import { ONE_CALL, type FieldCosts } from '../costs.js';
import { byDeadline, createFailure, cutOffCause, mayExist, mayHaveCreated, type Created, type CutOff } from '../writes.js';
import type { Attempt } from '../fine-tune-job/idempotency.js';
import type { Watched, WatchEvent } from '../live/job-watch.js';
import { deploymentRecordShape } from '../live/record-shapes.js';
import { requireCapacity, toCreateDeploymentBody } from './input.js';

export const MAX_PAGE_SIZE = 100;
/** `FineTuneJob.deployments` looks through this many of the caller's deployments (one upstream call per operation). */
export const DEPLOYMENTS_SCANNED = 100;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,128}$/;

const deploymentOf: UpstreamRead<string, DeploymentRecord> = {
  name: 'deployment',
  read: ({ client }, credential, id, signal) => client.getDeployment(credential, id, signal),
};
interface PageKey {
  page: number;
  pageSize: number;
}
const deploymentPage: UpstreamRead<PageKey, DeploymentPageRecord> = {
  name: 'deploymentPage',
  read: ({ client }, credential, key, signal) => client.listDeployments(credential, key, signal),
  cacheKey: (key) => `${key.page}\u0000${key.pageSize}`,
};

/** The pollers' view of a deployment: never final (a RUNNING one may be scaled); gone after DELETING is its end. */
export const watchedDeployment: Watched<DeploymentRecord> = {
  name: 'deployment',
  read: (client, credential, id, signal) => client.getDeployment(credential, id, signal),
  isFinal: () => false,
  goneIsEnd: (last) => last?.status === 'DELETING',
  shape: deploymentRecordShape,
};

const DEPLOYMENT: Created = { noun: 'deployment', listHint: 'your deployments', flag: 'deploymentMayExist' };

const writeCutOff = (action: string, id: string) => (by: CutOff) =>
  new GatewayError(
    `${cutOffCause(by)} before DashScope answered the ${action} of deployment "${id}"; it may still take effect: read the deployment to see.`,
    { code: 'UPSTREAM_TIMEOUT', retryable: true },
  );

/**
 * A keyed create: the same key and input share one result. After an ambiguous failure the next attempt creates again
 * and relies on DashScope's own rule, one deployment per model and suffix: if the first attempt made it, DashScope
 * answers 409 "already exists", and the deployment of that model (and suffix) is the first attempt's. No clock is
 * compared: the gateway's and DashScope's need not agree.
 */
function keyedCreate(ctx: GatewayContext, credential: Credential, body: CreateDeploymentBody, key: string): Promise<DeploymentRecord> {
  const attempt = async ({ ambiguousSince }: Attempt): Promise<DeploymentRecord> => {
    try {
      return await ctx.client.createDeployment(credential, body);
    } catch (error) {
      const clash = error instanceof UpstreamError && error.failure.httpStatus === 409;
      if (ambiguousSince === undefined || !clash) throw error;
      return findClashing(ctx, credential, body);
    }
  };
  return ctx.deploymentIdempotency.run(credentialScope(credential), key, body, attempt, { mayHaveCreated });
}

/** The deployment a 409 after an ambiguous create clashed with: the one of that model (and suffix), or CONFLICT. */
async function findClashing(ctx: GatewayContext, credential: Credential, body: CreateDeploymentBody): Promise<DeploymentRecord> {
  const page = await ctx.client.listDeployments(credential, { page: 1, pageSize: DEPLOYMENTS_SCANNED }).catch((error: unknown) => {
    const converted = toGatewayError(error);
    if (!(converted instanceof GatewayError)) throw error;
    throw mayExist(DEPLOYMENT, converted.message, converted.extensions as unknown as GatewayErrorExtensions, true);
  });
  const candidates = page.deployments.filter(
    (d) =>
      d.modelName === body.model_name &&
      (body.plan === undefined || d.plan === body.plan) &&
      (body.suffix === undefined ? !page.deployments.some((o) => o !== d && o.modelName === d.modelName) : d.id.includes(body.suffix)),
  );
  if (candidates.length === 1) return candidates[0]!;
  throw new GatewayError(
    `A deployment of ${JSON.stringify(body.model_name)} already exists, and the gateway cannot tell whether the first attempt with this idempotency key made it; none was created. Check deployments.`,
    { code: 'CONFLICT', retryable: false, deploymentMayExist: true },
  );
}

export const Query: QueryResolvers = {
  deployment: async (_parent, { id }, ctx) => {
    requireId(id, 'deployment');
    // Unknown or deleted: the field's documented null, not an error.
    return nullIfNotFound(ctx.loader(deploymentOf).load(id));
  },

  deployments: async (_parent, { page, pageSize }, ctx) => {
    requireRange(page, 1, Number.MAX_SAFE_INTEGER, 'page');
    requireRange(pageSize, 1, MAX_PAGE_SIZE, 'pageSize');
    const result = await ctx.loader(deploymentPage).load({ page, pageSize });
    if (result.invalidDeployments > 0) {
      ctx.warn(
        `DashScope's list of deployments (page ${page}) held ${result.invalidDeployments} element(s) without deployed_model or status; left out`,
      );
    }
    for (const d of result.deployments) ctx.loader(deploymentOf).prime(d.id, d);
    return { items: result.deployments, page, pageSize, total: result.total, hasNextPage: page * pageSize < result.total };
  },
};

export const Mutation: MutationResolvers = {
  createDeployment: async (_parent, { input, idempotencyKey: key }, ctx) => {
    const body = toCreateDeploymentBody(input);
    if (key != null && !IDEMPOTENCY_KEY.test(key)) {
      throw badUserInput('idempotencyKey must be 1 to 128 printable ASCII characters without spaces.', 'idempotencyKey');
    }
    const credential = ctx.credential();
    const create = key == null ? ctx.client.createDeployment(credential, body) : keyedCreate(ctx, credential, body, key);
    const cutOff = (by: CutOff) =>
      mayExist(
        DEPLOYMENT,
        `${cutOffCause(by)} before DashScope answered the create.`,
        { code: 'UPSTREAM_TIMEOUT', retryable: true },
        key != null,
      );
    const deployment = await byDeadline(create, ctx.signal, cutOff).catch((error: unknown) => {
      throw createFailure(DEPLOYMENT, error, key != null);
    });
    ctx.loader(deploymentOf).clear(deployment.id);
    return deployment;
  },

  scaleDeployment: async (_parent, { id, capacity }, ctx) => {
    requireId(id, 'deployment');
    requireCapacity(capacity, 'capacity');
    const write = ctx.client.scaleDeployment(ctx.credential(), id, capacity).catch((error: unknown) => {
      throw toGatewayError(error);
    });
    const answered = await byDeadline(write, ctx.signal, writeCutOff('scale', id));
    ctx.loader(deploymentOf).clear(id);
    // An answer without the deployment: read it (the second call the cost declares).
    return answered ?? ctx.loader(deploymentOf).load(id);
  },

  deleteDeployment: async (_parent, { id }, ctx) => {
    requireId(id, 'deployment');
    const write = ctx.client.deleteDeployment(ctx.credential(), id).catch((error: unknown) => {
      throw toGatewayError(error);
    });
    const answered = await byDeadline(write, ctx.signal, writeCutOff('delete', id));
    ctx.loader(deploymentOf).clear(id);
    // An answer with only a status: the deployment as the delete leaves it.
    return (
      answered ?? {
        id,
        status: 'DELETING',
        upstreamStatus: 'DELETING',
        modelName: null,
        baseModel: null,
        capacity: null,
        readyCapacity: null,
        plan: null,
        chargeType: null,
        createdAt: null,
        updatedAt: null,
      }
    );
  },
};

/** An entity reference from a federated gateway (`_entities`): read like `deployment(id)`, null when unknown. */
export const Deployment: DeploymentResolvers = {
  __resolveReference: async ({ id }, ctx) => {
    requireId(id, 'deployment', 'representations');
    return nullIfNotFound(ctx.loader(deploymentOf).load(id));
  },
};

export const Subscription: SubscriptionResolvers = {
  deploymentUpdated: {
    subscribe: (_parent, { id }, ctx) => {
      requireId(id, 'deployment');
      return ctx.live.watch(watchedDeployment, ctx.credential(), id);
    },
    resolve: (event: WatchEvent<DeploymentRecord>) => {
      if ('error' in event) throw event.error;
      return event.value;
    },
  },
};

export const FineTuneJob: FineTuneJobResolvers = {
  deployments: async (job, _args, ctx) => {
    // DashScope may name the output model from PENDING on (§6.14); it exists to deploy only once the job succeeded.
    if (!job.fineTunedModel || job.status !== 'SUCCEEDED') return [];
    // One page shared by every job of the operation (the loader de-duplicates it).
    const page = await ctx.loader(deploymentPage).load({ page: 1, pageSize: DEPLOYMENTS_SCANNED });
    return page.deployments.filter((d) => d.modelName === job.fineTunedModel);
  },
};

/** What each field costs upstream, at most. A page resolves its items `pageSize` times, from the primed loader. */
export const costs: FieldCosts = {
  Query: {
    deployment: ONE_CALL,
    deployments: { calls: () => 1, times: (a) => (typeof a.pageSize === 'number' ? Math.max(0, a.pageSize) : 1) },
  },
  Mutation: {
    // After an ambiguous failure, a keyed retry that DashScope answers 409 lists deployments.
    createDeployment: { calls: (a) => (a.idempotencyKey == null ? 1 : 2), times: () => 1 },
    scaleDeployment: { calls: () => 2, times: () => 1 },
    deleteDeployment: ONE_CALL,
  },
  Subscription: { deploymentUpdated: ONE_CALL },
  FineTuneJob: { deployments: ONE_CALL },
};
