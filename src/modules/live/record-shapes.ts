import type { z } from 'zod';
import { DeploymentRecordModel, FineTuneJobRecordModel } from '../../shared-state/records.js';
import type { DeploymentRecord, FineTuneJobRecord } from '../../upstream/dashscope/index.js';

/*
 * The gateway's records as they travel between replicas (Redis pub/sub, JSON): checked with the same strict models as
 * everything read back from Redis (src/shared-state/records.ts) before a subscriber sees one, since anything able to
 * publish on the channel could have sent it. The id must be the watched one: a valid record of another job is dropped.
 */

const forId = <T extends { id: string }>(model: z.ZodType<T>, id: string): z.ZodType<T> =>
  model.refine((record) => record.id === id, { message: `not the watched record ${id}`, path: ['id'] });

export const jobRecordShape = (id: string): z.ZodType<FineTuneJobRecord> => forId(FineTuneJobRecordModel, id);

export const deploymentRecordShape = (id: string): z.ZodType<DeploymentRecord> => forId(DeploymentRecordModel, id);
