/** Naive wall-clock times in a fixed UTC offset, as DashScope emits them (no zone suffix). */
export class NaiveClock {
  constructor(readonly offsetMinutes: number) {}

  private shifted(ms: number): string {
    return new Date(ms + this.offsetMinutes * 60_000).toISOString();
  }

  /** "yyyy-MM-dd HH:mm:ss" (job create_time/end_time) */
  jobTime(ms: number): string {
    return this.shifted(ms).slice(0, 19).replace('T', ' ');
  }

  /** "yyyy-MM-ddTHH:mm:ss" (checkpoint times) */
  isoTime(ms: number): string {
    return this.shifted(ms).slice(0, 19);
  }

  /** "yyyy-MM-dd HH:mm:ss,mmm" (log lines) */
  logTime(ms: number): string {
    const s = this.shifted(ms);
    return `${s.slice(0, 10)} ${s.slice(11, 19)},${s.slice(20, 23)}`;
  }

  /** "yyyyMMddHHmm" for job ids */
  idMinute(ms: number): string {
    return this.shifted(ms).slice(0, 16).replace(/[-T:]/g, '');
  }

  parse(naive: string): number {
    return Date.parse(`${naive.replace(' ', 'T')}Z`) - this.offsetMinutes * 60_000;
  }
}

/** Deterministic 32-bit hash so logs and numbers derive from the job id alone. */
export function hash32(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

/** mulberry32: a tiny seeded PRNG, so seed data is identical on every start. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
