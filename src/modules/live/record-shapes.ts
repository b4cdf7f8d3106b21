import { z } from 'zod';
import { DEPLOYMENT_STATUSES, type DeploymentRecord, type FineTuneJobRecord } from '../../upstream/dashscope/index.js';
import { JOB_STATUSES } from '../../upstream/dashscope/models.js';

/*
 * The gateway's records as they travel between replicas (Redis pub/sub, JSON): checked field by field before a
 * subscriber sees one, since anything able to publish on the channel could have sent it. The id must be the watched
 * one: a valid record of another job on this channel is dropped too.
 */

const text = z.string().nullable();
const count = z.number().nullable();

const hyperParameters = z.strictObject({
  nEpochs: count,
  batchSize: count,
  maxLength: count,
  learningRate: count,
  lrSchedulerType: text,
  split: count,
  warmupRatio: count,
  weightDecay: count,
  evalSteps: count,
  loraRank: count,
  loraAlpha: count,
  loraDropout: count,
  saveStrategy: text,
  saveSteps: count,
  saveTotalLimit: count,
  raw: z.record(z.string(), z.unknown()),
});

export const jobRecordShape = (id: string): z.ZodType<FineTuneJobRecord> =>
  z.strictObject({
    id: z.literal(id),
    name: text,
    status: z.enum([...JOB_STATUSES, 'UNKNOWN']),
    upstreamStatus: z.string(),
    fineTunedModel: text,
    modelName: text,
    model: z.string(),
    baseModel: text,
    trainingType: text,
    trainingFileIds: z.array(z.string()),
    validationFileIds: z.array(z.string()),
    hyperParameters,
    createdAt: text,
    endedAt: text,
    workspaceId: text,
    userIdentity: text,
    creator: text,
    modifier: text,
    group: text,
    usageTokens: count,
    outputCount: count,
    maxOutputCount: count,
    failure: z.strictObject({ code: text, message: text }).nullable(),
    isTerminal: z.boolean(),
  });

export const deploymentRecordShape = (id: string): z.ZodType<DeploymentRecord> =>
  z.strictObject({
    id: z.literal(id),
    status: z.enum([...DEPLOYMENT_STATUSES, 'UNKNOWN']),
    upstreamStatus: z.string(),
    modelName: text,
    baseModel: text,
    capacity: count,
    readyCapacity: count,
    plan: text,
    chargeType: text,
    createdAt: text,
    updatedAt: text,
  });
