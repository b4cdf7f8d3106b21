// The deployment endpoints, `/api/v1/deployments[/{deployed_model}[/scale]]` (docs/upstream.md §6.13): one handler each.
import {
  deleteDeployment,
  deploymentStatus,
  deploymentView,
  newDeployment,
  scaleDeployment,
  type StoredDeployment,
} from '../deployments.js';
import { errorReply, intParam, invalid, isRecord, notFound, ok, parseJson, type Reply } from '../http.js';
import { jobStatus } from '../jobs.js';
import type { AccountState, ApiRequest, EmulatorState, Handler } from '../state.js';

/** The `:deployedModel` route's deployment of the caller's account, or NotFound (also once a delete completed). */
const withDeployment =
  (handler: (d: StoredDeployment, request: ApiRequest, state: EmulatorState, now: number) => Reply): Handler =>
  (request, state) => {
    const now = state.now();
    const deployment = live(request.account, request.params.deployedModel ?? '', now);
    return deployment ? handler(deployment, request, state, now) : notFound();
  };

/** The deployment, unless its delete has completed (then it is forgotten). */
function live(account: AccountState, id: string, now: number): StoredDeployment | undefined {
  const deployment = account.deployments.get(id);
  if (deployment && deploymentStatus(deployment, now) === 'GONE') {
    account.deployments.delete(id);
    return undefined;
  }
  return deployment;
}

/** The base model of a deployable model of the account: a SUCCEEDED job's output, or an exported checkpoint's name. */
function baseModelOf(account: AccountState, modelName: string, now: number): string | undefined {
  for (const job of account.jobs.values()) {
    if (job.kind !== 'modelled') continue;
    if (job.finetunedOutput === modelName && jobStatus(job, now) === 'SUCCEEDED') return job.baseModel;
    for (const exported of job.exports.values()) if (exported.displayName === modelName) return job.baseModel;
  }
  return undefined;
}

const isCapacity = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 1;

export const create: Handler = ({ account, body: raw }, state) => {
  const body = parseJson(raw);
  if (!isRecord(body)) return invalid('Request body must be a JSON object');
  const { model_name, capacity, plan, suffix } = body;
  if (typeof model_name !== 'string' || model_name === '') return invalid('Missing model_name');
  if (!isCapacity(capacity)) return invalid('Invalid parameter: capacity');
  if (plan != null && typeof plan !== 'string') return invalid('Invalid parameter: plan');
  if (suffix != null && typeof suffix !== 'string') return invalid('Invalid parameter: suffix');
  const now = state.now();
  const baseModel = baseModelOf(account, model_name, now);
  if (!baseModel) return invalid(`Model ${model_name} does not exist or is not ready to deploy`);
  const id = suffix ? `${model_name}-${suffix}` : model_name;
  if (live(account, id, now)) return errorReply(409, 'Conflict', `Model instance ${id} already exists, please specify a suffix`);
  const { workspaceId, userId } = account.account;
  const deployment = newDeployment(
    { id, modelName: model_name, baseModel, plan: plan ?? 'lora', capacity, workspaceId, creator: userId },
    now,
    state.phases,
  );
  account.deployments.set(id, deployment);
  return ok(deploymentView(deployment, now, state.clock, false));
};

export const list: Handler = ({ account, query }, state) => {
  const pageNo = intParam(query, 'page_no', 1);
  const pageSize = intParam(query, 'page_size', 10);
  if (!(pageNo >= 1)) return invalid('Invalid parameter: page_no');
  if (!(pageSize >= 1 && pageSize <= 100)) return invalid('Invalid parameter: page_size must be between 1 and 100');
  const now = state.now();
  // Newest first; made in the same millisecond, the one made later first.
  const all = [...account.deployments.keys()]
    .map((id, index) => ({ deployment: live(account, id, now), index }))
    .filter((e): e is { deployment: StoredDeployment; index: number } => e.deployment !== undefined)
    .sort((a, b) => b.deployment.createdAtMs - a.deployment.createdAtMs || b.index - a.index)
    .map((e) => e.deployment);
  const page = all.slice((pageNo - 1) * pageSize, pageNo * pageSize);
  return ok({ page_no: pageNo, page_size: pageSize, total: all.length, deployments: page.map((d) => deploymentView(d, now, state.clock)) });
};

export const get = withDeployment((d, _request, state, now) => ok(deploymentView(d, now, state.clock)));

export const scale = withDeployment((d, { account, body: raw }, state, now) => {
  const body = parseJson(raw);
  if (!isRecord(body) || !isCapacity(body.capacity)) return invalid('Invalid parameter: capacity');
  const status = deploymentStatus(d, now);
  if (status !== 'RUNNING') return errorReply(400, 'UnsupportedOperation', `The deployment can not be scaled while it is ${status}`);
  scaleDeployment(d, body.capacity, now, state.phases, account.account.userId);
  return ok(deploymentView(d, now, state.clock));
});

export const remove = withDeployment((d, { account }, state, now) => {
  deleteDeployment(d, now, state.phases, account.account.userId);
  return ok(deploymentView(d, now, state.clock));
});
