export interface EmulatorAccount {
  apiKey: string;
  workspaceId: string;
  userId: string;
  seed?: boolean;
}

/** A training file as the emulator keeps it (its bytes are counted, never kept). */
export interface StoredFile {
  id: string;
  filename: string;
  bytes: number;
  purpose: string;
  /** Unix seconds. */
  createdAt: number;
}

export interface PhaseDurations {
  pending: number;
  queuing: number;
  running: number;
}

export interface EmulatorOptions {
  host?: string;
  port?: number;
  accounts?: EmulatorAccount[];
  now?: () => number;
  timeZoneOffsetMinutes?: number;
  phaseDurationsMs?: PhaseDurations;
  deleteNonTerminal?: boolean;
  jobQuota?: number;
  latencyMs?: number;
}

/** The emulator's demo key: `npm run dev`'s default, and what tests and the bench send. */
export const DEMO_API_KEY = 'sk-emulator-demo';

export const DEMO_ACCOUNT: EmulatorAccount = {
  apiKey: DEMO_API_KEY,
  workspaceId: 'llm-demo0001',
  userId: '1234567890123456',
  seed: true,
};
