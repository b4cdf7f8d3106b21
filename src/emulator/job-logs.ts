import { hash32, type NaiveClock } from './time.js';
import { jobState, runStartMs, type StoredJob } from './job-timeline.js';

export function logLines(job: StoredJob, now: number, clock: NaiveClock): string[] {
  if (job.kind === 'raw') return [];
  const state = jobState(job, now);
  const h = hash32(job.id);
  const { pendingMs, runningMs } = job.timeline;
  const runStart = runStartMs(job);
  const end = runStart + runningMs;
  // Formatted lazily: events of a pinned job lie at infinity and must be filtered out before they are formatted.
  const line = (ms: number, msg: string, level = 'INFO') => ({
    ms,
    get text() {
      return `${clock.logTime(ms)} - ${level} - ${msg}`;
    },
  });
  const n = job.totalSteps;
  const files = Array.isArray(job.fields.training_file_ids) ? job.fields.training_file_ids.length : 0;
  const events = [
    line(
      job.createdAtMs + 412,
      `Fine-tune job ${job.id} submitted: model=${String(job.fields.model)}, training_type=${String(job.fields.training_type)}`,
    ),
    line(job.createdAtMs + 1630, `Checking training data: ${Math.max(files, 1)} file(s)`),
    line(job.createdAtMs + pendingMs - 200, `Dataset validation passed, ${1000 + (h % 9000)} samples`),
    line(job.createdAtMs + pendingMs + 50, 'Job queued, waiting for training resources'),
    line(runStart + 300, `Training started on ${8 << (h % 2)} GPUs, total steps ${n}`),
  ];
  for (let k = 1; k <= 10; k++) {
    const loss = 2.4 * Math.exp(-k / 4) + 0.3 + ((h >>> k) % 100) / 1000;
    events.push(line(runStart + runningMs * 0.95 * (k / 10), `training step ${Math.round((n * k) / 10)}/${n}, loss ${loss.toFixed(3)}`));
  }
  for (const c of job.checkpoints) {
    events.push(line(runStart + runningMs * c.fraction - 40, `Saving ${c.checkpoint}`));
  }
  events.push(line(end - 1500, 'Saving final model'));
  const lines = events
    .filter((e) => e.ms <= state.clockMs && Number.isFinite(e.ms))
    .sort((a, b) => a.ms - b.ms)
    .map((e) => e.text);
  const endMs = state.endMs ?? state.clockMs;
  if (state.status === 'SUCCEEDED') {
    lines.push(
      ` Actual number of consumed tokens is ${job.usageTokens}!`,
      line(endMs - 870, `training usage ${job.usageTokens}`).text,
      line(endMs - 825, '##FT_COMPLETE##').text,
    );
  } else if (state.status === 'FAILED') {
    lines.push(line(endMs - 500, job.failure?.message ?? 'Training process exited abnormally', 'ERROR').text);
  } else if (state.status === 'CANCELED' || state.status === 'CANCELING') {
    lines.push(line(job.halt?.cancelRequestedMs ?? endMs, 'Job cancel requested by user').text);
  }
  return lines;
}
