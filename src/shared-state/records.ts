import { z } from 'zod';
import { DEPLOYMENT_STATUSES, type DeploymentRecord, type FineTuneJobRecord } from '../upstream/dashscope/index.js';
import { JOB_STATUSES } from '../upstream/dashscope/models.js';

/*
 * The gateway's own records as it stores them in Redis. What comes back from Redis is untrusted input (another
 * process, an operator, an attacker with access to Redis may have written it): it is parsed with these strict models,
 * and anything that does not fit is treated as absent, never served.
 */

const text = z.string().max(10_000);
const nullableText = text.nullable();
const count = z.number().finite().nullable();
const ids = z.array(z.string().max(256)).max(1_000);
const datasets = z
  .array(
    z.strictObject({
      sourceType: nullableText,
      fileId: nullableText,
      ossMount: z.strictObject({ region: nullableText, bucket: nullableText, filePath: nullableText }).nullable(),
      raw: z.record(z.string(), z.unknown()),
    }),
  )
  .max(1_000)
  .nullable();

export const FineTuneJobRecordModel = z.strictObject({
  id: z.string().min(1).max(256),
  name: nullableText,
  status: z.enum([...JOB_STATUSES, 'UNKNOWN']),
  upstreamStatus: text,
  fineTunedModel: nullableText,
  modelName: nullableText,
  model: text,
  baseModel: nullableText,
  trainingType: nullableText,
  trainingFileIds: ids,
  validationFileIds: ids,
  trainingDatasets: datasets,
  validationDatasets: datasets,
  reinforcement: z.strictObject({
    rollout: z.unknown().optional(),
    rewards: z.unknown().optional(),
    resourceConfig: z.unknown().optional(),
  }),
  hyperParameters: z.strictObject({
    nEpochs: count,
    batchSize: count,
    maxLength: count,
    learningRate: count,
    lrSchedulerType: nullableText,
    split: count,
    warmupRatio: count,
    weightDecay: count,
    evalSteps: count,
    loraRank: count,
    loraAlpha: count,
    loraDropout: count,
    saveStrategy: nullableText,
    saveSteps: count,
    saveTotalLimit: count,
    raw: z.record(z.string(), z.unknown()),
  }),
  createdAt: nullableText,
  endedAt: nullableText,
  workspaceId: nullableText,
  userIdentity: nullableText,
  creator: nullableText,
  modifier: nullableText,
  group: nullableText,
  usageTokens: count,
  outputCount: count,
  maxOutputCount: count,
  failure: z.strictObject({ code: nullableText, message: nullableText }).nullable(),
  isTerminal: z.boolean(),
}) satisfies z.ZodType<FineTuneJobRecord>;

export const DeploymentRecordModel = z.strictObject({
  id: z.string().min(1).max(256),
  status: z.enum([...DEPLOYMENT_STATUSES, 'UNKNOWN']),
  upstreamStatus: text,
  modelName: nullableText,
  baseModel: nullableText,
  capacity: count,
  readyCapacity: count,
  plan: nullableText,
  chargeType: nullableText,
  createdAt: nullableText,
  updatedAt: nullableText,
}) satisfies z.ZodType<DeploymentRecord>;

/** The value `raw` holds per `model`, or undefined when it is not JSON or not that shape. */
export function parseStored<T>(model: z.ZodType<T>, raw: string | null): T | undefined {
  if (raw === null) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const parsed = model.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}
