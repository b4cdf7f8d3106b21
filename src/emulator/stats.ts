import type { ServerResponse } from 'node:http';
import type { EmulatorStats, StatsRequest } from './control-types.js';

const MAX_STATS_REQUESTS = 10_000;

/** What tests and the bench read back: every API request (never the control API), and how many are open at once. */
export class RequestStats {
  private stats: EmulatorStats = { total: 0, byRoute: {}, requests: [], inFlight: 0, maxInFlight: 0 };

  /** Counts the request and keeps it in flight until its connection closes. */
  record(entry: StatsRequest, res: ServerResponse): void {
    const stats = this.stats;
    stats.total++;
    stats.byRoute[entry.route] = (stats.byRoute[entry.route] ?? 0) + 1;
    stats.requests.push(entry);
    if (stats.requests.length > MAX_STATS_REQUESTS) stats.requests.splice(0, stats.requests.length - MAX_STATS_REQUESTS);
    stats.inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    // A request still open across a reset is counted down on the new object, which started from the open count.
    res.once('close', () => this.stats.inFlight--);
  }

  snapshot(): EmulatorStats {
    return structuredClone(this.stats);
  }

  reset(): void {
    const { inFlight } = this.stats;
    this.stats = { total: 0, byRoute: {}, requests: [], inFlight, maxInFlight: inFlight };
  }
}
