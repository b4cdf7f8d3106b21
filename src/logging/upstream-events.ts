import type { ResilienceEvent } from '../upstream/dashscope/index.js';

/** An operator's line: what failed upstream and DashScope's request id to quote to its support. */
export function describeUpstreamEvent(event: ResilienceEvent): string {
  if (event.type === 'breaker') {
    return event.state === 'open'
      ? 'DashScope circuit breaker opened: upstream calls fail fast until a probe succeeds'
      : 'DashScope circuit breaker closed';
  }
  const f = event.failure;
  const status = f.kind === 'http' ? `HTTP ${f.httpStatus}${f.code ? ` ${f.code}` : ''}` : `${f.kind}${f.detail ? ` (${f.detail})` : ''}`;
  return `DashScope ${status} while ${f.action} ${f.subject}${f.requestId ? `, request id ${f.requestId}` : ''}; ${event.retrying ? 'retrying' : 'giving up'}`;
}
