import type { ResilienceEvent } from '../upstream/dashscope/index.js';
import type { GatewayLogger } from './logger.js';

/**
 * An operator's line for each upstream fault and breaker change, with fields to filter on: `endpoint` (the route
 * template, never an id), `status`, `code`, DashScope's `request_id` to quote to its support, and whether it is
 * retried. DashScope's own text (which clients do not see for a 5xx) is a field too, so a newline in it stays inside
 * the JSON string.
 */
export function logUpstreamEvent(logger: GatewayLogger, event: ResilienceEvent): void {
  if (event.type === 'breaker') {
    // One key's own breaker (forward mode): named by no hash or key, the operator learns that one tenant's calls fail.
    if (event.credential) {
      logger.warn(
        { event: 'upstream.breaker', state: event.state, scope: 'credential' },
        "DashScope circuit breaker opened for one key: that key's calls fail fast until a probe succeeds; other keys are not affected",
      );
      return;
    }
    logger.warn(
      { event: 'upstream.breaker', state: event.state },
      event.state === 'open'
        ? 'DashScope circuit breaker opened: upstream calls fail fast until a probe succeeds'
        : 'DashScope circuit breaker closed',
    );
    return;
  }
  const f = event.failure;
  const status = f.kind === 'http' ? `HTTP ${f.httpStatus}${f.code ? ` ${f.code}` : ''}` : `${f.kind}${f.detail ? ` (${f.detail})` : ''}`;
  logger.warn(
    {
      event: 'upstream.fault',
      endpoint: event.endpoint,
      kind: f.kind,
      status: f.httpStatus,
      code: f.code,
      request_id: f.requestId,
      retrying: event.retrying,
      detail: f.detail,
      upstreamMessage: f.upstreamMessage?.slice(0, 2_000),
    },
    `DashScope ${status} while ${f.action} ${f.subject}; ${event.retrying ? 'retrying' : 'giving up'}`,
  );
}
