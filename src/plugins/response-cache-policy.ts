import { Kind, OperationTypeNode, TypeInfo, visit, visitWithTypeInfo, type DocumentNode, type GraphQLSchema } from 'graphql';

/**
 * The schema coordinates whose value never changes once the job they belong to is terminal (SUCCEEDED, FAILED,
 * CANCELED): the only fields an answer kept by the response cache may hold. Everything else is left out on purpose:
 * - `Query.fineTuneJobs`, `deployments`, `deployment`, `trainingFiles`, `trainingFile`: lists and objects that change
 *   (a job is created or deleted, a deployment scales, a file is deleted) whatever the jobs' state;
 * - `FineTuneJob.checkpoints` (an export moves a checkpoint's status; checkpoints expire), `logs` (not bound to the
 *   job's state by contract), `validationResults` (signed URLs valid for 24 hours), `deployments` and `trainingFiles`
 *   (other resources, with lives of their own);
 * - every `Deployment`, `TrainingFile`, `CheckpointSummary` field, and introspection.
 * `durationSeconds` and `costEstimate` are derived from `createdAt`/`endedAt` and `usageTokens`: for a job still
 * going they grow with the clock, but an answer with such a job is never kept (the plugin checks every job it
 * completes), and for a terminal job they are fixed. `outputCount` counts checkpoints produced, not still kept.
 * test/unit/response-cache-policy.test.ts fails when a field is added to `FineTuneJob` without a decision here.
 */
export const CACHEABLE_COORDINATES: ReadonlySet<string> = new Set([
  'Query.fineTuneJob',
  'Query.fineTuneJobsByIds',
  ...[
    'id',
    'name',
    'status',
    'upstreamStatus',
    'fineTunedModel',
    'model',
    'baseModel',
    'trainingType',
    'trainingFileIds',
    'validationFileIds',
    'hyperParameters',
    'trainingDatasets',
    'validationDatasets',
    'createdAt',
    'endedAt',
    'workspaceId',
    'userIdentity',
    'creator',
    'modifier',
    'group',
    'usageTokens',
    'outputCount',
    'maxOutputCount',
    'failure',
    'isTerminal',
    'durationSeconds',
    'costEstimate',
  ].map((field) => `FineTuneJob.${field}`),
  ...[
    'nEpochs',
    'batchSize',
    'maxLength',
    'learningRate',
    'lrSchedulerType',
    'split',
    'warmupRatio',
    'weightDecay',
    'evalSteps',
    'loraRank',
    'loraAlpha',
    'loraDropout',
    'saveStrategy',
    'saveSteps',
    'saveTotalLimit',
    'raw',
  ].map((field) => `HyperParameters.${field}`),
  ...['sourceType', 'fileId', 'ossMount'].map((field) => `Dataset.${field}`),
  ...['region', 'bucket', 'filePath'].map((field) => `OssMount.${field}`),
  'JobFailure.code',
  'JobFailure.message',
  ...['amount', 'currency', 'unitPricePer1kTokens', 'billedTokens', 'pricedModel', 'isFinal'].map((field) => `CostEstimate.${field}`),
]);

/** The type whose every object in an answer must be terminal for the answer to be kept. */
export const JOB_TYPE = 'FineTuneJob';

const verdicts = new WeakMap<DocumentNode, Map<string, boolean>>();

/**
 * Whether the operation may be answered from the response cache: a query whose every selected field, through
 * fragments, inline fragments and aliases (an alias renames, it does not change the coordinate), is in `allowed`.
 * `__typename` is allowed anywhere. Decided once per parsed document and operation name (yoga's parser cache hands the
 * same `DocumentNode` back for the same text).
 */
export function isCacheableOperation(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  allowed: ReadonlySet<string> = CACHEABLE_COORDINATES,
): boolean {
  let perOperation = verdicts.get(document);
  if (!perOperation) {
    perOperation = new Map();
    verdicts.set(document, perOperation);
  }
  const memoKey = operationName ?? '';
  let verdict = perOperation.get(memoKey);
  if (verdict === undefined) {
    verdict = decide(schema, document, operationName, allowed);
    perOperation.set(memoKey, verdict);
  }
  return verdict;
}

function decide(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  allowed: ReadonlySet<string>,
): boolean {
  const operations = document.definitions.filter((definition) => definition.kind === Kind.OPERATION_DEFINITION);
  const operation = operationName ? operations.find((candidate) => candidate.name?.value === operationName) : operations[0];
  if (!operation || (!operationName && operations.length > 1) || operation.operation !== OperationTypeNode.QUERY) return false;
  // The operation and every fragment of the document (validation has refused unused ones): whichever the operation
  // spreads is judged, and judging one it does not spread can only say no.
  const parts = [operation, ...document.definitions.filter((definition) => definition.kind === Kind.FRAGMENT_DEFINITION)];
  const typeInfo = new TypeInfo(schema);
  let cacheable = true;
  for (const part of parts) {
    visit(
      part,
      visitWithTypeInfo(typeInfo, {
        Field(field) {
          // The cache finds which jobs an answer holds by their `__typename` and `id` in it (what invalidation is keyed
          // by), and strips its own copies of them only where `__typename` is there: a directive that can leave either
          // out (`id @skip(if: true)`) would keep an answer no delete finds, and let `__responseCacheId` out.
          if ((field.name.value === '__typename' || field.name.value === 'id') && field.directives?.length) {
            cacheable = false;
            return false;
          }
          if (field.name.value === '__typename') return;
          const parent = typeInfo.getParentType();
          if (!parent || !allowed.has(`${parent.name}.${field.name.value}`)) {
            cacheable = false;
            return false;
          }
          return undefined;
        },
      }),
    );
    if (!cacheable) return false;
  }
  return true;
}
