export { startEmulator } from './server.js';
export { SEED_FILE_IDS, SEED_JOB_IDS, liveSeedJobIds } from './seed.js';
export { DEMO_ACCOUNT, DEMO_API_KEY, type EmulatorAccount, type EmulatorOptions, type PhaseDurations } from './types.js';
export type { Emulator, EmulatorStats, Fault, FaultRule, Route, StatsRequest } from './control-types.js';
