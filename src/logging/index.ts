export { createLogger, type GatewayLogger, type LogLevel, type LogSink } from './logger.js';
export { escapeControl, maskKeys, redact } from './redact.js';
export { describeUpstreamEvent } from './upstream-events.js';
export { currentRequestId, requestScope } from './request-scope.js';
