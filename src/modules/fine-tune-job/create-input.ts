import { z } from 'zod';
import { badUserInput } from '../../errors/index.js';
import type { CreateFineTuneJobInput } from '../../generated/graphql.js';
import { HYPER_PARAMETER_KEYS, TRAINING_TYPES, isValidId, type CreateJobInput } from '../../upstream/dashscope/index.js';

const MAX_FILES = 100;
const MAX_EXTRA_KEYS = 50;
const MAX_EXTRA_JSON = 16_384;
const UPSTREAM_KEY = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const TYPED_UPSTREAM_KEYS = new Map(Object.entries(HYPER_PARAMETER_KEYS).map(([name, key]) => [key as string, name]));

// Sent as given, never trimmed: a value the caller did not write must not reach a paid job. Names DashScope matches
// exactly (model ids, output names) refuse surrounding whitespace, which would only make them miss; no text takes
// control characters (a CR/LF in a job name would also forge lines in logs that print it).
const CONTROL = /\p{Cc}/u;
const hasControlChars = (value: unknown): boolean =>
  typeof value === 'string'
    ? CONTROL.test(value)
    : typeof value === 'object' && value !== null && Object.values(value).some(hasControlChars);
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

const inputModel = z.object({
  model: name(256),
  trainingFileIds: z.array(fileId).min(1, 'must name at least one file').max(MAX_FILES, `may name at most ${MAX_FILES} files`),
  validationFileIds: z.array(fileId).max(MAX_FILES, `may name at most ${MAX_FILES} files`).nullish(),
  trainingType: z.enum(TRAINING_TYPES, `must be one of ${TRAINING_TYPES.join(', ')}`).nullish(),
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

/** Checks a create input before anything goes upstream; the first problem becomes a BAD_USER_INPUT naming its field. */
export function parseCreateInput(input: CreateFineTuneJobInput): CreateJobInput {
  const result = inputModel.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const at = argumentPath(issue.path);
    throw badUserInput(`${at} ${issue.message}.`, at);
  }
  const { model, trainingFileIds, hyperParameters, ...optional } = result.data;
  const { extra, ...typed } = present(hyperParameters ?? {});
  return {
    model,
    trainingFileIds,
    ...present(optional),
    ...(Object.keys(typed).length > 0 && { hyperParameters: typed }),
    ...(extra && Object.keys(extra).length > 0 && { extraHyperParameters: extra }),
  };
}
