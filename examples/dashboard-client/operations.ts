import { graphql } from './gql/index.js';

/*
 * The dashboard's operations. `npm run codegen` reads this file and writes ./gql/: a typed document for each
 * operation (result and variables types included) and persisted-documents.json, the manifest of trusted documents
 * a gateway started with PERSISTED_DOCUMENTS=<that file> serves by id (docs/frontend.md).
 */

export const JobsPage = graphql(`
  query JobsPage($page: Int!, $pageSize: Int!) {
    fineTuneJobs(page: $page, pageSize: $pageSize) {
      total
      hasNextPage
      items {
        id
        status
        model
        createdAt
      }
    }
  }
`);

export const JobWithCheckpoints = graphql(`
  query JobWithCheckpoints($id: ID!) {
    fineTuneJob(id: $id) {
      id
      status
      durationSeconds
      costEstimate {
        amount
        currency
      }
      checkpoints {
        id
        step
        status
      }
    }
  }
`);

export const CreateJob = graphql(`
  mutation CreateJob($input: CreateFineTuneJobInput!, $idempotencyKey: String) {
    createFineTuneJob(input: $input, idempotencyKey: $idempotencyKey) {
      id
      status
    }
  }
`);

export const WatchJob = graphql(`
  subscription WatchJob($id: ID!) {
    fineTuneJobUpdated(id: $id) {
      id
      status
      isTerminal
    }
  }
`);
