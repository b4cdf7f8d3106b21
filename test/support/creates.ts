import { expect } from 'vitest';
import type { Stack } from './stack.js';

const JOBS = `{ fineTuneJobs(page: 1, pageSize: 100) { items { id name } } }`;

export type GqlResponse = Awaited<ReturnType<Stack['gql']>>;

/** The one error of an answer that must carry exactly one error and no data. */
export function errorOf(response: GqlResponse) {
  expect(response.body.data ?? null).toBeNull();
  expect(response.body.errors).toHaveLength(1);
  return response.body.errors![0]!;
}

/** The jobs the emulator holds under `name`, read through the gateway: how many paid jobs one intent made. */
export async function jobsNamed(stack: Stack, name: string): Promise<string[]> {
  const data = await stack.ok(JOBS);
  return (data.fineTuneJobs.items as Array<{ id: string; name: string }>).filter((job) => job.name === name).map((job) => job.id);
}

/** A text-model create as DashScope documents it: its three cost-driving hyper-parameters are required. */
export const TEXT_JOB_INPUT = {
  model: 'qwen3-8b',
  trainingDatasets: [{ fileId: 'file-ft-0001' }],
  hyperParameters: { nEpochs: 1, batchSize: 8, maxLength: 2048 },
};

/** A create with an idempotency key, answering the job's id and the name that ties it to its key. */
export const KEYED_CREATE = `mutation($input: CreateFineTuneJobInput!, $key: String) {
  createFineTuneJob(input: $input, idempotencyKey: $key) { id name }
}`;
