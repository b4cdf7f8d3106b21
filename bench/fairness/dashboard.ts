import { SEED_JOB_IDS } from '../../src/emulator/seed.js';

/*
 * The other tenant of the fairness load test: a dashboard that polls its jobs (the list, and a running job, both read
 * upstream every time) and watches the running job live (a subscription's first value) through the gateway with its
 * own key, and what it saw: latencies and errors. Its operations are named, as a real dashboard's are, and a name
 * the gateway's metrics count as `other` (their room taken by someone else) is an error too.
 */

const READS = [
  JSON.stringify({ query: 'query DashboardJobs { fineTuneJobs(pageSize: 10) { total items { id status } } }' }),
  JSON.stringify({
    query: 'query DashboardJob($id: ID!) { fineTuneJob(id: $id) { id status durationSeconds } }',
    variables: { id: SEED_JOB_IDS.running },
  }),
  JSON.stringify({
    query: 'subscription DashboardWatch($id: ID!) { fineTuneJobUpdated(id: $id) { id status } }',
    variables: { id: SEED_JOB_IDS.running },
  }),
];
/** The dashboard's operation names, each of which must be a label of its own in the gateway's metrics. */
const NAMES = ['DashboardJobs', 'DashboardJob', 'DashboardWatch'];

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

/**
 * One read (a subscription: its first value, over SSE, then the stream is closed); its outcome: `ok`, the first error
 * code, `HTTP n`, `timeout` or `network`.
 */
export async function readOnce(url: string, key: string, body: string = READS[0]!): Promise<string> {
  const live = body.includes('"subscription ');
  const done = new AbortController();
  try {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: live ? 'text/event-stream' : 'application/graphql-response+json',
        authorization: `Bearer ${key}`,
      },
      body,
      signal: AbortSignal.any([done.signal, AbortSignal.timeout(READ_TIMEOUT_MS)]),
    });
    const json = (live ? await firstEvent(response) : await response.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
    if (json.errors?.length) return String(json.errors[0]?.extensions?.code ?? 'no code');
    return response.status === 200 ? 'ok' : `HTTP ${response.status}`;
  } catch (error) {
    return error instanceof Error && error.name === 'TimeoutError' ? 'timeout' : 'network';
  } finally {
    done.abort();
  }
}

/** The first `next` event of a GraphQL-over-SSE answer, as JSON. */
async function firstEvent(response: Response): Promise<unknown> {
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    text += decoder.decode(chunk, { stream: true });
    const data = /^event: next\ndata: (.*)$/m.exec(text)?.[1];
    if (data !== undefined && text.includes('\n\n', text.indexOf(data))) return JSON.parse(data) as unknown;
  }
  throw new Error(`the stream ended without a value: ${text.slice(0, 200)}`);
}

/** The dashboard's operation names the gateway's metrics do not count under their own name (`other`). */
async function unlabelled(url: string): Promise<string[]> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return NAMES.filter((name) => !text.includes(`operation_name="${name}"`));
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
  // A name whose room in the metrics someone else took: the dashboard's operations cannot be told apart any more.
  for (const name of await unlabelled(url)) {
    errors++;
    codes[`${name} counted as other`] = 1;
  }
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { reads: latencies.length, errors, codes, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: at(1) };
}
