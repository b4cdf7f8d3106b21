export { createLogger, yogaLogger, REDACT_PATHS, type GatewayLogger, type LogDestination, type LogLevel } from './logger.js';
export { maskKeys, maskSecrets } from './redact.js';
export { logUpstreamEvent } from './upstream-events.js';
export { currentRequestId, requestScope } from './request-scope.js';
