import { describe, expect, it } from 'vitest';
import { exportArguments, familyOf } from '../../src/modules/fine-tune-job/checkpoints.js';
import {
  CheckpointListModel,
  ValidationDetailPageModel,
  checkpointNameOf,
  toCheckpointRecord,
} from '../../src/upstream/dashscope/models.js';

const JOB = 'ft-202611111122-a7c3';

describe('the model family of a job', () => {
  it.each([
    [{ baseModel: 'wan2.5-i2v-preview', model: 'wan2.5-i2v-preview' }, 'wan'],
    [{ baseModel: null, model: 'wan2.7-image-pro-ft-202611111122-a7c3' }, 'wan'],
    [{ baseModel: 'cosyvoice-v3-flash', model: 'cosyvoice-v3-flash' }, 'cosyvoice'],
    [{ baseModel: null, model: 'qwen3-8b-ft-202410291653-1c7f' }, 'other'],
    [{ baseModel: null, model: 'my-own-model' }, 'unknown'],
  ])('%j is %s', (job, family) => expect(familyOf(job)).toBe(family));
});

describe('exportArguments', () => {
  it('takes the checkpoint name from its CosyVoice id, its Wan id, or the name itself', () => {
    for (const id of [`${JOB}:checkpoint-160`, `${JOB}-checkpoint-160`, 'checkpoint-160']) {
      expect(exportArguments(JOB, id, 'boat.v2_1')).toEqual({ checkpoint: 'checkpoint-160', modelName: 'boat.v2_1' });
    }
  });

  it.each([
    ['', 'x'],
    ['m'.repeat(65), 'x'],
    ['_lead', 'x'],
    ['a b', 'x'],
    ['ok', 'ft-202001010000-0000:checkpoint-1'],
    ['ok', '../checkpoint-1'],
    ['ok', 'checkpoint-1?x=1'],
  ])('refuses modelName %j with checkpoint %j', (modelName, checkpointId) => {
    expect(() => exportArguments(JOB, checkpointId, modelName)).toThrow(
      expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) }),
    );
  });
});

describe('checkpoint and validation models tolerate every family', () => {
  it('a Wan checkpoint with only a name, or only a full_name, is identified', () => {
    const [byName, byFullName] = CheckpointListModel.parse([
      { checkpoint: 'checkpoint-160', status: 'PENDING' },
      { full_name: `${JOB}-checkpoint-80` },
    ]);
    expect(toCheckpointRecord(byName!, JOB, 480)).toMatchObject({
      id: `${JOB}:checkpoint-160`,
      name: 'checkpoint-160',
      jobId: JOB,
      step: null,
    });
    expect(toCheckpointRecord(byFullName!, JOB, 480)).toMatchObject({
      id: `${JOB}-checkpoint-80`,
      name: 'checkpoint-80',
      status: 'UNKNOWN',
    });
    expect(checkpointNameOf(`${JOB}:checkpoint-00040004`)).toBe('checkpoint-00040004');
  });

  it('a details page with or without its paging fields, or as a bare list', () => {
    const item = { video_path: 'v', prompt: 'p', first_frame_path: 'f' };
    expect(ValidationDetailPageModel.parse({ page_no: 1, page_size: 10, total: 1, list: [item] })).toMatchObject({
      total: 1,
      list: [item],
    });
    expect(ValidationDetailPageModel.parse({ list: [item] })).toMatchObject({ list: [item] });
    expect(ValidationDetailPageModel.parse([item])).toEqual({ list: [item], total: null });
  });
});
