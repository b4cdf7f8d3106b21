export { startEmulator } from './server.js';
export { SEED_FILE_IDS, SEED_JOB_IDS, liveSeedJobIds } from './seed.js';
export {
  DEMO_ACCOUNT,
  DEMO_API_KEY,
  type Emulator,
  type EmulatorAccount,
  type EmulatorOptions,
  type EmulatorStats,
  type Fault,
  type FaultRule,
  type PhaseDurations,
  type Route,
  type StatsRequest,
} from './types.js';
