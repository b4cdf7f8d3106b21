import { getNamedType, isObjectType, parse } from 'graphql';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SEED_JOB_IDS } from '../../src/emulator/index.js';
import { fieldCosts } from '../../src/modules/index.js';
import { estimateUpstreamCalls } from '../../src/plugins/use-fan-out-budget.js';
import { buildSchema } from '../../src/schema.js';
import { startStack, type Stack } from '../support/stack.js';

/*
 * The fan-out budget refuses operations by the costs the modules declare; these check the declarations against
 * what the gateway really sends the emulator. A field that calls upstream without a declared cost (or with a wrong
 * one) fails here. The cross-request cache is off so that every read reaches the emulator.
 */
const JOB = SEED_JOB_IDS.cosyVoice; // has checkpoints and a log
/** Fields a CosyVoice job answers without a call: read on a job of the family that has them. */
const JOB_FOR: Record<string, string> = { validationResults: SEED_JOB_IDS.wanVideo, trainingFiles: SEED_JOB_IDS.contractExample };
const schema = buildSchema();
const estimate = (query: string) => estimateUpstreamCalls(fieldCosts, schema, parse(query), undefined, {});

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { CACHE_ENABLED: 'false' } });
});
afterAll(() => stack.close());
beforeEach(() => stack.emulator.resetStats());

async function expectCallsAsEstimated(query: string) {
  await stack.ok(query);
  expect({ query, calls: stack.upstreamCalls() }).toEqual({ query, calls: estimate(query) });
}

describe('declared field costs against the emulator', () => {
  const jobType = schema.getType('FineTuneJob');
  const fields = isObjectType(jobType) ? Object.values(jobType.getFields()) : [];

  it.each(fields.map((field) => [field.name, field] as const))('FineTuneJob.%s makes the calls its cost declares', async (_name, field) => {
    const selection = isObjectType(getNamedType(field.type)) ? `${field.name} { __typename }` : field.name;
    await expectCallsAsEstimated(`{ fineTuneJob(id: "${JOB_FOR[field.name] ?? JOB}") { id ${selection} } }`);
  });

  it('each root query makes the calls its cost declares, times the list sizes', async () => {
    await expectCallsAsEstimated(`{ fineTuneJobsByIds(ids: ["${JOB}", "${SEED_JOB_IDS.contractExample}"]) { id logs { total } } }`);
    stack.emulator.resetStats();
    await expectCallsAsEstimated(`{ fineTuneJobs(pageSize: 3) { total items { id checkpoints { name } } } }`);
  });

  it('each mutation makes the calls its cost declares: a cancel re-reads the job', async () => {
    const create = `mutation { createFineTuneJob(input: { model: "qwen3-8b", trainingFileIds: ["file-ft-0001"], hyperParameters: { nEpochs: 1, batchSize: 8, maxLength: 2048 } }) { id } }`;
    const { createFineTuneJob } = await stack.ok<{ createFineTuneJob: { id: string } }>(create);
    expect(stack.upstreamCalls()).toBe(estimate(create));
    stack.emulator.resetStats();
    await expectCallsAsEstimated(`mutation { cancelFineTuneJob(id: "${createFineTuneJob.id}") { id status } }`);
    stack.emulator.resetStats();
    await expectCallsAsEstimated(`mutation { deleteFineTuneJob(id: "${SEED_JOB_IDS.failed}") { deleted } }`);
  });
});
