import type { GatewayContext, UpstreamRead } from '../../context.js';
import { GatewayError, badUserInput, toGatewayError } from '../../errors/index.js';
import { checkUpload } from './check-upload.js';
import type { FineTuneJobResolvers, MutationResolvers, QueryResolvers, TrainingFileResolvers } from '../../generated/graphql.js';
import { isValidId, type Credential, type TrainingFileListRecord, type TrainingFileRecord } from '../../upstream/dashscope/index.js';
import type { StreamedFile } from './upload.js';
import { nullIfNotFound, requireId, requireRange } from '../arguments.js';
import { ONE_CALL, type FieldCosts } from '../costs.js';
import { byDeadline, cutOffCause, type CutOff } from '../writes.js';

export const MAX_PAGE_SIZE = 100;
const MAX_DESCRIPTION = 500;
// eslint-disable-next-line no-control-regex -- the characters refused
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

const fileOf: UpstreamRead<string, TrainingFileRecord> = {
  name: 'trainingFile',
  read: ({ client }, credential, id, signal) => client.getFile(credential, id, signal),
};
/** The whole list: DashScope answers it at once, so one call serves every page an operation asks for. */
const fileList: UpstreamRead<'all', TrainingFileListRecord> = {
  name: 'trainingFileList',
  read: ({ client }, credential, _key, signal) => client.listFiles(credential, signal),
};

export const Query: QueryResolvers = {
  trainingFile: async (_parent, { id }, ctx) => {
    requireId(id, 'training file');
    // Unknown or deleted: the field's documented null, not an error.
    return nullIfNotFound(ctx.loader(fileOf).load(id));
  },

  trainingFiles: async (_parent, { page, pageSize }, ctx) => {
    requireRange(page, 1, Number.MAX_SAFE_INTEGER, 'page');
    requireRange(pageSize, 1, MAX_PAGE_SIZE, 'pageSize');
    const list = await ctx.loader(fileList).load('all');
    if (list.invalidFiles > 0) ctx.warn(`DashScope's list of training files held ${list.invalidFiles} element(s) without an id; left out`);
    for (const file of list.files) ctx.loader(fileOf).prime(file.id, file);
    const start = (page - 1) * pageSize;
    const items = list.files.slice(start, start + pageSize);
    const total = list.files.length;
    // [INF] `has_more`: DashScope listed only some; the ones listed are a lower bound, and a later page may hold more.
    return { items, page, pageSize, total, hasNextPage: start + pageSize < total || list.hasMore };
  },
};

/** An entity reference from a federated gateway (`_entities`): read like `trainingFile(id)`, null when unknown. */
export const TrainingFile: TrainingFileResolvers = {
  __resolveReference: async ({ id }, ctx) => {
    requireId(id, 'training file', 'representations');
    return nullIfNotFound(ctx.loader(fileOf).load(id));
  },
};

/** The upload itself, within its slot: everything about the file is checked on its first bytes, before DashScope is called. */
async function upload(file: StreamedFile, description: string | null | undefined, credential: Credential, ctx: GatewayContext) {
  const checked = await checkUpload(file, ctx.uploads);
  const write = ctx.client
    .uploadFile(credential, { filename: file.name, content: checked.content, description }, ctx.signal)
    .catch((error: unknown) => {
      // The caller's body failed the rules mid-stream: DashScope's request was aborted with it, no file was made.
      throw checked.refusal() ?? toGatewayError(error);
    });
  const cutOff = (by: CutOff) =>
    new GatewayError(
      `${cutOffCause(by)} before DashScope answered the upload of ${JSON.stringify(file.name)}; it may still finish: list the training files to see.`,
      { code: 'UPSTREAM_TIMEOUT', retryable: true },
    );
  try {
    return await byDeadline(write, ctx.signal, cutOff);
  } finally {
    checked.drain();
  }
}

export const Mutation: MutationResolvers = {
  uploadTrainingFile: async (_parent, { file, description }, ctx) => {
    const credential = ctx.credential();
    if (description != null && description.length > MAX_DESCRIPTION)
      throw badUserInput(`description is at most ${MAX_DESCRIPTION} characters.`, 'description');
    // Sent on as a form field and shown in DashScope's console and in logs: no line breaks or other control characters.
    if (description != null && CONTROL.test(description))
      throw badUserInput('description must not contain control characters (line breaks, tabs, …).', 'description');
    // A slot of the uploads' own share first (per credential and in total): over it, refused before any upstream call.
    const release = ctx.uploadSlots.take(ctx.client.shareOf(credential));
    try {
      return await upload(file, description, credential, ctx);
    } finally {
      release();
    }
  },

  deleteTrainingFile: async (_parent, { id }, ctx) => {
    requireId(id, 'training file');
    const write = ctx.client.deleteFile(ctx.credential(), id).catch((error: unknown) => {
      throw toGatewayError(error);
    });
    const cutOff = (by: CutOff) =>
      new GatewayError(
        `${cutOffCause(by)} before DashScope answered the delete of training file "${id}"; it may still take effect: read the file to see.`,
        { code: 'UPSTREAM_TIMEOUT', retryable: true },
      );
    const deleted = await byDeadline(write, ctx.signal, cutOff);
    ctx.loader(fileOf).clear(id);
    return deleted;
  },
};

export const FineTuneJob: FineTuneJobResolvers = {
  trainingFiles: async (job, _args, ctx) => {
    // An id the id rule refuses cannot be read (it came from upstream): left out like a deleted file.
    // A job made with datasets names its files there (its `trainingFileIds` is then empty, §4).
    const fromDatasets = (job.trainingDatasets ?? []).flatMap((d) => (d.fileId === null ? [] : [d.fileId]));
    const ids = [...new Set([...job.trainingFileIds, ...fromDatasets])].filter(isValidId);
    const files = await Promise.all(
      ids.map((id) =>
        // Deleted since the job was made: left out, the job still resolves. Any other failure fails the field.
        nullIfNotFound(ctx.loader(fileOf).load(id)),
      ),
    );
    return files.filter((f): f is TrainingFileRecord => f !== null);
  },
};

/**
 * What each field costs upstream, at most. The list is one call whatever the page. `FineTuneJob.trainingFiles` makes
 * one call per distinct file of the operation: the loader de-duplicates across jobs (datasets included), and the jobs
 * of a page mostly share their files. How many distinct files there are is known only once the jobs are read, so the
 * estimate made before execution counts one read for the whole operation (`perOperation`), not one per job; every
 * read beyond is counted by the run-time budget (src/context.ts), which stops the operation at `maxUpstreamCalls`
 * (test/integration/field-costs.test.ts).
 */
export const costs: FieldCosts = {
  Query: {
    trainingFile: ONE_CALL,
    trainingFiles: { calls: () => 1, times: (a) => (typeof a.pageSize === 'number' ? Math.max(0, a.pageSize) : 1) },
  },
  Mutation: { deleteTrainingFile: ONE_CALL, uploadTrainingFile: ONE_CALL },
  FineTuneJob: { trainingFiles: { ...ONE_CALL, perOperation: true } },
};
