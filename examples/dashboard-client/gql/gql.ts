/* eslint-disable */
import * as types from './graphql.js';



/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  query JobsPage($page: Int!, $pageSize: Int!) {\n    fineTuneJobs(page: $page, pageSize: $pageSize) {\n      total\n      hasNextPage\n      items {\n        id\n        status\n        model\n        createdAt\n      }\n    }\n  }\n": typeof types.JobsPageDocument,
    "\n  query JobWithCheckpoints($id: ID!) {\n    fineTuneJob(id: $id) {\n      id\n      status\n      durationSeconds\n      costEstimate {\n        amount\n        currency\n      }\n      checkpoints {\n        id\n        step\n        status\n      }\n    }\n  }\n": typeof types.JobWithCheckpointsDocument,
    "\n  mutation CreateJob($input: CreateFineTuneJobInput!, $idempotencyKey: String) {\n    createFineTuneJob(input: $input, idempotencyKey: $idempotencyKey) {\n      id\n      status\n    }\n  }\n": typeof types.CreateJobDocument,
    "\n  subscription WatchJob($id: ID!) {\n    fineTuneJobUpdated(id: $id) {\n      id\n      status\n      isTerminal\n    }\n  }\n": typeof types.WatchJobDocument,
};
const documents: Documents = {
    "\n  query JobsPage($page: Int!, $pageSize: Int!) {\n    fineTuneJobs(page: $page, pageSize: $pageSize) {\n      total\n      hasNextPage\n      items {\n        id\n        status\n        model\n        createdAt\n      }\n    }\n  }\n": types.JobsPageDocument,
    "\n  query JobWithCheckpoints($id: ID!) {\n    fineTuneJob(id: $id) {\n      id\n      status\n      durationSeconds\n      costEstimate {\n        amount\n        currency\n      }\n      checkpoints {\n        id\n        step\n        status\n      }\n    }\n  }\n": types.JobWithCheckpointsDocument,
    "\n  mutation CreateJob($input: CreateFineTuneJobInput!, $idempotencyKey: String) {\n    createFineTuneJob(input: $input, idempotencyKey: $idempotencyKey) {\n      id\n      status\n    }\n  }\n": types.CreateJobDocument,
    "\n  subscription WatchJob($id: ID!) {\n    fineTuneJobUpdated(id: $id) {\n      id\n      status\n      isTerminal\n    }\n  }\n": types.WatchJobDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query JobsPage($page: Int!, $pageSize: Int!) {\n    fineTuneJobs(page: $page, pageSize: $pageSize) {\n      total\n      hasNextPage\n      items {\n        id\n        status\n        model\n        createdAt\n      }\n    }\n  }\n"): typeof import('./graphql.js').JobsPageDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query JobWithCheckpoints($id: ID!) {\n    fineTuneJob(id: $id) {\n      id\n      status\n      durationSeconds\n      costEstimate {\n        amount\n        currency\n      }\n      checkpoints {\n        id\n        step\n        status\n      }\n    }\n  }\n"): typeof import('./graphql.js').JobWithCheckpointsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateJob($input: CreateFineTuneJobInput!, $idempotencyKey: String) {\n    createFineTuneJob(input: $input, idempotencyKey: $idempotencyKey) {\n      id\n      status\n    }\n  }\n"): typeof import('./graphql.js').CreateJobDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription WatchJob($id: ID!) {\n    fineTuneJobUpdated(id: $id) {\n      id\n      status\n      isTerminal\n    }\n  }\n"): typeof import('./graphql.js').WatchJobDocument;


export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}
