import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEMO_ACCOUNT, startEmulator, type Emulator } from '../../src/emulator/index.js';
import { SEED_FILE_IDS } from '../../src/emulator/seed.js';
import { errorOf } from '../support/creates.js';
import { startStack, type Stack } from '../support/stack.js';

/*
 * createFineTuneJob as DashScope documents it (docs/upstream.md §6.1, §6.2, §6.14): datasets of files or OSS mounts,
 * an open training type, the reinforcement fields, the hyper-parameters text and VL models require. Every refusal is
 * checked to send nothing upstream; what is sent is read back from the emulator's own answer over raw HTTP.
 */

const CREATE = `mutation($input: CreateFineTuneJobInput!, $key: String) {
  createFineTuneJob(input: $input, idempotencyKey: $key) {
    id status trainingType fineTunedModel trainingFileIds
    trainingDatasets { sourceType fileId ossMount { region bucket filePath } }
    validationDatasets { sourceType fileId }
    trainingFiles { id }
  }
}`;
const TEXT_HYPER = { nEpochs: 1, batchSize: 8, maxLength: 2048 };
const OSS = { region: 'cn-beijing', bucket: 'my-datasets', filePath: 'sft/train.jsonl' };
const base = { model: 'qwen3-8b', trainingDatasets: [{ fileId: SEED_FILE_IDS.first }], hyperParameters: TEXT_HYPER };

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { CREATE_SETTLE_MS: '0' } });
});
afterAll(() => stack.close());
beforeEach(() => {
  stack.emulator.clearFaults();
  stack.emulator.resetStats();
});

/** The job as the emulator itself answers it: what the gateway really sent. */
async function upstreamJob(id: string): Promise<Record<string, any>> {
  const response = await fetch(`${stack.emulator.url}/api/v1/fine-tunes/${id}`, {
    headers: { authorization: `Bearer ${DEMO_ACCOUNT.apiKey}` },
  });
  return ((await response.json()) as { output: Record<string, any> }).output;
}

describe('datasets: { fileId } or { ossMount }, sent in DashScope shapes', () => {
  it('sends file and OSS datasets as data_source_type file_id / oss_mount, and reads them back', async () => {
    const input = {
      ...base,
      trainingDatasets: [{ fileId: SEED_FILE_IDS.first }, { ossMount: OSS }],
      validationDatasets: [{ fileId: SEED_FILE_IDS.demo }],
    };
    const { createFineTuneJob: job } = await stack.ok(CREATE, { input });
    expect(stack.upstreamCalls('create')).toBe(1);
    const sent = await upstreamJob(job.id);
    expect(sent.training_datasets).toEqual([
      { data_source_type: 'file_id', file_id: SEED_FILE_IDS.first },
      { data_source_type: 'oss_mount', mount_storage: { region: 'cn-beijing', bucket: 'my-datasets', file_path: 'sft/train.jsonl' } },
    ]);
    expect(sent.validation_datasets).toEqual([{ data_source_type: 'file_id', file_id: SEED_FILE_IDS.demo }]);
    expect(sent).not.toHaveProperty('training_file_ids', expect.arrayContaining([SEED_FILE_IDS.first]));
    expect(job.trainingDatasets).toEqual([
      { sourceType: 'file_id', fileId: SEED_FILE_IDS.first, ossMount: null },
      { sourceType: 'oss_mount', fileId: null, ossMount: OSS },
    ]);
    expect(job.validationDatasets).toEqual([{ sourceType: 'file_id', fileId: SEED_FILE_IDS.demo }]);
    // The files of its datasets are its training files.
    expect(job.trainingFiles).toEqual([{ id: SEED_FILE_IDS.first }]);
  });

  it('still takes the deprecated trainingFileIds, sent as training_file_ids as before', async () => {
    const input = { model: 'qwen3-8b', trainingFileIds: [SEED_FILE_IDS.first], hyperParameters: TEXT_HYPER };
    const { createFineTuneJob: job } = await stack.ok(CREATE, { input });
    expect(job.trainingFileIds).toEqual([SEED_FILE_IDS.first]);
    const sent = await upstreamJob(job.id);
    expect(sent.training_file_ids).toEqual([SEED_FILE_IDS.first]);
    expect(sent).not.toHaveProperty('training_datasets');
  });

  const refusals: Array<[string, Record<string, unknown>, string]> = [
    [
      'a dataset with both fileId and ossMount',
      { ...base, trainingDatasets: [{ fileId: SEED_FILE_IDS.first, ossMount: OSS }] },
      'input.trainingDatasets[0]',
    ],
    ['a dataset with neither', { ...base, trainingDatasets: [{}] }, 'input.trainingDatasets[0]'],
    [
      'a validation dataset with neither',
      { ...base, validationDatasets: [{ fileId: null, ossMount: null }] },
      'input.validationDatasets[0]',
    ],
    [
      'an OSS zip file',
      { ...base, trainingDatasets: [{ ossMount: { ...OSS, filePath: 'data/train.ZIP' } }] },
      'input.trainingDatasets[0].ossMount.filePath',
    ],
    [
      'an OSS path with ..',
      { ...base, trainingDatasets: [{ ossMount: { ...OSS, filePath: 'a/../b.jsonl' } }] },
      'input.trainingDatasets[0].ossMount.filePath',
    ],
    [
      'an OSS path with a leading /',
      { ...base, trainingDatasets: [{ ossMount: { ...OSS, filePath: '/etc/x.jsonl' } }] },
      'input.trainingDatasets[0].ossMount.filePath',
    ],
    [
      'an OSS path with a line break',
      { ...base, trainingDatasets: [{ ossMount: { ...OSS, filePath: 'a\nb.jsonl' } }] },
      'input.trainingDatasets[0].ossMount.filePath',
    ],
    [
      'an OSS bucket in capitals',
      { ...base, trainingDatasets: [{ ossMount: { ...OSS, bucket: 'My_Bucket' } }] },
      'input.trainingDatasets[0].ossMount.bucket',
    ],
    [
      'an OSS region that is no region id',
      { ...base, trainingDatasets: [{ ossMount: { ...OSS, region: 'oss://x' } }] },
      'input.trainingDatasets[0].ossMount.region',
    ],
    ['an invalid dataset file id', { ...base, trainingDatasets: [{ fileId: '../x' }] }, 'input.trainingDatasets[0].fileId'],
    ['datasets and the deprecated file ids together', { ...base, trainingFileIds: [SEED_FILE_IDS.first] }, 'input.trainingFileIds'],
    ['no training source at all', { ...base, trainingDatasets: [] }, 'input.trainingDatasets'],
    ['a malformed trainingType', { ...base, trainingType: 'SFT; drop' }, 'input.trainingType'],
    ['a trainingType in capitals', { ...base, trainingType: 'Efficient_SFT' }, 'input.trainingType'],
    ['rollout without a reinforcement training type', { ...base, rollout: { n: 8 } }, 'input.rollout'],
    ['rewards with trainingType sft', { ...base, trainingType: 'sft', rewards: [{ name: 'accuracy' }] }, 'input.rewards'],
    ['a rollout that is not an object', { ...base, trainingType: 'reinforcement', rollout: [1, 2] }, 'input.rollout'],
    ['a rollout key with a line break', { ...base, trainingType: 'reinforcement', rollout: { 'a\nb': 1 } }, 'input.rollout'],
    ['a resourceConfig that is a string', { ...base, trainingType: 'reinforcement', resourceConfig: 'big' }, 'input.resourceConfig'],
    ['a text model without nEpochs', { ...base, hyperParameters: { batchSize: 8, maxLength: 2048 } }, 'input.hyperParameters.nEpochs'],
    ['a text model without batchSize', { ...base, hyperParameters: { nEpochs: 1, maxLength: 2048 } }, 'input.hyperParameters.batchSize'],
    ['a text model without maxLength', { ...base, hyperParameters: { nEpochs: 1, batchSize: 8 } }, 'input.hyperParameters.maxLength'],
    [
      'a VL model without hyper-parameters',
      { model: 'qwen3-vl-8b-instruct', trainingDatasets: [{ fileId: SEED_FILE_IDS.first }] },
      'input.hyperParameters.nEpochs',
    ],
    [
      'a re-tuned text model without maxLength',
      { ...base, model: 'qwen3-8b-ft-202410291653-1c7f', hyperParameters: { nEpochs: 1, batchSize: 8 } },
      'input.hyperParameters.maxLength',
    ],
  ];

  it.each(refusals)('refuses %s: BAD_USER_INPUT naming the field, nothing sent', async (_name, input, argumentName) => {
    const error = errorOf(await stack.gql(CREATE, { input }));
    expect(error.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName });
    expect(error.message).toContain(argumentName);
    expect(stack.upstreamCalls()).toBe(0);
  });

  it('names the missing hyper-parameter by its upstream key too', async () => {
    const error = errorOf(await stack.gql(CREATE, { input: { ...base, hyperParameters: { nEpochs: 1, batchSize: 8 } } }));
    expect(error.message).toMatch(/max_length/);
  });

  it('a file id DashScope does not have: its InvalidParameter, as BAD_USER_INPUT, after one call', async () => {
    const error = errorOf(await stack.gql(CREATE, { input: { ...base, trainingDatasets: [{ fileId: 'file-ft-never-uploaded' }] } }));
    expect(error.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(error.message).toContain('file-ft-never-uploaded');
    expect(stack.upstreamCalls('create')).toBe(1);
  });
});

describe('trainingType is open, hyper-parameters follow the model family', () => {
  it('passes an unknown but well-formed training type through', async () => {
    const { createFineTuneJob: job } = await stack.ok(CREATE, { input: { ...base, trainingType: 'dpo_lora_v2' } });
    expect(job.trainingType).toBe('dpo_lora_v2');
    expect((await upstreamJob(job.id)).training_type).toBe('dpo_lora_v2');
  });

  it('takes image/video and CosyVoice jobs with their own hyper-parameters (no n_epochs/batch_size/max_length)', async () => {
    const wan = {
      model: 'wan2.5-i2v-preview',
      trainingType: 'efficient_sft',
      trainingDatasets: [{ fileId: SEED_FILE_IDS.demo }],
      hyperParameters: { extra: { max_pixels: 36864, eval_epochs: 50 } },
    };
    const cosy = {
      model: 'cosyvoice-v3-flash',
      trainingType: 'efficient_sft',
      trainingDatasets: [{ fileId: SEED_FILE_IDS.demo }],
      hyperParameters: {
        extra: { lm_max_epoch: 2, lm_step: 1, lm_num: 1, lm_batch_size: 4, fm_max_epoch: 2, fm_step: 1, fm_num: 1, fm_batch_size: 4 },
      },
    };
    for (const input of [wan, cosy]) {
      const { createFineTuneJob: job } = await stack.ok(CREATE, { input });
      expect((await upstreamJob(job.id)).hyper_parameters).toEqual(input.hyperParameters.extra);
    }
    expect(stack.upstreamCalls('create')).toBe(2);
  });

  it('shows the output model id from PENDING on (§6.14)', async () => {
    const { createFineTuneJob: job } = await stack.ok(CREATE, { input: base });
    expect(job.status).toBe('PENDING');
    expect(job.fineTunedModel).toBe(`qwen3-8b-${job.id}`);
  });
});

describe('reinforcement jobs', () => {
  const rl = {
    ...base,
    trainingType: 'reinforcement',
    rollout: { n_samples: 8, max_tokens: 4096 },
    rewards: [{ name: 'accuracy', weight: 1 }],
    resourceConfig: { gpu_count: 8 },
  };

  it('sends rollout, rewards and resource_config as given', async () => {
    const { createFineTuneJob: job } = await stack.ok(CREATE, { input: rl });
    const sent = await upstreamJob(job.id);
    expect(sent).toMatchObject({
      training_type: 'reinforcement',
      rollout: rl.rollout,
      rewards: rl.rewards,
      resource_config: rl.resourceConfig,
    });
  });

  it('refuses an oversized rollout, nothing sent', async () => {
    const error = errorOf(await stack.gql(CREATE, { input: { ...rl, rollout: { blob: 'x'.repeat(20_000) } } }));
    expect(error.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName: 'input.rollout' });
    expect(stack.upstreamCalls()).toBe(0);
  });
});

describe('idempotent creates with the new fields', () => {
  let keys = 0;
  const key = () => `create-doc-${++keys}-${Math.random().toString(36).slice(2)}`;
  const withOss = { ...base, trainingDatasets: [{ ossMount: OSS }] };

  it('the same key and input create one job', async () => {
    const k = key();
    const first = await stack.ok(CREATE, { input: withOss, key: k });
    const second = await stack.ok(CREATE, { input: withOss, key: k });
    expect(second.createFineTuneJob.id).toBe(first.createFineTuneJob.id);
    expect(stack.upstreamCalls('create')).toBe(1);
  });

  it('the same key with other datasets is a CONFLICT, nothing created', async () => {
    const k = key();
    await stack.ok(CREATE, { input: withOss, key: k });
    const other = { ...withOss, trainingDatasets: [{ ossMount: { ...OSS, filePath: 'sft/other.jsonl' } }] };
    expect(errorOf(await stack.gql(CREATE, { input: other, key: k })).extensions).toMatchObject({ code: 'CONFLICT' });
    const rlOther = { ...withOss, trainingType: 'reinforcement', rollout: { n_samples: 4 } };
    expect(errorOf(await stack.gql(CREATE, { input: rlOther, key: k })).extensions).toMatchObject({ code: 'CONFLICT' });
    expect(stack.upstreamCalls('create')).toBe(1);
  });

  it('a caller-named create retried after a lost answer finds its job by datasets and RL fields, creates none', async () => {
    const jobName = `rl-${key()}`;
    const input = { ...withOss, jobName, trainingType: 'reinforcement', rollout: { n_samples: 8 }, rewards: { accuracy: 1 } };
    const k = key();
    stack.emulator.injectFault({ match: { route: 'create' }, times: 1, fault: { kind: 'status', status: 500, processed: true } });
    const failed = await stack.gql(CREATE, { input, key: k });
    expect(errorOf(failed).extensions).toMatchObject({ jobMayExist: true });
    const retried = await stack.ok(CREATE, { input, key: k });
    expect(stack.upstreamCalls('create')).toBe(1);
    const sent = await upstreamJob(retried.createFineTuneJob.id);
    expect(sent).toMatchObject({ job_name: jobName, rollout: { n_samples: 8 }, rewards: { accuracy: 1 } });
  });
});

describe("the compatible-mode routes' missing-key answer", () => {
  let emulator: Emulator;
  beforeAll(async () => {
    emulator = await startEmulator();
  });
  afterAll(() => emulator.close());

  it('is OpenAI-shaped over raw HTTP on /compatible-mode/*, DashScope-shaped on /api/v1/*', async () => {
    const files = await fetch(`${emulator.url}/compatible-mode/v1/files`, { headers: { authorization: 'Bearer sk-wrong' } });
    expect(files.status).toBe(401);
    expect(await files.json()).toEqual({
      error: { message: expect.any(String), type: 'invalid_request_error', code: 'invalid_api_key' },
    });
    const jobs = await fetch(`${emulator.url}/api/v1/fine-tunes`);
    expect(jobs.status).toBe(401);
    expect(await jobs.json()).toMatchObject({ code: 'InvalidApiKey', request_id: expect.any(String) });
  });

  it('maps to the same UNAUTHENTICATED through the gateway, whichever shape', async () => {
    const forward = await startStack({ env: { AUTH_MODE: 'forward' } });
    try {
      const wrongKey = { authorization: 'Bearer sk-not-a-key' };
      const files = errorOf(await forward.gql('{ trainingFiles { total } }', {}, wrongKey));
      const jobs = errorOf(await forward.gql('{ fineTuneJobs { total } }', {}, wrongKey));
      expect(files.extensions).toMatchObject({ code: 'UNAUTHENTICATED', retryable: false });
      expect(jobs.extensions).toMatchObject({ code: 'UNAUTHENTICATED', retryable: false });
      expect(forward.upstreamCalls('file-list')).toBe(1);
    } finally {
      await forward.close();
    }
  });
});

describe('the emulator checks creates as DashScope documents them (raw HTTP)', () => {
  const post = async (body: Record<string, unknown>) => {
    const response = await fetch(`${stack.emulator.url}/api/v1/fine-tunes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${DEMO_ACCOUNT.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };
  const hyper = { n_epochs: 1, batch_size: 8, max_length: 2048 };
  const file = { data_source_type: 'file_id', file_id: SEED_FILE_IDS.first };
  const oss = { data_source_type: 'oss_mount', mount_storage: { region: 'cn-beijing', bucket: 'b-1', file_path: 'a/train.jsonl' } };
  const refused = (message: string) => ({ status: 400, body: { code: 'InvalidParameter', message: expect.stringContaining(message) } });

  it('requires n_epochs, batch_size and max_length for text and VL models, not for Wan', async () => {
    for (const missing of Object.keys(hyper)) {
      const rest = Object.fromEntries(Object.entries(hyper).filter(([key]) => key !== missing));
      expect(await post({ model: 'qwen3-vl-8b-instruct', training_datasets: [file], hyper_parameters: rest })).toMatchObject(
        refused(missing),
      );
    }
    expect(await post({ model: 'wan2.2-i2v-flash', training_type: 'efficient_sft', training_datasets: [file] })).toMatchObject({
      status: 200,
    });
  });

  it('checks each dataset: a known file, a documented OSS region, no ZIP from OSS, a known source type', async () => {
    const create = (dataset: unknown) => post({ model: 'qwen3-8b', training_datasets: [dataset], hyper_parameters: hyper });
    expect(await create({ data_source_type: 'file_id', file_id: 'file-ft-nope' })).toMatchObject(refused('file-ft-nope'));
    expect(await create({ ...oss, mount_storage: { ...oss.mount_storage, region: 'us-east-1' } })).toMatchObject(refused('region'));
    expect(await create({ ...oss, mount_storage: { ...oss.mount_storage, file_path: 'a/train.zip' } })).toMatchObject(refused('zip'));
    expect(await create({ data_source_type: 'http', url: 'x' })).toMatchObject(refused('data_source_type'));
    expect(await create(oss)).toMatchObject({ status: 200, body: { output: { training_datasets: [oss], status: 'PENDING' } } });
  });
});
