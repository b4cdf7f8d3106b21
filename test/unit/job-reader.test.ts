import { describe, expect, it } from 'vitest';
import type { FineTuneJobRecord, JobPageRecord } from '../../src/upstream/dashscope/index.js';
import { JobReader, type JobReaderOptions, type UpstreamReader } from '../../src/upstream/job-reader.js';

const KEY = { apiKey: 'sk-secret-key-1', workspace: undefined };
const OPTIONS: JobReaderOptions = {
  enabled: true,
  ttlMs: 60_000,
  maxEntries: 100,
  maxBytes: 1_000_000,
  nonTerminalTtlMs: 0,
  singleFlight: true,
};

const job = (id: string, isTerminal: boolean) => ({ id, isTerminal, status: isTerminal ? 'SUCCEEDED' : 'RUNNING' }) as FineTuneJobRecord;

/** An upstream whose answers the test releases by hand, recording each call and the signal it got. */
function manualUpstream() {
  const calls: Array<{ id: string; signal: AbortSignal | undefined; resolve: (job: FineTuneJobRecord) => void }> = [];
  const upstream: UpstreamReader = {
    getJob: (_credential, id, signal) => new Promise((resolve) => calls.push({ id, signal, resolve })),
    listJobs: () => Promise.resolve({ total: 0, jobs: [], invalidJobs: 0 } satisfies JobPageRecord),
    getLogs: () => Promise.resolve({ total: 0, lines: [] }),
    listCheckpoints: () => Promise.resolve([]),
  };
  return { upstream, calls };
}

describe('JobReader single-flight', () => {
  it('a caller that goes away does not abort the call the others still wait for', async () => {
    const { upstream, calls } = manualUpstream();
    const reader = new JobReader(upstream, OPTIONS);
    const leaving = new AbortController();
    const gone = reader.getJob(KEY, 'ft-1', leaving.signal);
    const staying = reader.getJob(KEY, 'ft-1', new AbortController().signal);
    expect(calls).toHaveLength(1);
    leaving.abort(new Error('client went away'));
    await expect(gone).rejects.toThrow('client went away');
    expect(calls[0]!.signal?.aborted).toBe(false);
    calls[0]!.resolve(job('ft-1', false));
    await expect(staying).resolves.toMatchObject({ id: 'ft-1' });
  });

  it('aborts the shared call once every caller has gone, and the next caller starts afresh', async () => {
    const { upstream, calls } = manualUpstream();
    const reader = new JobReader(upstream, OPTIONS);
    const a = new AbortController();
    const b = new AbortController();
    const reads = [reader.getJob(KEY, 'ft-1', a.signal), reader.getJob(KEY, 'ft-1', b.signal)].map((p) => p.catch(() => 'aborted'));
    a.abort();
    b.abort();
    expect(await Promise.all(reads)).toEqual(['aborted', 'aborted']);
    expect(calls[0]!.signal?.aborted).toBe(true);
    void reader.getJob(KEY, 'ft-1');
    expect(calls).toHaveLength(2);
  });

  it('does not share between credentials', () => {
    const { upstream, calls } = manualUpstream();
    const reader = new JobReader(upstream, OPTIONS);
    void reader.getJob(KEY, 'ft-1');
    void reader.getJob({ apiKey: 'sk-secret-key-2' }, 'ft-1');
    void reader.getJob({ apiKey: KEY.apiKey, workspace: 'llm-other' }, 'ft-1');
    expect(calls).toHaveLength(3);
  });
});

describe('JobReader cache', () => {
  it('does not cache what a read in flight during an invalidation brings back', async () => {
    const { upstream, calls } = manualUpstream();
    const reader = new JobReader(upstream, OPTIONS);
    const before = reader.getJob(KEY, 'ft-1');
    await reader.invalidate(KEY, 'ft-1');
    // A read after the invalidation does not join the one that started before it.
    const after = reader.getJob(KEY, 'ft-1');
    expect(calls).toHaveLength(2);
    calls[0]!.resolve(job('ft-1', true));
    await before;
    expect(reader.cachedJobs).toBe(0);
    calls[1]!.resolve(job('ft-1', true));
    await after;
    expect(reader.cachedJobs).toBe(1);
  });

  it('bounds its size in bytes', async () => {
    const { upstream, calls } = manualUpstream();
    const reader = new JobReader(upstream, { ...OPTIONS, maxBytes: 200 });
    for (const id of ['ft-1', 'ft-2', 'ft-3']) {
      const read = reader.getJob(KEY, id);
      calls.at(-1)!.resolve({ ...job(id, true), name: 'x'.repeat(20) });
      await read;
    }
    expect(reader.cachedJobs).toBe(1);
  });

  it('forgets every credential’s copy of a job DashScope took a write to, and only the caller’s after a refusal', async () => {
    const { upstream, calls } = manualUpstream();
    const reader = new JobReader(upstream, OPTIONS);
    const spellings = [KEY, { apiKey: KEY.apiKey, workspace: 'llm-named' }, { apiKey: 'sk-secret-key-2', workspace: undefined }];
    const fill = async () => {
      for (const credential of spellings) {
        const read = reader.getJob(credential, 'ft-1');
        calls.at(-1)?.resolve(job('ft-1', true));
        await read;
      }
    };
    await fill();
    expect(reader.cachedJobs).toBe(3);
    // Refused upstream (another tenant's id, a made-up key): the job did not change, the others' copies stay.
    await reader.invalidate(spellings[2]!, 'ft-1', false);
    expect(reader.cachedJobs).toBe(2);
    await fill();
    await reader.invalidate(spellings[1]!, 'ft-1');
    expect(reader.cachedJobs).toBe(0);
    // Every spelling reads DashScope again.
    const before = calls.length;
    for (const credential of spellings) void reader.getJob(credential, 'ft-1');
    expect(calls.length).toBe(before + 3);
  });
});
