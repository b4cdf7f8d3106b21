import { SEED_JOB_IDS } from '../../src/emulator/seed.js';

/*
 * The other tenant of the fairness load test: a dashboard that polls its jobs (the list, and a running job, both read
 * upstream every time) through the gateway with its own key, and what it saw: latencies and errors.
 */

const READS = [
  JSON.stringify({ query: '{ fineTuneJobs(pageSize: 10) { total items { id status } } }' }),
  JSON.stringify({
    query: 'query($id: ID!) { fineTuneJob(id: $id) { id status durationSeconds } }',
    variables: { id: SEED_JOB_IDS.running },
  }),
];

/** A read that takes longer than this is given up and counted as an error (`timeout`). */
const READ_TIMEOUT_MS = 30_000;

export interface DashboardReport {
  reads: number;
  /** Reads that failed: an error in the answer, a non-200 status, no answer. */
  errors: number;
  /** The failures by error code (or `HTTP n`, `network`, `timeout`). */
  codes: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** One read; its outcome: `ok`, the first error code, `HTTP n`, `timeout` or `network`. */
export async function readOnce(url: string, key: string, body: string = READS[0]!): Promise<string> {
  try {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', authorization: `Bearer ${key}` },
      body,
      signal: AbortSignal.timeout(READ_TIMEOUT_MS),
    });
    const json = (await response.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
    if (json.errors?.length) return String(json.errors[0]?.extensions?.code ?? 'no code');
    return response.status === 200 ? 'ok' : `HTTP ${response.status}`;
  } catch (error) {
    return error instanceof Error && error.name === 'TimeoutError' ? 'timeout' : 'network';
  }
}

/** `readers` loops reading the dashboard's queries in turn, `pauseMs` apart, until `signal` aborts. */
export async function pollDashboard(
  url: string,
  key: string,
  { signal, readers = 2, pauseMs = 50 }: { signal: AbortSignal; readers?: number; pauseMs?: number },
): Promise<DashboardReport> {
  const latencies: number[] = [];
  const codes: Record<string, number> = {};
  let errors = 0;
  await Promise.all(
    Array.from({ length: readers }, async (_, reader) => {
      for (let n = reader; !signal.aborted; n++) {
        const started = performance.now();
        const outcome = await readOnce(url, key, READS[n % READS.length]);
        latencies.push(performance.now() - started);
        if (outcome !== 'ok') {
          errors++;
          codes[outcome] = (codes[outcome] ?? 0) + 1;
        }
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { reads: latencies.length, errors, codes, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: at(1) };
}
