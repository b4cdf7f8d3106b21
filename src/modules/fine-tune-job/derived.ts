import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { Region } from '../../config.js';
import type { FineTuneJobRecord } from '../../upstream/dashscope/index.js';
import defaultPrices from './prices.json' with { type: 'json' };

const PriceListModel = z.object({
  currency: z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code'),
  source: z.string().optional(),
  perThousandTokens: z.record(z.string().min(1), z.number().positive()),
});
const PriceTableModel = z.object({ intl: PriceListModel, 'cn-beijing': PriceListModel }).partial();
export interface PriceList {
  currency: string;
  source?: string | undefined;
  /** A Map, not an object: a model named `constructor` or `__proto__` must find no price rather than Object's own. */
  perThousandTokens: ReadonlyMap<string, number>;
}

/** The region's training prices: from the table kept in the repo, or from `PRICES_FILE` (same shape) when set. */
export function loadPriceList(region: Region, file?: string): PriceList {
  const table = PriceTableModel.parse(file ? JSON.parse(readFileSync(file, 'utf8')) : defaultPrices);
  const list = table[region];
  if (!list) throw new Error(`${file ?? 'prices.json'} has no prices for region ${region}`);
  return { ...list, perThousandTokens: new Map(Object.entries(list.perThousandTokens)) };
}

export interface CostEstimateRecord {
  amount: number;
  currency: string;
  unitPricePer1kTokens: number;
  billedTokens: number;
  pricedModel: string;
  isFinal: boolean;
}

/**
 * usage / 1000 × the base model's training price. `usage` already includes the epoch factor (docs/upstream.md §9), and a
 * re-tuned model is billed at its base model's price, so the base model is the one priced. A usage that is not a
 * whole, non-negative, exactly representable count is priced as unknown (null), never as a refund or a guess.
 */
export function estimateCost(job: FineTuneJobRecord, prices: PriceList): CostEstimateRecord | null {
  const pricedModel = job.baseModel ?? job.model;
  const unitPrice = prices.perThousandTokens.get(pricedModel);
  if (job.usageTokens == null || !Number.isSafeInteger(job.usageTokens) || job.usageTokens < 0 || unitPrice === undefined) return null;
  return {
    // Rounded to a millionth of the currency unit so that float noise does not reach a dashboard.
    amount: Math.round((job.usageTokens / 1000) * unitPrice * 1e6) / 1e6,
    currency: prices.currency,
    unitPricePer1kTokens: unitPrice,
    billedTokens: job.usageTokens,
    pricedModel,
    isFinal: job.isTerminal,
  };
}

/** endedAt − createdAt; for a job still going, now − createdAt. */
export function durationSeconds(job: FineTuneJobRecord, now: number): number | null {
  if (!job.createdAt) return null;
  const start = Date.parse(job.createdAt);
  const end = job.endedAt ? Date.parse(job.endedAt) : job.isTerminal ? Number.NaN : now;
  if (Number.isNaN(start) || Number.isNaN(end)) return null;
  return Math.max(0, Math.floor((end - start) / 1000));
}
