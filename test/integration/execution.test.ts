import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SEED_JOB_IDS } from '../../src/emulator/seed.js';
import { startStack, type Stack } from '../support/stack.js';

/*
 * Operations run by graphql-js itself. graphql-jit, used before, dropped a list's trailing nulls and the variables
 * inside a JSON literal; these pin the behaviour graphql-js gives.
 */

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());
beforeEach(() => {
  stack.emulator.clearFaults();
  stack.emulator.resetStats();
});

describe('a list keeps every element', () => {
  it('answers three elements for three ids, with null and an error at each bad one, even at the end', async () => {
    const { body } = await stack.gql(`{ fineTuneJobsByIds(ids: ["${SEED_JOB_IDS.contractExample}", "bad id!", "x y"]) { id } }`);
    expect(body.data?.fineTuneJobsByIds).toEqual([{ id: SEED_JOB_IDS.contractExample }, null, null]);
    expect(body.errors?.map((e) => [e.path, e.extensions?.code])).toEqual([
      [['fineTuneJobsByIds', 1], 'BAD_USER_INPUT'],
      [['fineTuneJobsByIds', 2], 'BAD_USER_INPUT'],
    ]);
    expect(stack.upstreamCalls()).toBe(1);
  });
});

describe('variables inside a JSON literal', () => {
  const CREATE = `mutation($n: Int) {
    createFineTuneJob(input: { model: "wan2.5-i2v-preview", trainingType: "efficient_sft", trainingFileIds: ["file-ft-0001"],
      hyperParameters: { nEpochs: $n, extra: { a_flag: 1, b_steps: $n, nested: { c: [$n, "x"] } } } }) { id }
  }`;

  it('reach the upstream with their values, at any depth of the literal', async () => {
    const { createFineTuneJob } = await stack.ok(CREATE, { n: 2 });
    const { fineTuneJob } = await stack.ok(`query($id: ID!) { fineTuneJob(id: $id) { hyperParameters { raw } } }`, {
      id: createFineTuneJob.id,
    });
    expect(fineTuneJob.hyperParameters.raw).toEqual({ n_epochs: 2, a_flag: 1, b_steps: 2, nested: { c: [2, 'x'] } });
  });

  it('leave their field out when unset, as graphql-js does', async () => {
    const { createFineTuneJob } = await stack.ok(CREATE, {});
    const { fineTuneJob } = await stack.ok(`query($id: ID!) { fineTuneJob(id: $id) { hyperParameters { raw } } }`, {
      id: createFineTuneJob.id,
    });
    expect(fineTuneJob.hyperParameters.raw).toEqual({ a_flag: 1, nested: { c: [null, 'x'] } });
  });
});
