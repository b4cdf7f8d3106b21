// Fault injection: rules chosen per request (route, method, job, key), and the broken answers they produce. The server
// asks for a fault on every API request after routing, so every route, present or future, can be faulted alike.
import type { ServerResponse } from 'node:http';
import { errorReply, JSON_TYPE, send, type Reply } from './http.js';
import type { Fault, FaultRule, Route } from './control-types.js';

export interface FaultTarget {
  method: string;
  route: Route;
  jobId: string | undefined;
  apiKey: string | undefined;
  /** No account has the key (or none was sent). */
  unknownKey: boolean;
}

export class FaultRules {
  private rules: Array<FaultRule & { remaining: number }> = [];

  add(rule: FaultRule): void {
    this.rules.push({ ...rule, remaining: rule.times ?? Infinity });
  }

  clear(): void {
    this.rules = [];
  }

  /** The first rule that matches, used up by one; undefined when the request is to be answered normally. */
  take(target: FaultTarget): Fault | undefined {
    for (const rule of this.rules) {
      const m = rule.match ?? {};
      if (m.route !== undefined && m.route !== target.route) continue;
      if (m.method !== undefined && m.method.toUpperCase() !== target.method) continue;
      if (m.jobId !== undefined && m.jobId !== target.jobId) continue;
      if (m.apiKey !== undefined && m.apiKey !== target.apiKey) continue;
      if (m.unknownKey !== undefined && m.unknownKey !== target.unknownKey) continue;
      if (rule.probability !== undefined && Math.random() >= rule.probability) continue;
      rule.remaining--;
      if (rule.remaining <= 0) this.rules = this.rules.filter((r) => r !== rule);
      return rule.fault;
    }
    return undefined;
  }
}

/**
 * Answers with `fault` instead of (or bending) the normal reply. `handle` runs the route's handler, so a fault that
 * never calls it (status, html, hang…) leaves the emulator's state untouched, unless the fault is `processed`: then the
 * handler runs first (a create makes its job) and the fault replaces its answer. `sleep` ends with the emulator.
 */
export async function deliverFault(
  res: ServerResponse,
  fault: Fault,
  handle: () => Promise<Reply>,
  sleep: (ms: number) => Promise<void>,
): Promise<void> {
  const processed = fault.processed ? await handle() : undefined;
  const normal = processed ? () => Promise.resolve(processed) : handle;
  switch (fault.kind) {
    case 'status':
      return send(
        res,
        errorReply(fault.status, fault.code, fault.message, fault.retryAfter ? { 'retry-after': fault.retryAfter } : undefined),
      );
    case 'delay':
      await sleep(fault.ms);
      return send(res, await normal());
    case 'hang':
      return; // answered never; close() or the client ends it
    case 'reset':
      res.socket?.resetAndDestroy();
      return;
    case 'truncated-json': {
      const text = JSON.stringify((await normal()).body);
      res.writeHead(200, { 'content-type': JSON_TYPE });
      res.end(text.slice(0, Math.max(1, Math.floor(text.length / 2))));
      return;
    }
    case 'html': {
      const status = fault.status ?? 502;
      res.writeHead(status, { 'content-type': 'text/html' });
      res.end(
        `<html><head><title>${status} Bad Gateway</title></head><body><center><h1>${status} Bad Gateway</h1></center><hr><center>Tengine</center></body></html>`,
      );
      return;
    }
    case 'not-json':
      res.writeHead(200, { 'content-type': JSON_TYPE, 'content-length': 8 });
      res.end('not json');
      return;
    case 'slow-body': {
      const reply = await normal();
      const bytes = Buffer.from(JSON.stringify(reply.body));
      const half = Math.floor(bytes.length / 2);
      res.writeHead(reply.status, { 'content-type': JSON_TYPE, 'content-length': bytes.length });
      res.write(bytes.subarray(0, half));
      await sleep(fault.ms);
      if (!res.destroyed) res.end(bytes.subarray(half));
      return;
    }
    case 'body':
      return send(res, { status: fault.status ?? 200, body: fault.body });
  }
}
