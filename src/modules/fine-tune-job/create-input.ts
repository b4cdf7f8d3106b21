import { z } from 'zod';
import { badUserInput } from '../../errors/index.js';
import type { CreateFineTuneJobInput } from '../../generated/graphql.js';
import {
  HYPER_PARAMETER_KEYS,
  TRAINING_TYPES,
  TRAINING_TYPE_PATTERN,
  isValidId,
  type CreateJobInput,
  type Dataset,
  type HyperParameterName,
} from '../../upstream/dashscope/index.js';
import { familyOf } from './checkpoints.js';

const MAX_FILES = 100;
const MAX_EXTRA_KEYS = 50;
const MAX_EXTRA_JSON = 16_384;
/** The reinforcement fields: JSON as given, as bounded as `extra`. */
const MAX_RL_JSON = 16_384;
const UPSTREAM_KEY = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const TYPED_UPSTREAM_KEYS = new Map(Object.entries(HYPER_PARAMETER_KEYS).map(([name, key]) => [key as string, name]));

// Sent as given, never trimmed: a value the caller did not write must not reach a paid job. Names DashScope matches
// exactly (model ids, output names) refuse surrounding whitespace, which would only make them miss; no text takes
// control characters (a CR/LF in a job name would also forge lines in logs that print it).
const CONTROL = /\p{Cc}/u;
const hasControlChars = (value: unknown): boolean =>
  typeof value === 'string'
    ? CONTROL.test(value)
    : typeof value === 'object' && value !== null && Object.entries(value).some(([k, v]) => CONTROL.test(k) || hasControlChars(v));
const hasProtoKey = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && Object.entries(value).some(([k, v]) => k === '__proto__' || hasProtoKey(v));
const text = (max: number) =>
  z
    .string()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .refine((v) => !CONTROL.test(v), 'must not contain control characters');
const name = (max: number) => text(max).refine((v) => v.trim() === v, 'must not start or end with whitespace (it is not trimmed)');
const label = (max: number) => text(max).refine((v) => v.trim() !== '', 'must not be only whitespace');
const fileId = z.string().refine(isValidId, 'is not a valid file id (1 to 128 letters, digits, _ . : -)');
const atLeast = (min: number) => z.number().int().min(min, `must be at least ${min}`);
const positive = z.number().gt(0, 'must be above 0');
const fraction = (maxInclusive: boolean) =>
  z
    .number()
    .min(0, 'must be between 0 and 1')
    .refine((v) => (maxInclusive ? v <= 1 : v < 1), maxInclusive ? 'must be between 0 and 1' : 'must be at least 0 and below 1');

const extraModel = z
  .record(z.string().regex(UPSTREAM_KEY, 'keys must be upstream hyper-parameter names (letters, digits, _)'), z.unknown(), {
    error: 'must be an object of upstream hyper-parameter keys',
  })
  .superRefine((extra, ctx) => {
    const keys = Object.keys(extra);
    if (hasControlChars(extra)) ctx.addIssue({ code: 'custom', message: 'must not contain control characters' });
    if (keys.length > MAX_EXTRA_KEYS) ctx.addIssue({ code: 'custom', message: `may hold at most ${MAX_EXTRA_KEYS} keys` });
    if (JSON.stringify(extra).length > MAX_EXTRA_JSON)
      ctx.addIssue({ code: 'custom', message: `may be at most ${MAX_EXTRA_JSON} characters of JSON` });
    for (const key of keys) {
      const typed = TYPED_UPSTREAM_KEYS.get(key);
      if (typed) ctx.addIssue({ code: 'custom', path: [key], message: `duplicates a typed field: set hyperParameters.${typed} instead` });
    }
  });

const hyperParametersModel = z.object({
  nEpochs: atLeast(1).nullish(),
  batchSize: atLeast(1).nullish(),
  maxLength: atLeast(1).nullish(),
  learningRate: positive.nullish(),
  lrSchedulerType: name(64).nullish(),
  split: z.number().gt(0, 'must be above 0 and at most 1').max(1, 'must be above 0 and at most 1').nullish(),
  warmupRatio: fraction(true).nullish(),
  weightDecay: z.number().min(0, 'must be at least 0').nullish(),
  evalSteps: atLeast(1).nullish(),
  loraRank: atLeast(1).nullish(),
  loraAlpha: atLeast(1).nullish(),
  loraDropout: fraction(false).nullish(),
  saveStrategy: z.enum(['epoch', 'steps'], 'must be "epoch" or "steps"').nullish(),
  saveSteps: atLeast(1).nullish(),
  saveTotalLimit: atLeast(1).nullish(),
  extra: extraModel.nullish(),
});

/*
 * OSS names (§6.1, `mount_storage`): safe patterns, so that nothing odd reaches a paid job or a log line. Buckets follow
 * OSS's own naming rule; a path is a relative object key without empty, `.` or `..` segments.
 */
const OSS_REGION = /^[a-z]{2,8}(-[a-z0-9]{1,32}){1,3}$/;
const OSS_BUCKET = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const OSS_PATH = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;
const dotSegment = (path: string) => path.split('/').some((segment) => segment === '.' || segment === '..');

const ossMountModel = z.object({
  region: z.string().regex(OSS_REGION, 'must be an OSS region id such as cn-beijing or ap-southeast-1'),
  bucket: z
    .string()
    .regex(OSS_BUCKET, 'must be an OSS bucket name: 3 to 63 lower-case letters, digits and -, starting and ending with a letter or digit'),
  filePath: z
    .string()
    .max(1023, 'must be at most 1023 characters')
    .regex(OSS_PATH, 'must be a relative object path of letters, digits and _ . - / (no leading /, no empty segment)')
    .refine((path) => !dotSegment(path), 'must not hold a . or .. segment')
    // §6.1: "OSS mounts do not accept zip files" – refused here rather than by a job that fails later.
    .refine(
      (path) => !/\.zip$/i.test(path),
      'must not be a .zip file: DashScope does not take ZIP files from an OSS mount (upload it instead)',
    ),
});

/** `{ fileId }` or `{ ossMount }`: GraphQL 16 validates no @oneOf, so exactly one is enforced here. */
const datasetModel = z
  .object({ fileId: fileId.nullish(), ossMount: ossMountModel.nullish() })
  .superRefine((d, ctx) => {
    const given = (d.fileId != null ? 1 : 0) + (d.ossMount != null ? 1 : 0);
    if (given !== 1)
      ctx.addIssue({ code: 'custom', message: `must set exactly one of fileId and ossMount (${given === 0 ? 'none' : 'both'} set)` });
  })
  .transform((d): Dataset => (d.fileId != null ? { fileId: d.fileId } : { ossMount: d.ossMount! }));
const datasets = z.array(datasetModel).max(MAX_FILES, `may name at most ${MAX_FILES} datasets`);

/** A reinforcement field: JSON of DashScope's own shape, bounded like `extra`, sent as given. */
const rlJson = <T extends z.ZodType>(shape: T) =>
  shape.superRefine((value, ctx) => {
    if (hasControlChars(value)) ctx.addIssue({ code: 'custom', message: 'must not contain control characters' });
    if (JSON.stringify(value).length > MAX_RL_JSON)
      ctx.addIssue({ code: 'custom', message: `may be at most ${MAX_RL_JSON} characters of JSON` });
  });
const jsonObject = z.record(z.string(), z.unknown(), { error: 'must be a JSON object' });

/** Training types that are not reinforcement learning: the reinforcement fields make no sense with them. */
const SUPERVISED_TYPES: ReadonlySet<string> = new Set(TRAINING_TYPES.filter((t) => t !== 'reinforcement'));
const RL_FIELDS = ['rollout', 'rewards', 'resourceConfig'] as const;

/** §6.2 / S2: required for text and VL models (they drive the cost), with the training types billed by tokens. */
const REQUIRED_FOR_TEXT: readonly HyperParameterName[] = ['nEpochs', 'batchSize', 'maxLength'];

const inputModel = z.object({
  model: name(256),
  trainingDatasets: datasets.nullish(),
  validationDatasets: datasets.nullish(),
  trainingFileIds: z.array(fileId).max(MAX_FILES, `may name at most ${MAX_FILES} files`).nullish(),
  validationFileIds: z.array(fileId).max(MAX_FILES, `may name at most ${MAX_FILES} files`).nullish(),
  trainingType: z
    .string()
    .regex(
      TRAINING_TYPE_PATTERN,
      `must be lower-case letters, digits and _, starting with a letter, at most 64 (documented: ${TRAINING_TYPES.join(', ')})`,
    )
    .nullish(),
  rollout: rlJson(jsonObject).nullish(),
  rewards: rlJson(z.union([z.array(z.unknown()), jsonObject], { error: 'must be a JSON object or list' })).nullish(),
  resourceConfig: rlJson(jsonObject).nullish(),
  hyperParameters: hyperParametersModel.nullish(),
  // The caller's label for the job: sent exactly as given, spaces included.
  jobName: label(256).nullish(),
  modelName: name(256).nullish(),
  finetunedOutputSuffix: name(128).nullish(),
});

/** `input.trainingFileIds[2]`, `input.hyperParameters.nEpochs`: the argument path a client can point at. */
function argumentPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((at, key) => (typeof key === 'number' ? `${at}[${key}]` : `${at}.${String(key)}`), 'input');
}

/** Drops the fields GraphQL gave as `null`: only what the caller set is sent. */
function present<T extends Record<string, unknown>>(record: T): { [K in keyof T]?: Exclude<T[K], null | undefined> } {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== null && value !== undefined)) as never;
}

const refuse = (at: string, message: string) => badUserInput(`${at} ${message}.`, at);

/** The rules between fields: one form of training data, the reinforcement fields' training type, the required ones. */
function checkCombination(input: z.infer<typeof inputModel>): void {
  for (const [datasetsField, idsField] of [
    ['trainingDatasets', 'trainingFileIds'],
    ['validationDatasets', 'validationFileIds'],
  ] as const) {
    if (input[datasetsField] != null && input[idsField] != null)
      throw refuse(
        `input.${idsField}`,
        `must not be given with ${datasetsField} (it is the older form of the same data): use ${datasetsField} only`,
      );
  }
  if (!input.trainingDatasets?.length && !input.trainingFileIds?.length)
    throw refuse('input.trainingDatasets', 'must name at least one training source ({ fileId } or { ossMount })');
  const type = input.trainingType ?? undefined;
  for (const field of RL_FIELDS) {
    if (input[field] != null && (type === undefined || SUPERVISED_TYPES.has(type)))
      throw refuse(
        `input.${field}`,
        `is for reinforcement jobs: set trainingType (e.g. "reinforcement"), not ${type === undefined ? 'the default sft' : `"${type}"`}`,
      );
  }
  // Text and VL families (qwen…, qwq…); reinforcement is priced by other units (§9) and is left to DashScope [INF].
  const reinforcement = type === 'reinforcement' || RL_FIELDS.some((field) => input[field] != null);
  if (familyOf({ baseModel: null, model: input.model }) === 'other' && !reinforcement) {
    const missing = REQUIRED_FOR_TEXT.find((field) => input.hyperParameters?.[field] == null);
    if (missing)
      throw refuse(
        `input.hyperParameters.${missing}`,
        `is required for text and VL models (${HYPER_PARAMETER_KEYS[missing]}: DashScope requires n_epochs, batch_size and max_length, they drive the cost)`,
      );
  }
}

/** Checks a create input before anything goes upstream; the first problem becomes a BAD_USER_INPUT naming its field. */
export function parseCreateInput(input: CreateFineTuneJobInput): CreateJobInput {
  // Checked on the input as given: parsing rebuilds objects, and a rebuilt object silently loses an own "__proto__" key
  // (the assignment sets its prototype), so the job would be created without a part of what was asked for.
  for (const field of RL_FIELDS)
    if (hasProtoKey(input[field])) throw refuse(`input.${field}`, 'must not hold a "__proto__" key (it cannot be sent as given)');
  const result = inputModel.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const at = argumentPath(issue.path);
    throw badUserInput(`${at} ${issue.message}.`, at);
  }
  checkCombination(result.data);
  const { model, hyperParameters, ...optional } = result.data;
  const { extra, ...typed } = present(hyperParameters ?? {});
  return {
    model,
    ...present(optional),
    ...(Object.keys(typed).length > 0 && { hyperParameters: typed }),
    ...(extra && Object.keys(extra).length > 0 && { extraHyperParameters: extra }),
  };
}
