import { describe, expect, it } from 'vitest';
import { JobModel, toJobRecord, toRfc3339 } from '../../src/upstream/dashscope/models.js';

const UTC8 = 480;

function job(raw: Record<string, unknown>) {
  return toJobRecord(JobModel.parse({ job_id: 'ft-202410291653-1c7f', status: 'SUCCEEDED', ...raw }), UTC8);
}

describe('toRfc3339', () => {
  it.each([
    ['2024-10-29 16:53:53', UTC8, '2024-10-29T16:53:53+08:00'],
    ['2026-05-27T18:07:16', UTC8, '2026-05-27T18:07:16+08:00'],
    ['2025-12-22T11:18:27.532', UTC8, '2025-12-22T11:18:27.532+08:00'],
    ['2024-10-29 16:53:53', 0, '2024-10-29T16:53:53+00:00'],
    ['2024-10-29 16:53:53', -330, '2024-10-29T16:53:53-05:30'],
    ['2024-10-29T08:53:53Z', UTC8, '2024-10-29T08:53:53Z'],
    ['2024-10-29T16:53:53+08:00', 0, '2024-10-29T16:53:53+08:00'],
  ])('reads %s at offset %i as %s', (input, offset, expected) => {
    expect(toRfc3339(input, offset)).toBe(expected);
  });

  it('keeps the instant: 16:53:53 in UTC+8 is 08:53:53Z', () => {
    expect(new Date(toRfc3339('2024-10-29 16:53:53', UTC8)!).toISOString()).toBe('2024-10-29T08:53:53.000Z');
  });

  it.each(['', 'yesterday', '2024-02-31 10:00:00', '2024-13-01 00:00:00', '29/10/2024 16:53'])('turns %j into null', (input) => {
    expect(toRfc3339(input, UTC8)).toBeNull();
  });
});

describe('JobModel and toJobRecord', () => {
  it('requires job_id and status', () => {
    expect(JobModel.safeParse({ status: 'RUNNING' }).success).toBe(false);
    expect(JobModel.safeParse({ job_id: 'ft-1' }).success).toBe(false);
    expect(JobModel.safeParse({ job_id: 'ft-1', status: 'RUNNING' }).success).toBe(true);
  });

  it('maps an unknown status to UNKNOWN and keeps the upstream string', () => {
    const record = job({ status: 'SUSPENDED' });
    expect(record.status).toBe('UNKNOWN');
    expect(record.upstreamStatus).toBe('SUSPENDED');
    expect(record.isTerminal).toBe(false);
  });

  it.each([
    ['1.6e-5', 1.6e-5],
    ['2.0E-5', 2e-5],
    [0.0001, 0.0001],
    [' 0.000016 ', 0.000016],
  ])('reads learning_rate %j as %f and keeps it verbatim in raw', (sent, expected) => {
    const record = job({ hyper_parameters: { learning_rate: sent, custom_knob: [1, 2] } });
    expect(record.hyperParameters.learningRate).toBe(expected);
    expect(record.hyperParameters.raw).toEqual({ learning_rate: sent, custom_knob: [1, 2] });
  });

  it('nulls a hyper-parameter of the wrong type instead of failing the job', () => {
    const record = job({ hyper_parameters: { n_epochs: 'three', batch_size: 2.5, learning_rate: 'fast' } });
    expect(record.hyperParameters).toMatchObject({ nEpochs: null, batchSize: null, learningRate: null });
  });

  it('tolerates missing and mistyped optional fields', () => {
    const record = job({ training_file_ids: 'file-1', usage: '279808', create_time: 12, model: null, base_model: 'qwen3-14b' });
    expect(record).toMatchObject({ trainingFileIds: [], usageTokens: 279808, createdAt: null, model: 'qwen3-14b', validationFileIds: [] });
  });

  it('reads a negative or fractional usage as unknown (null): it is no count of tokens', () => {
    expect(job({ usage: -1000 }).usageTokens).toBeNull();
    expect(job({ usage: '-5' }).usageTokens).toBeNull();
    expect(job({ usage: 12.5 }).usageTokens).toBeNull();
    expect(job({ usage: 0 }).usageTokens).toBe(0);
  });

  it('keeps usage above 2^31', () => {
    expect(job({ usage: 3_123_456_789 }).usageTokens).toBe(3_123_456_789);
  });

  it('reports failure only for FAILED jobs', () => {
    expect(job({ status: 'FAILED', code: 'InvalidDataset', message: 'bad line 12' }).failure).toEqual({
      code: 'InvalidDataset',
      message: 'bad line 12',
    });
    expect(job({ status: 'CANCELED', code: '1' }).failure).toBeNull();
    expect(job({ status: 'FAILED' }).failure).toBeNull();
  });

  it.each([
    ['SUCCEEDED', true],
    ['FAILED', true],
    ['CANCELED', true],
    ['CANCELING', false],
    ['RUNNING', false],
    ['succeeded', true],
  ])('status %s is terminal: %s', (status, terminal) => {
    expect(job({ status }).isTerminal).toBe(terminal);
  });
});
