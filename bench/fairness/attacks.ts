import { connect, type Socket } from 'node:net';
import type { FaultRule } from '../../src/emulator/index.js';

/*
 * The ways one tenant misbehaves in the fairness load test (bench/fairness.ts) and in its small-scale twin in the suite
 * (test/integration/fairness.test.ts): one entry of ATTACKS each. An attack runs against a gateway in forward mode
 * while another tenant's dashboard reads jobs (bench/fairness/dashboard.ts); the fairness rule
 * (docs/operations.md#fairness-between-tenants) says that tenant's reads still answer, without errors, within 2 s.
 * To add one: write its `run` (bounded: `width` requests or sockets at once, everything closed once `signal` aborts)
 * and add it to the list.
 */

export interface AttackTarget {
  /** Base URLs of the gateway replicas under attack (`http://127.0.0.1:port`); the dashboard reads from the first. */
  gateways: string[];
  /** The emulator's base URL, for its control API (`/__emulator/…`). */
  emulatorUrl: string;
  /** A key the emulator knows, of the attacking tenant (another account than the dashboard's). */
  attackerKey: string;
}

export interface Attack {
  name: string;
  /** One line: what the tenant does. */
  what: string;
  /** The gateway's environment this attack needs besides forward mode (e.g. `UPSTREAM_RATE_PER_SECOND`). */
  env?: Record<string, string>;
  /** Gateway replicas sharing one Redis the attack needs; 1 (the default): one gateway, no Redis. */
  replicas?: number;
  /** Misbehaving requests (or sockets) at once: in the test suite, and the bench's default. */
  width: { test: number; bench: number };
  /** Misbehaves until `signal` aborts; resolves once every request it made has ended, with how many it made. */
  run(target: AttackTarget, options: { width: number; signal: AbortSignal }): Promise<{ sent: number }>;
}

const UPLOAD = 'mutation($file: File!) { uploadTrainingFile(file: $file) { id } }';
const OPERATIONS = JSON.stringify({ query: UPLOAD, variables: { file: null } });
const MAP = JSON.stringify({ 0: ['variables.file'] });
const LINE = '{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}\n';
const BOUNDARY = 'fairness-boundary';

/** A multipart upload's parts up to the file's first bytes: what a client sends before it stalls or is cut off. */
function uploadHead(filename = 'train.jsonl'): string {
  const part = (name: string, value: string) => `--${BOUNDARY}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  return (
    part('operations', OPERATIONS) +
    part('map', MAP) +
    `--${BOUNDARY}\r\ncontent-disposition: form-data; name="0"; filename="${filename}"\r\ncontent-type: application/octet-stream\r\n\r\n${LINE}`
  );
}

export const multipartHeaders = (key: string) => ({
  'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
  'graphql-preflight': '1',
  authorization: `Bearer ${key}`,
});

/** A made-up bearer string, new each time: in forward mode anyone can send one. */
const madeUpKey = () => `sk-made-up-${Math.random().toString(36).slice(2, 12)}`;

/** `width` loops, each sending one request after another until `signal` aborts. */
async function loops(width: number, signal: AbortSignal, send: (i: number) => Promise<void>): Promise<{ sent: number }> {
  let sent = 0;
  await Promise.all(
    Array.from({ length: width }, async (_, loop) => {
      while (!signal.aborted) {
        sent++;
        await send(loop * 1_000_000 + sent).catch(() => {});
      }
    }),
  );
  return { sent };
}

/** POSTs and reads the whole answer; bounded in time whatever the gateway does. */
async function post(url: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<void> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers,
    body,
    signal: AbortSignal.any([signal, AbortSignal.timeout(30_000)]),
  });
  await response.arrayBuffer();
}

/** A multipart upload complete as HTTP but bad as the caller's own: it ends inside the file, or carries a second file. */
export function brokenUpload(kind: 'cut off' | 'second file'): string {
  const head = uploadHead();
  if (kind === 'cut off') return head;
  return `${head}\r\n--${BOUNDARY}\r\ncontent-disposition: form-data; name="1"; filename="second.jsonl"\r\n\r\n${LINE}\r\n--${BOUNDARY}--\r\n`;
}

/** Uploads failing in the caller's own body (`brokenUpload`), each with a made-up key. */
export const cutOffUploads: Attack = {
  name: 'cut-off uploads',
  what: 'uploads whose multipart body ends inside the file, or carries a second file, each with a made-up key',
  width: { test: 2, bench: 8 },
  run: (target, { width, signal }) =>
    loops(width, signal, (i) =>
      post(target.gateways[0]!, multipartHeaders(madeUpKey()), brokenUpload(i % 2 === 0 ? 'cut off' : 'second file'), signal),
    ),
};

/**
 * An upload that sends its headers (announcing a large body) and the file's first line, then nothing more: the socket
 * and everything the gateway answered on it (a refusal, an error once it gives up waiting).
 */
export function stallUpload(url: string, key: string): { socket: Socket; answered: Promise<string> } {
  const { hostname, port } = new URL(url);
  const head = uploadHead();
  const request =
    `POST /graphql HTTP/1.1\r\nhost: ${hostname}:${port}\r\n` +
    Object.entries(multipartHeaders(key))
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('') +
    `content-length: ${Buffer.byteLength(head) + 10_000_000}\r\n\r\n${head}`;
  const socket = connect(Number(port), hostname, () => socket.write(request));
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
  socket.on('error', () => {});
  const answered = new Promise<string>((resolve) => {
    // The answer is whole once its JSON body closes (chunked or not), or the socket closes.
    socket.on('data', () => /\r\n\r\n[\s\S]*\}\s*(\r\n0\r\n\r\n)?$/.test(received) && resolve(received));
    socket.on('close', () => resolve(received));
  });
  return { socket, answered };
}

/**
 * Sockets that each start an upload with the tenant's real key and then stall (`stallUpload`); one closed by the
 * gateway is opened again, so that `width` stay stalled.
 */
export const stalledUploads: Attack = {
  name: 'stalled uploads',
  what: 'uploads that send their first bytes and then stall, kept open (reopened when closed)',
  width: { test: 72, bench: 96 },
  run: async (target, { width, signal }) => {
    const open = new Set<Socket>();
    let sent = 0;
    const stall = (): Promise<void> =>
      new Promise((resolve) => {
        if (signal.aborted) return resolve();
        sent++;
        const { socket } = stallUpload(target.gateways[0]!, target.attackerKey);
        open.add(socket);
        socket.on('close', () => {
          open.delete(socket);
          // Closed by the gateway: stall again (after a breath, so a gateway refusing at once is not flooded).
          if (!signal.aborted) setTimeout(() => void stall().then(resolve), 50);
          else resolve();
        });
      });
    signal.addEventListener('abort', () => {
      for (const socket of open) socket.destroy();
    });
    await Promise.all(Array.from({ length: width }, stall));
    return { sent };
  },
};

const JOB_PAGE = 'query($page: Int!) { fineTuneJobs(page: $page, pageSize: 10) { total items { id status } } }';
/** A page of the job list: a different page each time, so that no two reads share one upstream call (single-flight). */
const readAs = (target: AttackTarget, key: string, signal: AbortSignal, page = 1) =>
  post(
    target.gateways[0]!,
    { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    JSON.stringify({ query: JOB_PAGE, variables: { page } }),
    signal,
  );

/** Reads of jobs, each with a new made-up key: DashScope answers 401 to every one. */
export const madeUpKeyReads: Attack = {
  name: 'made-up key reads',
  what: 'reads of the job list, each with a new made-up key (DashScope answers 401)',
  width: { test: 8, bench: 32 },
  run: (target, { width, signal }) => loops(width, signal, () => readAs(target, madeUpKey(), signal)),
};

/** Adds a fault rule to the emulator (its control API): how an attack makes DashScope misbehave for some keys only. */
async function injectFault(target: AttackTarget, rule: FaultRule): Promise<void> {
  const response = await fetch(`${target.emulatorUrl}/__emulator/faults`, { method: 'POST', body: JSON.stringify(rule) });
  if (!response.ok) throw new Error(`the emulator refused the fault rule: ${await response.text()}`);
  await response.arrayBuffer();
}

/** Reads with new made-up keys while DashScope takes 3 s to refuse each: a flood of slow 401s. */
export const slowRefusals: Attack = {
  name: 'slow made-up keys',
  what: 'reads with new made-up keys, each refused by DashScope only after 3 s',
  width: { test: 80, bench: 120 },
  run: async (target, { width, signal }) => {
    await injectFault(target, { match: { unknownKey: true }, fault: { kind: 'delay', ms: 3_000 } });
    return loops(width, signal, () => readAs(target, madeUpKey(), signal));
  },
};

/** The tenant's own key, which DashScope answers only after 3 s, read by many requests at once. */
export const slowKey: Attack = {
  name: 'slow key',
  what: "many reads at once with the tenant's own key, which DashScope answers only after 3 s",
  width: { test: 80, bench: 120 },
  run: async (target, { width, signal }) => {
    await readAs(target, target.attackerKey, signal);
    await injectFault(target, { match: { apiKey: target.attackerKey }, fault: { kind: 'delay', ms: 3_000 } });
    return loops(width, signal, (i) => readAs(target, target.attackerKey, signal, 1 + (i % 10_000)));
  },
};

/** The tenant's own key, for which DashScope fails every call (500), read again and again. */
export const failingKey: Attack = {
  name: 'failing key',
  what: "reads with the tenant's own key, for which DashScope answers every call 500",
  width: { test: 4, bench: 16 },
  run: async (target, { width, signal }) => {
    await readAs(target, target.attackerKey, signal);
    await injectFault(target, { match: { apiKey: target.attackerKey }, fault: { kind: 'status', status: 500 } });
    return loops(width, signal, () => readAs(target, target.attackerKey, signal));
  },
};

/** A subscription over SSE with a made-up key: held until the gateway ends it, or cancelled once it started (`hold`). */
async function subscribe(target: AttackTarget, body: object, signal: AbortSignal, hold: boolean): Promise<void> {
  const cancel = new AbortController();
  const response = await fetch(`${target.gateways[0]!}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${madeUpKey()}` },
    body: JSON.stringify(body),
    signal: AbortSignal.any([signal, cancel.signal, AbortSignal.timeout(60_000)]),
  });
  if (hold) await response.arrayBuffer();
  cancel.abort();
}

/** A job id of the right form that no account has. */
const madeUpJobId = (i: number) => `ft-209901010000-${(i % 0x10000).toString(16).padStart(4, '0')}`;

/**
 * Subscriptions on made-up job ids, each with a new made-up key that DashScope takes 3 s to refuse, held open and
 * opened again as soon as the gateway ends one: each holds a poller until DashScope's refusal. With few pollers in all
 * (MAX_POLLERS 16), another tenant's watch needs one too.
 */
export const madeUpKeyPollers: Attack = {
  name: 'made-up key pollers',
  what: 'subscriptions on made-up ids, each with a new made-up key refused after 3 s, held and reopened (rate limit set)',
  env: { MAX_POLLERS: '16', UPSTREAM_RATE_PER_SECOND: '200', UPSTREAM_BURST: '200' },
  width: { test: 24, bench: 48 },
  run: async (target, { width, signal }) => {
    await injectFault(target, { match: { unknownKey: true }, fault: { kind: 'delay', ms: 3_000 } });
    const watch = 'subscription($id: ID!) { fineTuneJobUpdated(id: $id) { id status } }';
    return loops(width, signal, async (i) => {
      await subscribe(target, { query: watch, variables: { id: madeUpJobId(i) } }, signal, true);
      // Refused at once (a cap): a breath before the next, so that a refusing gateway is not flooded.
      await new Promise((resolve) => setTimeout(resolve, 50));
    });
  },
};

/**
 * Subscriptions with a new operation name each and a new made-up key, cancelled as soon as they start (DashScope takes
 * 3 s to refuse the key): each name would become an `operation_name` label if the gateway admitted it.
 */
export const labelExhaustion: Attack = {
  name: 'label exhaustion',
  what: 'subscriptions with a new operation name each and a new made-up key, cancelled before DashScope answers',
  width: { test: 4, bench: 8 },
  run: async (target, { width, signal }) => {
    await injectFault(target, { match: { unknownKey: true }, fault: { kind: 'delay', ms: 3_000 } });
    return loops(width, signal, (i) =>
      subscribe(
        target,
        { query: `subscription Stolen${i}($id: ID!) { fineTuneJobUpdated(id: $id) { id } }`, variables: { id: madeUpJobId(i) } },
        signal,
        false,
      ),
    );
  },
};

/** Every attack, in the order the bench runs them. */
export const ATTACKS: Attack[] = [
  cutOffUploads,
  stalledUploads,
  madeUpKeyReads,
  slowRefusals,
  slowKey,
  failingKey,
  madeUpKeyPollers,
  labelExhaustion,
];
