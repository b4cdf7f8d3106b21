import { describe, expect, it } from 'vitest';
import { deploymentRecordShape, jobRecordShape } from '../../src/modules/live/record-shapes.js';
import { DeploymentModel, JobModel, toDeploymentRecord, toJobRecord } from '../../src/upstream/dashscope/models.js';

/*
 * The shapes replicas check each other's pub/sub messages with must accept every record the gateway makes (else a
 * replica would drop its peers' updates) and nothing else.
 */

const ID = 'ft-202410291653-1c7f';
const viaJson = <T>(value: T): unknown => JSON.parse(JSON.stringify(value));

const minimal = toJobRecord(JobModel.parse({ job_id: ID, status: 'RUNNING' }), 480);
const full = toJobRecord(
  JobModel.parse({
    job_id: ID,
    job_name: 'legal',
    status: 'FAILED',
    code: 'InternalError',
    message: 'out of memory',
    model: 'qwen3-8b',
    base_model: 'qwen3-8b',
    training_type: 'efficient_sft',
    training_file_ids: ['file-ft-1'],
    validation_file_ids: ['file-ft-2'],
    hyper_parameters: { n_epochs: 3, batch_size: 16, learning_rate: 0.0001, lr_scheduler_type: 'cosine', lora_rank: 8, custom: { a: 1 } },
    gmt_create: '2024-10-29 16:53:53',
    end_time: '2024-10-29 18:00:00',
    usage: 1234,
    output_count: 2,
    max_output_count: 5,
  }),
  480,
);

describe('jobRecordShape', () => {
  it.each([
    ['a minimal record', minimal],
    ['a full record', full],
  ])('accepts %s after a JSON round trip, unchanged', (_name, record) => {
    expect(jobRecordShape(ID).parse(viaJson(record))).toEqual(record);
  });

  it('rejects another job, an extra field, a wrong type and an unknown status', () => {
    const shape = jobRecordShape('ft-202410291653-0000');
    expect(shape.safeParse(viaJson(full)).success).toBe(false);
    expect(jobRecordShape(ID).safeParse({ ...full, extra: 1 }).success).toBe(false);
    expect(jobRecordShape(ID).safeParse({ ...full, isTerminal: 'yes' }).success).toBe(false);
    expect(jobRecordShape(ID).safeParse({ ...full, status: 'HACKED' }).success).toBe(false);
    expect(jobRecordShape(ID).safeParse({ ...full, hyperParameters: { ...full.hyperParameters, nEpochs: '3' } }).success).toBe(false);
  });
});

describe('deploymentRecordShape', () => {
  const deployment = toDeploymentRecord(
    DeploymentModel.parse({ deployed_model: 'qwen3-8b-ft-1', status: 'RUNNING', capacity: 2, gmt_create: '2024-10-29 16:53:53' }),
    480,
  );

  it('accepts a record after a JSON round trip, and nothing of another deployment', () => {
    expect(deploymentRecordShape('qwen3-8b-ft-1').parse(viaJson(deployment))).toEqual(deployment);
    expect(deploymentRecordShape('qwen3-8b-ft-2').safeParse(viaJson(deployment)).success).toBe(false);
    expect(deploymentRecordShape('qwen3-8b-ft-1').safeParse({ ...deployment, capacity: '2' }).success).toBe(false);
  });
});
