import type { EmulatorAccount, PhaseDurations, StoredFile } from './types.js';
import { newDeployment, type StoredDeployment } from './deployments.js';
import { cosyCheckpoint } from './checkpoints.js';
import type { ModelledJob, StoredJob } from './job-timeline.js';
import { buildJob, type NewJob } from './jobs.js';
import { hash32, NaiveClock, seededRandom } from './time.js';

/** Fixed ids of the seeded jobs, so tests and the README can name them. */
export const SEED_JOB_IDS = {
  /** the SUCCEEDED qwen3-14b job docs/upstream.md uses as its example (§4, §9) */
  contractExample: 'ft-202410291653-1c7f',
  /** cosyvoice-v3-flash with 4 checkpoints (3 exported, 1 PENDING) */
  cosyVoice: 'ft-202605271743-dd2a',
  failed: 'ft-202608141022-5b0e',
  /** usage 0, code "1", modifier differs from creator */
  canceled: 'ft-202607031512-a4c1',
  /** qwen3-32b LoRA job with usage above 2^31 and save_strategy checkpoints */
  bigUsage: 'ft-202609181130-7e3d',
  /** stays RUNNING until 30 days after the emulator starts */
  running: 'ft-202611250915-c2b8',
  pending: 'ft-202611261807-3f91',
  queuing: 'ft-202611261402-8d57',
  /** unknown status SUSPENDED, unknown top-level and hyper-parameter keys */
  drift: 'ft-202610090845-e61a',
  /** wan2.5-i2v-preview video job: Wan-shaped checkpoints (one exported, two PENDING) and validation results */
  wanVideo: 'ft-202611111122-a7c3',
} as const;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const HISTORICAL_JOBS = 35;
/** one live job starts PENDING, the other is already QUEUING at start (default phases) */
const LIVE_JOB_AGES_MS = [0, 8_000];

/** Ids of the jobs created at emulator start that walk the normal timeline. */
export function liveSeedJobIds(startMs: number, timeZoneOffsetMinutes = 480): string[] {
  const clock = new NaiveClock(timeZoneOffsetMinutes);
  return LIVE_JOB_AGES_MS.map((age, i) => {
    const hex = (hash32(`live-${i}-${startMs}`) & 0xffff).toString(16).padStart(4, '0');
    return `ft-${clock.idMinute(startMs - age)}-${hex}`;
  });
}

export function seedJobs(account: EmulatorAccount, startMs: number, clock: NaiveClock, phases: PhaseDurations): ModelledJob[] {
  const at = (naive: string) => clock.parse(naive);
  const make = (spec: Omit<NewJob, 'account' | 'validationFileIds' | 'baseModel'> & Partial<NewJob>) =>
    buildJob({ account, validationFileIds: [], baseModel: spec.model, ...spec }, clock);
  const jobs: ModelledJob[] = [];

  const contract = make({
    id: SEED_JOB_IDS.contractExample,
    createdAtMs: at('2024-10-29 16:53:53'),
    model: 'qwen3-14b',
    trainingType: 'sft',
    hyper: { n_epochs: 1, batch_size: 16, learning_rate: '1.6e-5' },
    trainingFileIds: ['file-ft-b2416bacc4d742f2a1a7bd5e0c9ad9c3'],
    suffix: 'suffix',
    timeline: { pendingMs: 31_000, queuingMs: 94_000, runningMs: at('2024-10-29 17:11:26') - at('2024-10-29 16:53:53') - 125_000 },
    usageTokens: 279808,
    outputCounters: false,
  });
  contract.halt = { status: 'SUCCEEDED', atMs: at('2024-10-29 17:11:26') };
  jobs.push(contract);

  const cosyRunStart = at('2026-05-27 17:44:45');
  const cosy = make({
    id: SEED_JOB_IDS.cosyVoice,
    createdAtMs: at('2026-05-27 17:43:05'),
    model: 'cosyvoice-v3-flash',
    trainingType: 'efficient_sft',
    hyper: { lm_max_epoch: 3, lm_step: 100, lm_num: 1, lm_batch_size: 16, fm_max_epoch: 3, fm_step: 100, fm_num: 1, fm_batch_size: 16 },
    trainingFileIds: [],
    trainingDatasets: [{ data_source_type: 'file_id', file_id: 'file-ft-7c1d9e0a4b5f4e26a3c8d1f0b2e4a6c8' }],
    timeline: { pendingMs: 40_000, queuingMs: 60_000, runningMs: at('2026-05-27 18:07:16') - cosyRunStart },
    usageTokens: 90000,
  });
  cosy.checkpoints = [cosyCheckpoint(1, 1, 1 / 9), cosyCheckpoint(2, 1, 2 / 9), cosyCheckpoint(2, 2, 4 / 9), cosyCheckpoint(3, 3, 1)];
  cosy.halt = { status: 'SUCCEEDED', atMs: at('2026-05-27 18:07:16') };
  for (const [name, display] of [
    ['checkpoint-00030003', 'narrator-v3'],
    ['checkpoint-00020002', 'narrator-v2'],
    ['checkpoint-00010001', 'narrator-v1'],
  ] as const) {
    cosy.exports.set(name, { displayName: display, atMs: at('2026-05-27 18:20:00') });
  }
  jobs.push(cosy);

  const failed = make({
    id: SEED_JOB_IDS.failed,
    createdAtMs: at('2026-08-14 10:22:41'),
    model: 'qwen3-8b',
    trainingType: 'sft',
    hyper: { n_epochs: 3, batch_size: 8, learning_rate: 0.0001, max_length: 8192 },
    trainingFileIds: ['file-ft-3e8a0c5d2b7f4a9e8c1d6b3a5f7e9c20'],
    timeline: { pendingMs: 5 * MINUTE, queuingMs: 10 * MINUTE, runningMs: 2 * HOUR },
  });
  failed.failure = { code: 'InvalidDataset', message: 'Training data validation failed: line 12 is not valid JSON' };
  failed.halt = { status: 'FAILED', atMs: at('2026-08-14 10:25:11') };
  jobs.push(failed);

  const canceledAt = at('2026-07-03 15:18:49');
  const canceled = make({
    id: SEED_JOB_IDS.canceled,
    createdAtMs: at('2026-07-03 15:12:09'),
    model: 'qwen3-14b',
    trainingType: 'sft',
    hyper: { n_epochs: 2, batch_size: 16, learning_rate: 0.00002, max_length: 4096 },
    trainingFileIds: ['file-ft-9a4c2e6b8d0f4c1a9e3b5d7f1a2c4e68'],
    timeline: { pendingMs: MINUTE, queuingMs: 20 * MINUTE, runningMs: 3 * HOUR },
    extra: { code: '1' },
  });
  canceled.fields.modifier = '2087654321098765';
  canceled.halt = { status: 'CANCELED', atMs: canceledAt + 2000, cancelRequestedMs: canceledAt };
  jobs.push(canceled);

  const big = make({
    id: SEED_JOB_IDS.bigUsage,
    createdAtMs: at('2026-09-18 11:30:27'),
    model: 'qwen3-32b',
    trainingType: 'efficient_sft',
    hyper: {
      n_epochs: 3,
      batch_size: 16,
      learning_rate: '2.0E-5',
      max_length: 8192,
      lora_rank: 64,
      lora_alpha: 32,
      lora_dropout: 0.1,
      save_strategy: 'steps',
      save_steps: 50,
      save_total_limit: 3,
    },
    trainingFileIds: ['file-ft-51d0e3a7c9b24f6e8a0c2e4b6d8f0a13', 'file-ft-62e1f4b8d0c35a7f9b1d3f5c7e9a1b24'],
    validationFileIds: ['file-ft-73f2a5c9e1d46b8a0c2e4a6d8f0b2c35'],
    suffix: 'legal-v2',
    timeline: { pendingMs: 2 * MINUTE, queuingMs: 48 * MINUTE, runningMs: 19 * HOUR },
    usageTokens: 3123456789,
  });
  big.halt = { status: 'SUCCEEDED', atMs: big.createdAtMs + 50 * MINUTE + 19 * HOUR };
  big.exports.set('checkpoint-300', { displayName: 'legal-assistant-v2', atMs: big.halt.atMs + HOUR });
  jobs.push(big);

  const runningCreated = at('2026-11-25 09:15:33');
  jobs.push(
    make({
      id: SEED_JOB_IDS.running,
      createdAtMs: runningCreated,
      model: 'qwen3-14b',
      trainingType: 'sft',
      hyper: { n_epochs: 2, batch_size: 16, learning_rate: 0.00001, max_length: 8192 },
      trainingFileIds: ['file-ft-84a3b6d0f2e57c9b1d3f5b7e9a1c3d46'],
      timeline: {
        pendingMs: 3 * MINUTE,
        queuingMs: 7 * MINUTE,
        runningMs: Math.max(startMs + 30 * DAY - (runningCreated + 10 * MINUTE), HOUR),
      },
    }),
  );

  jobs.push(
    make({
      id: SEED_JOB_IDS.pending,
      createdAtMs: at('2026-11-26 18:07:12'),
      model: 'qwen3-8b',
      trainingType: 'efficient_sft',
      hyper: { n_epochs: 1, batch_size: 8, learning_rate: 0.0001, lora_rank: 8 },
      trainingFileIds: ['file-ft-95b4c7e1a3f68d0c2e4a6c8f0b2d4e57'],
      timeline: { pendingMs: Infinity, queuingMs: 0, runningMs: HOUR },
    }),
    make({
      id: SEED_JOB_IDS.queuing,
      createdAtMs: at('2026-11-26 14:02:50'),
      model: 'qwen2.5-7b-instruct',
      trainingType: 'sft',
      hyper: { n_epochs: 3, batch_size: 16, learning_rate: 0.00002 },
      trainingFileIds: ['file-ft-a6c5d8f2b4a79e1d3f5b7d9a1c3e5f68'],
      timeline: { pendingMs: 90_000, queuingMs: Infinity, runningMs: HOUR },
    }),
  );

  const drift = make({
    id: SEED_JOB_IDS.drift,
    createdAtMs: at('2026-10-09 08:45:18'),
    model: 'qwen3-8b',
    trainingType: 'sft',
    hyper: { n_epochs: 2, batch_size: 8, learning_rate: 0.0001, experimental_packing: true },
    trainingFileIds: ['file-ft-b7d6e9a3c5b80f2e4a6c8e0b2d4f6a79'],
    timeline: { pendingMs: MINUTE, queuingMs: 4 * MINUTE, runningMs: 2 * HOUR },
    extra: { resource_config: { gpu_type: 'H800', gpu_count: 8, preemptible: true } },
  });
  drift.halt = { status: 'SUSPENDED', atMs: drift.createdAtMs + 35 * MINUTE };
  jobs.push(drift);

  // The contract's Wan example (§6.9, §6.11, §9): usage 432000 = 30 s × (36864 / 1024) × 400 epochs.
  const wan = make({
    id: SEED_JOB_IDS.wanVideo,
    createdAtMs: at('2026-11-11 11:22:05'),
    model: 'wan2.5-i2v-preview',
    trainingType: 'efficient_sft',
    hyper: { n_epochs: 400, batch_size: 2, learning_rate: 0.0002, max_pixels: 36864, lora_rank: 32, lora_alpha: 32 },
    trainingFileIds: ['file-ft-c8e7f0b4d6c91a3f5b7d9f1c3e5a7b80'],
    timeline: { pendingMs: MINUTE, queuingMs: 9 * MINUTE, runningMs: 3 * HOUR },
    usageTokens: 432000,
  });
  wan.checkpoints = [80, 160, 240].map((step, i) => ({ step, checkpoint: `checkpoint-${step}`, fraction: (i + 1) / 3, rank: step }));
  wan.keepCheckpoints = Infinity;
  wan.halt = { status: 'SUCCEEDED', atMs: wan.createdAtMs + 10 * MINUTE + 3 * HOUR };
  wan.exports.set('checkpoint-240', { displayName: 'paper-boat-v1', atMs: wan.halt.atMs + HOUR });
  jobs.push(wan);

  liveSeedJobIds(startMs, clock.offsetMinutes).forEach((id, i) =>
    jobs.push(
      make({
        id,
        createdAtMs: startMs - (LIVE_JOB_AGES_MS[i] ?? 0),
        model: 'qwen3-8b',
        trainingType: 'efficient_sft',
        hyper: { n_epochs: 2, batch_size: 8, learning_rate: 0.0001, save_strategy: 'epoch', save_total_limit: 2 },
        trainingFileIds: [`file-ft-${hash32(`live-file-${i}`).toString(16).padStart(8, '0')}${'0'.repeat(24)}`],
        timeline: { pendingMs: phases.pending, queuingMs: phases.queuing, runningMs: phases.running },
      }),
    ),
  );

  jobs.push(...historicalJobs(make, clock));
  return jobs;
}

type Make = (spec: Omit<NewJob, 'account' | 'validationFileIds' | 'baseModel'> & Partial<NewJob>) => ModelledJob;

/** Filler history across 2025-2026 so that paging has something to page through. */
function historicalJobs(make: Make, clock: NaiveClock): ModelledJob[] {
  const random = seededRandom(20241029);
  const hex = () =>
    Math.floor(random() * 0x10000)
      .toString(16)
      .padStart(4, '0');
  const from = clock.parse('2025-01-06 09:00:00');
  const to = clock.parse('2026-10-30 18:00:00');
  const models = ['qwen3-8b', 'qwen2.5-7b-instruct', 'qwen3-vl-8b-instruct', 'wan2.5-i2v-preview'] as const;
  const jobs: ModelledJob[] = [];
  for (let i = 0; i < HISTORICAL_JOBS; i++) {
    const model = models[i % models.length] ?? 'qwen3-8b';
    const createdAtMs = Math.floor((from + ((to - from) * (i + random() * 0.8)) / HISTORICAL_JOBS) / 1000) * 1000;
    const isWan = model.startsWith('wan');
    const epochs = isWan ? 400 : 1 + (i % 3);
    const hyper: Record<string, unknown> = isWan
      ? { n_epochs: epochs, batch_size: 4, learning_rate: 0.0001, max_pixels: 36864, lora_rank: 32, lora_alpha: 32 }
      : { n_epochs: epochs, batch_size: 8 << (i % 2), learning_rate: i % 2 ? '1e-5' : 0.00002, max_length: 8192 };
    if (model === 'qwen3-vl-8b-instruct') hyper.freeze_vit = true;
    const timeline = {
      pendingMs: Math.floor(30_000 + random() * 90_000),
      queuingMs: Math.floor(MINUTE + random() * 29 * MINUTE),
      runningMs: Math.floor(20 * MINUTE + random() * 6 * HOUR),
    };
    const job = make({
      id: `ft-${clock.idMinute(createdAtMs)}-${hex()}`,
      createdAtMs,
      model,
      trainingType: isWan || i % 4 === 1 ? 'efficient_sft' : 'sft',
      hyper,
      trainingFileIds: [`file-ft-${hash32(`hist-${i}`).toString(16).padStart(8, '0')}${'0'.repeat(24)}`],
      timeline,
      ...(isWan && { usageTokens: 432000 }),
      ...(i % 3 === 0 && { suffix: `v${i}` }),
    });
    const runStart = createdAtMs + timeline.pendingMs + timeline.queuingMs;
    const kind = i % 5;
    if (kind === 0) {
      job.halt = { status: 'SUCCEEDED', atMs: runStart + timeline.runningMs };
    } else if (kind === 1) {
      job.failure = { code: 'InvalidDataset', message: `Training data validation failed: line ${3 + i} is not valid JSON` };
      job.halt = { status: 'FAILED', atMs: createdAtMs + Math.floor(timeline.pendingMs / 2) };
    } else if (kind === 3) {
      job.failure = { code: 'InternalError', message: 'Training process exited abnormally (exit code 137)' };
      job.halt = { status: 'FAILED', atMs: runStart + Math.floor(timeline.runningMs / 3) };
    } else {
      const cancelAt = runStart + Math.floor(timeline.runningMs * random());
      job.halt = { status: 'CANCELED', atMs: cancelAt + 2000, cancelRequestedMs: cancelAt };
    }
    jobs.push(job);
  }
  return jobs;
}

/** The seeded deployment: the contract example job's output model, RUNNING since long before the emulator started. */
export const SEED_DEPLOYMENT_IDS = { running: 'qwen3-14b-suffix-ft-202410291653-1c7f' } as const;

export function seedDeployments(account: EmulatorAccount, clock: NaiveClock, phases: PhaseDurations): StoredDeployment[] {
  const running = newDeployment(
    {
      id: SEED_DEPLOYMENT_IDS.running,
      modelName: SEED_DEPLOYMENT_IDS.running,
      baseModel: 'qwen3-14b',
      plan: 'lora',
      capacity: 2,
      workspaceId: account.workspaceId,
      creator: account.userId,
    },
    clock.parse('2024-10-29 18:02:10'),
    phases,
  );
  return [running];
}

/** Files the tests and docs name in creates (`file-ft-demo` in GraphiQL's tabs, `file-ft-0001` in tests). */
export const SEED_FILE_IDS = { demo: 'file-ft-demo', first: 'file-ft-0001' } as const;

/**
 * The training files of an account: every file its seeded jobs name (training, validation, datasets), made an hour
 * before their job, plus the two fixed ones, made when the emulator starts. Sizes follow from the id.
 */
export function seedFiles(jobs: StoredJob[], startMs: number): StoredFile[] {
  const made = new Map<string, number>();
  for (const job of jobs) {
    if (job.kind !== 'modelled') continue;
    const datasets = Array.isArray(job.fields.training_datasets) ? (job.fields.training_datasets as unknown[]) : [];
    const ids = [
      ...stringsOf(job.fields.training_file_ids),
      ...stringsOf(job.fields.validation_file_ids),
      ...datasets.map((d) => (d as { file_id?: unknown } | null)?.file_id).filter((id): id is string => typeof id === 'string'),
    ];
    for (const id of ids) made.set(id, Math.min(made.get(id) ?? Infinity, job.createdAtMs - 3_600_000));
  }
  for (const id of Object.values(SEED_FILE_IDS)) made.set(id, startMs);
  return [...made].map(([id, atMs]) => ({
    id,
    filename: `${id === SEED_FILE_IDS.demo ? 'demo' : id.slice(8, 16)}-train.jsonl`,
    bytes: 1024 + (hash32(id) % 4_000_000),
    purpose: 'fine-tune',
    createdAt: Math.floor(atMs / 1000),
  }));
}

const stringsOf = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);
