import type { Plugin } from 'graphql-yoga';
import type { TracingConfig } from '../config.js';

/*
 * OpenTelemetry tracing, off unless an OTLP endpoint is configured (config.tracing). This file holds only what the
 * rest of the gateway sees: the OpenTelemetry SDK, exporter and plugin are in ./otel.ts, imported by startTracing
 * when tracing is on, so that a gateway without tracing never loads them and pays nothing for them.
 */

/** One attempt of an upstream call (a retry is another attempt), as the DashScope client describes it. */
export interface UpstreamAttempt {
  method: string;
  /** The route without ids, e.g. `/fine-tunes/{id}/logs` (endpoint.ts): the span name, which must stay bounded. */
  route: string;
  /** The path sent, ids included: an attribute only. */
  path: string;
  /** 0 for the first attempt, then 1, 2… for the retries of the same call. */
  resend: number;
}

/** What an attempt's span needs from the client while the request runs. */
export interface UpstreamSpan {
  /** Adds the trace context (`traceparent`, `tracestate`) to the outgoing request's headers. */
  inject(headers: Record<string, string>): void;
  /** DashScope answered: its HTTP status and its `request_id`. */
  answered(status: number, requestId: string | undefined): void;
}

export interface UpstreamTracer {
  /** Runs one attempt in a span of its own, a child of the operation's; a rejection marks the span as an error. */
  attempt<T>(attempt: UpstreamAttempt, send: (span: UpstreamSpan) => Promise<T>): Promise<T>;
}

export interface Tracing {
  /** The yoga plugins: the caller's `traceparent`, a span per operation with its error codes. */
  plugins: Plugin[];
  upstream: UpstreamTracer;
  /** Exports the spans still buffered, then stops the exporter. */
  shutdown(): Promise<void>;
}

/** The tracing of one gateway, or undefined when tracing is off (nothing of OpenTelemetry is then loaded). */
export async function startTracing(config: TracingConfig | undefined): Promise<Tracing | undefined> {
  if (!config) return undefined;
  const { createTracing } = await import('./otel.js');
  return createTracing(config);
}
