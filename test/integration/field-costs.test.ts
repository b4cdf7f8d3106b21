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

describe('FineTuneJob.trainingFiles: one upstream read per distinct file of the operation', () => {
  const FILES = `query($ids: [ID!]!) { fineTuneJobsByIds(ids: $ids) { id trainingFileIds trainingFiles { id } } }`;

  it('reads each distinct file once, across the jobs and their datasets, and counts those reads against the budget', async () => {
    // bigUsage names two files, contractExample one, cosyVoice one through its datasets (§6.1).
    const ids = [SEED_JOB_IDS.bigUsage, SEED_JOB_IDS.contractExample, SEED_JOB_IDS.cosyVoice, SEED_JOB_IDS.bigUsage];
    const { fineTuneJobsByIds: jobs } = await stack.ok<{
      fineTuneJobsByIds: Array<{ id: string; trainingFileIds: string[]; trainingFiles: Array<{ id: string }> }>;
    }>(FILES, { ids });
    const distinct = new Set(jobs.flatMap((job) => job.trainingFiles.map((f) => f.id)));
    expect(distinct.size).toBe(4);
    expect(jobs[2]!.trainingFileIds).toEqual([]);
    expect(jobs[2]!.trainingFiles).toHaveLength(1);
    expect(stack.upstreamCalls('file-get')).toBe(distinct.size);
    expect(stack.upstreamCalls('get')).toBe(3);
  });

  it('stops at the budget: a job with more files than the budget has left gets the maxUpstreamCalls error', async () => {
    const tight = await startStack({ env: { CACHE_ENABLED: 'false', MAX_UPSTREAM_CALLS: '2' } });
    try {
      // One read of the job, then two files: one more than the budget.
      const { body } = await tight.gql(FILES, { ids: [SEED_JOB_IDS.bigUsage] });
      expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit: 'maxUpstreamCalls' });
      expect(tight.upstreamCalls()).toBeLessThanOrEqual(2);
    } finally {
      await tight.close();
    }
  });

  it('a page of 20 jobs sharing one file is estimated at one file read, passes a tight budget, and reads the file once', async () => {
    let now = Date.parse('2026-11-27T08:00:00Z');
    const tight = await startStack({
      env: { CACHE_ENABLED: 'false', MAX_UPSTREAM_CALLS: '5' },
      emulator: { now: () => now, jobQuota: 1_000 },
    });
    try {
      now += 60_000; // newer than every seeded job: the 20 fill the first page
      const create = `mutation { createFineTuneJob(input: { model: "qwen3-8b", trainingDatasets: [{ fileId: "file-ft-0001" }], hyperParameters: { nEpochs: 1, batchSize: 8, maxLength: 2048 } }) { id } }`;
      for (let i = 0; i < 20; i++) await tight.ok(create);
      tight.emulator.resetStats();
      const page = `{ fineTuneJobs(pageSize: 20) { items { id trainingFiles { id } } } }`;
      // One list call and one file read, where one read per job (21) would exceed the budget of 5.
      expect(estimate(page)).toBe(2);
      const { fineTuneJobs } = await tight.ok<{ fineTuneJobs: { items: Array<{ trainingFiles: Array<{ id: string }> }> } }>(page);
      expect(fineTuneJobs.items).toHaveLength(20);
      expect(fineTuneJobs.items.every((job) => job.trainingFiles.length === 1 && job.trainingFiles[0]!.id === 'file-ft-0001')).toBe(true);
      expect(tight.emulator.stats().byRoute).toEqual({ list: 1, 'file-get': 1 });
    } finally {
      await tight.close();
    }
  });
});
