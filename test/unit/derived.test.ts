import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { durationSeconds, estimateCost, loadPriceList } from '../../src/modules/fine-tune-job/derived.js';
import { JobModel, toJobRecord } from '../../src/upstream/dashscope/models.js';

const contractExample = toJobRecord(
  JobModel.parse({
    job_id: 'ft-202410291653-1c7f',
    status: 'SUCCEEDED',
    model: 'qwen3-14b',
    base_model: 'qwen3-14b',
    create_time: '2024-10-29 16:53:53',
    end_time: '2024-10-29 17:11:26',
    usage: 279808,
  }),
  480,
);

describe('durationSeconds', () => {
  it('is endedAt − createdAt for a finished job', () => {
    expect(durationSeconds(contractExample, Date.now())).toBe(1053);
  });

  it('is now − createdAt for a running job', () => {
    const running = { ...contractExample, status: 'RUNNING' as const, isTerminal: false, endedAt: null };
    expect(durationSeconds(running, Date.parse('2024-10-29T09:00:00Z'))).toBe(367);
  });

  it('is null without a creation time, or for a terminal job without an end time', () => {
    expect(durationSeconds({ ...contractExample, createdAt: null }, Date.now())).toBeNull();
    expect(durationSeconds({ ...contractExample, endedAt: null }, Date.now())).toBeNull();
  });
});

describe('estimateCost', () => {
  const intl = loadPriceList('intl');
  const beijing = loadPriceList('cn-beijing');

  it('prices the contract example at about 0.4477 USD in the international region', () => {
    expect(estimateCost(contractExample, intl)).toEqual({
      amount: 0.447693,
      currency: 'USD',
      unitPricePer1kTokens: 0.0016,
      billedTokens: 279808,
      pricedModel: 'qwen3-14b',
      isFinal: true,
    });
  });

  it('uses the Beijing CNY price list for cn-beijing', () => {
    expect(estimateCost(contractExample, beijing)).toMatchObject({ amount: 8.39424, currency: 'CNY', unitPricePer1kTokens: 0.03 });
  });

  it('prices a re-tuned model at its base model', () => {
    const retuned = { ...contractExample, model: 'qwen3-14b-suffix-ft-202410291653-1c7f' };
    expect(estimateCost(retuned, intl)?.pricedModel).toBe('qwen3-14b');
  });

  it('is null for an unknown model or without usage', () => {
    expect(estimateCost({ ...contractExample, baseModel: 'qwen-turbo' }, intl)).toBeNull();
    expect(estimateCost({ ...contractExample, usageTokens: null }, intl)).toBeNull();
  });

  it('is null, never a refund or a guess, for a usage that is not a whole non-negative count', () => {
    for (const usageTokens of [-1000, 1.5, Number.NaN, 2 ** 53 + 2])
      expect(estimateCost({ ...contractExample, usageTokens }, intl)).toBeNull();
    expect(estimateCost({ ...contractExample, usageTokens: 0 }, intl)?.amount).toBe(0);
  });

  it('is not final while the job runs', () => {
    expect(estimateCost({ ...contractExample, status: 'RUNNING', isTerminal: false }, intl)?.isFinal).toBe(false);
  });

  it('reads an override price file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'prices-'));
    const file = join(dir, 'prices.json');
    writeFileSync(file, JSON.stringify({ intl: { currency: 'EUR', perThousandTokens: { 'qwen3-14b': 0.001 } } }));
    expect(estimateCost(contractExample, loadPriceList('intl', file))).toMatchObject({ amount: 0.279808, currency: 'EUR' });
    expect(() => loadPriceList('cn-beijing', file)).toThrow(/no prices for region cn-beijing/);
  });
});
