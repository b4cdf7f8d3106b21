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
  // DashScope's own text, which clients do not see for a 5xx: JSON-quoted (a newline in it cannot forge a log line),
  // and redacted by the logger like every line.
  const said = f.upstreamMessage ? `: ${JSON.stringify(f.upstreamMessage.slice(0, 2_000))}` : '';
  return `DashScope ${status} while ${f.action} ${f.subject}${f.requestId ? `, request id ${f.requestId}` : ''}${said}; ${event.retrying ? 'retrying' : 'giving up'}`;
}
