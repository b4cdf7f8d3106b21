// Temporary, for src/security/fan-out.ts only (moving to src/plugins/ on branch h-modules): remove at that merge.
export { GatewayError } from './errors/index.js';
