import { hash32, type NaiveClock } from './time.js';
import { isMultiCheckpointModel, isWanModel } from './families.js';
import { jobState, numberParam, runStartMs, type CheckpointPlan, type JobState, type ModelledJob } from './job-timeline.js';

/* A job's checkpoints (planned from its hyper-parameters, visible as training goes), their export and validation. */

const DAY_MS = 86_400_000;
const CHECKPOINT_RETENTION_MS = 15 * DAY_MS;
const EXPORT_MS = 3000;

export function planCheckpoints(
  baseModel: string,
  hyper: Record<string, unknown>,
  totalSteps: number,
): { plan: CheckpointPlan[]; keep: number } {
  if (isMultiCheckpointModel(baseModel)) {
    const n = Math.min(numberParam(hyper.lm_max_epoch, 1), numberParam(hyper.fm_max_epoch, 1), 10);
    const plan: CheckpointPlan[] = [];
    for (let k = 1; k <= n; k++) {
      plan.push(cosyCheckpoint(k, k, (k * k) / (n * n)));
    }
    return { plan, keep: Infinity };
  }
  const strategy = hyper.save_strategy;
  if (strategy !== 'steps' && strategy !== 'epoch') return { plan: [], keep: 0 };
  const every =
    strategy === 'steps' ? numberParam(hyper.save_steps, 50) : Math.max(1, Math.floor(totalSteps / numberParam(hyper.n_epochs, 1)));
  const plan: CheckpointPlan[] = [];
  for (let step = every; step <= totalSteps; step += every) {
    plan.push({ step, checkpoint: `checkpoint-${step}`, fraction: step / totalSteps, rank: step });
  }
  return { plan, keep: numberParam(hyper.save_total_limit, 1) };
}

export function cosyCheckpoint(lm: number, fm: number, fraction: number): CheckpointPlan {
  const pad = (n: number) => String(n).padStart(4, '0');
  return { step: lm * 10000 + fm, checkpoint: `checkpoint-${pad(lm)}${pad(fm)}`, fraction, rank: lm * fm };
}
export function visibleCheckpoints(job: ModelledJob, state: JobState): CheckpointPlan[] {
  const produced = job.checkpoints.filter((c) => c.fraction <= state.progress);
  return Number.isFinite(job.keepCheckpoints) ? produced.slice(-job.keepCheckpoints) : produced;
}

export function findCheckpoint(job: ModelledJob, now: number, name: string): CheckpointPlan | undefined {
  return visibleCheckpoints(job, jobState(job, now)).find(
    (c) =>
      c.checkpoint === name ||
      `checkpoint-${c.step}` === name ||
      `${job.id}:checkpoint-${c.step}` === name ||
      `${job.id}-checkpoint-${c.step}` === name,
  );
}

export function checkpointViews(job: ModelledJob, now: number, clock: NaiveClock): Record<string, unknown>[] {
  const runStart = runStartMs(job);
  return visibleCheckpoints(job, jobState(job, now))
    .sort((a, b) => b.rank - a.rank || b.step - a.step)
    .map((c) => {
      const createdMs = Math.floor(runStart + job.timeline.runningMs * c.fraction);
      const exported = job.exports.get(c.checkpoint);
      const status = exported === undefined ? 'PENDING' : now < exported.atMs + EXPORT_MS ? 'PROCESSING' : 'SUCCEEDED';
      const id = `${job.id}:checkpoint-${c.step}`;
      const view: Record<string, unknown> = isWanModel(job.baseModel)
        ? // The Wan example's shape (§6.14): no checkpoint_id, step or expire_time; ids like `{job}-checkpoint-160`.
          { full_name: `${job.id}-checkpoint-${c.step}`, checkpoint: c.checkpoint, status, create_time: clock.isoTime(createdMs) }
        : {
            checkpoint_id: id,
            full_name: id,
            checkpoint: c.checkpoint,
            job_id: job.id,
            step: c.step,
            status,
            create_time: clock.isoTime(createdMs),
            expire_time: clock.isoTime(createdMs + CHECKPOINT_RETENTION_MS),
          };
      if (status === 'SUCCEEDED' && exported) {
        view.model_name = `${job.baseModel}-${job.id}-c${c.step}`;
        view.model_display_name = exported.displayName;
      }
      return view;
    });
}

/** The checkpoints with validation artifacts: those of a finished Wan job (§6.11: empty until the job finishes). */
export function validatedCheckpoints(job: ModelledJob, now: number): CheckpointPlan[] {
  const state = jobState(job, now);
  if (!isWanModel(job.baseModel) || state.status !== 'SUCCEEDED') return [];
  return visibleCheckpoints(job, state).sort((a, b) => b.step - a.step);
}

/** Samples per checkpoint: more than one default page (10), so that paging shows. */
export const VALIDATION_SAMPLES = 12;

/** A checkpoint's validation samples: signed OSS URLs valid 24 h from `now`, as DashScope sends them. */
export function validationSamples(job: ModelledJob, checkpoint: CheckpointPlan, now: number): Record<string, unknown>[] {
  const expires = Math.floor(now / 1000) + 86_400;
  const base = `https://dashscope-finetune.oss-cn-beijing.aliyuncs.com/validation/${job.id}/${checkpoint.checkpoint}`;
  const signed = (file: string) =>
    `${base}/${file}?Expires=${expires}&OSSAccessKeyId=LTAI-emulator&Signature=${hash32(`${base}/${file}${expires}`).toString(16)}`;
  return Array.from({ length: VALIDATION_SAMPLES }, (_, i) => ({
    video_path: signed(`sample-${i + 1}.mp4`),
    prompt: `Validation prompt ${i + 1}: a paper boat drifts down a rainy street, camera following`,
    first_frame_path: signed(`sample-${i + 1}.png`),
  }));
}
