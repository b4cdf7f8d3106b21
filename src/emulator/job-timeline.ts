/* A modelled job's life on the emulator's clock: its timeline, where it stands now, and what stops it. */

export const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELED']);
export const NON_TERMINAL = new Set(['PENDING', 'QUEUING', 'RUNNING', 'CANCELING']);
/** How long a cancelled job stays CANCELING before it reads CANCELED. */
export const CANCELING_MS = 2000;

export interface Timeline {
  pendingMs: number;
  queuingMs: number;
  runningMs: number;
}

/** A status that no longer follows the timeline (seed history, setJobStatus, cancel). */
export interface Halt {
  status: string;
  atMs: number;
  /** set by cancel: CANCELING from here until atMs */
  cancelRequestedMs?: number;
}

export interface CheckpointPlan {
  step: number;
  checkpoint: string;
  /** share of the running phase after which the checkpoint exists */
  fraction: number;
  /** CosyVoice orders by LM epoch x FM epoch, text models by step */
  rank: number;
}

export interface ModelledJob {
  kind: 'modelled';
  id: string;
  createdAtMs: number;
  fields: Record<string, unknown>;
  timeline: Timeline;
  halt?: Halt;
  usageTokens: number;
  totalSteps: number;
  checkpoints: CheckpointPlan[];
  keepCheckpoints: number;
  exports: Map<string, { displayName: string; atMs: number }>;
  finetunedOutput: string;
  baseModel: string;
  failure?: { code: string; message: string };
  outputCounters: boolean;
}

export interface RawJob {
  kind: 'raw';
  id: string;
  raw: Record<string, unknown>;
}

export type StoredJob = ModelledJob | RawJob;

export function numberParam(value: unknown, fallback: number): number {
  const n = typeof value === 'string' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? Math.floor(n) : fallback;
}

export interface JobState {
  status: string;
  endMs?: number;
  /** the moment up to which logs and checkpoints have been produced */
  clockMs: number;
  /** share of the running phase completed, 0..1 */
  progress: number;
}

export function runStartMs(job: ModelledJob): number {
  return job.createdAtMs + job.timeline.pendingMs + job.timeline.queuingMs;
}

export function jobState(job: ModelledJob, now: number): JobState {
  const runStart = runStartMs(job);
  const end = runStart + job.timeline.runningMs;
  const progressAt = (ms: number) =>
    job.timeline.runningMs > 0 ? Math.min(1, Math.max(0, (ms - runStart) / job.timeline.runningMs)) : ms >= runStart ? 1 : 0;
  const halt = job.halt;
  if (halt) {
    const clockMs = halt.cancelRequestedMs ?? halt.atMs;
    if (halt.cancelRequestedMs !== undefined && now < halt.atMs) {
      return { status: 'CANCELING', clockMs, progress: progressAt(clockMs) };
    }
    const endMs = TERMINAL.has(halt.status) ? halt.atMs : undefined;
    return { status: halt.status, clockMs, progress: progressAt(clockMs), ...(endMs !== undefined && { endMs }) };
  }
  const clockMs = Math.min(now, end);
  const status =
    now < job.createdAtMs + job.timeline.pendingMs ? 'PENDING' : now < runStart ? 'QUEUING' : now < end ? 'RUNNING' : 'SUCCEEDED';
  return { status, clockMs, progress: progressAt(clockMs), ...(status === 'SUCCEEDED' && { endMs: end }) };
}

/** Freeze the job where the timeline has it now, so later reads do not move it on. */
export function haltJob(job: ModelledJob, now: number, status: string): void {
  job.halt = { status, atMs: jobState(job, now).clockMs };
}

export function cancelJob(job: ModelledJob, now: number): void {
  job.halt = { status: 'CANCELED', atMs: now + CANCELING_MS, cancelRequestedMs: jobState(job, now).clockMs };
}
