// Temporary, for src/security/fan-out.ts only (moving to src/plugins/ on branch h-modules): remove at that merge.
export { limitExceeded } from '../plugins/limits.js';
