import { getCurrentOtelContext, setCurrentOtelContext, useOpenTelemetry } from '@envelop/opentelemetry';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, trace, type TextMapGetter, type TextMapSetter } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { Resource } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type Sampler,
} from '@opentelemetry/sdk-trace-base';
import type { ExecutionResult, GraphQLError } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { TracingConfig } from '../config.js';
import { toGatewayError } from '../errors/index.js';
import { currentRequestId } from '../logging/index.js';
import { UpstreamError } from '../upstream/dashscope/errors.js';
import type { Tracing, UpstreamTracer } from './tracing.js';

/*
 * Loaded only when tracing is on (./tracing.ts). The tracer provider is the gateway's own, not registered globally:
 * two gateways in one process (tests) export each to its own endpoint. Only the context manager is global, since
 * envelop's plugin runs resolvers in the operation's context through the global context API.
 */

const propagator = new W3CTraceContextPropagator();
const headerGetter: TextMapGetter<Headers> = {
  get: (headers, key) => headers.get(key) ?? undefined,
  keys: (headers) => [...headers.keys()],
};
const headerSetter: TextMapSetter<Record<string, string>> = {
  set: (headers, key, value) => {
    headers[key] = value;
  },
};

let contextManager: AsyncLocalStorageContextManager | undefined;
/** Once per process: a second registration is refused by the API anyway. */
function enableContextManager(): void {
  if (contextManager) return;
  contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
}

function sampler({ sampler: name, samplerRatio }: TracingConfig): Sampler {
  const ratio = new TraceIdRatioBasedSampler(samplerRatio);
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio;
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio });
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/** The gateway's code for a failed upstream attempt (UPSTREAM_ERROR, RATE_LIMITED, …), else the error's name. */
function errorType(error: unknown): { code?: string; type: string } {
  const code = (toGatewayError(error) as GraphQLError | undefined)?.extensions?.code;
  if (typeof code === 'string') return { code, type: code };
  // An attempt cut off by the operation's end (the caller left, the deadline): an AbortError, no upstream fault.
  return { type: error instanceof Error ? error.name : 'Error' };
}

/**
 * The caller's trace (`traceparent`, `tracestate` of the HTTP request, or of the WebSocket's upgrade request and
 * connection params) as the parent of the operation span: before envelop's plugin, which starts the span in it.
 */
function useCallerTraceContext(): Plugin {
  const adopt = (graphqlContext: unknown) => {
    const request = (graphqlContext as { request?: Request }).request;
    if (request) setCurrentOtelContext(graphqlContext, propagator.extract(ROOT_CONTEXT, request.headers, headerGetter));
  };
  return {
    onExecute: ({ args }) => adopt(args.contextValue),
    onSubscribe: ({ args }) => adopt(args.contextValue),
  };
}

/**
 * On the operation span: the request id (`gateway.request_id`, the `x-request-id` of the response and of every log
 * line about it) and the codes of the errors answered (`graphql.error.codes`). Placed before envelop's plugin: its
 * done-hook ends the span, and done-hooks run in plugin order.
 */
function useOperationAttributes(): Plugin {
  const spanOf = (graphqlContext: unknown) => trace.getSpan(getCurrentOtelContext(graphqlContext));
  const record = (graphqlContext: unknown, result: ExecutionResult) => {
    if (!result.errors?.length) return;
    const span = spanOf(graphqlContext);
    const codes = new Set(
      result.errors.map((error) => error.extensions?.code).map((code) => (typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR')),
    );
    span?.setAttribute('graphql.error.codes', [...codes]);
  };
  const onResult = (graphqlContext: unknown, result: unknown) => {
    const requestId = currentRequestId();
    if (requestId) spanOf(graphqlContext)?.setAttribute('gateway.request_id', requestId);
    if (!isAsyncIterable(result)) return record(graphqlContext, result as ExecutionResult);
    return { onNext: ({ result: next }: { result: ExecutionResult }) => record(graphqlContext, next) };
  };
  return {
    onExecute: ({ args }) => ({ onExecuteDone: ({ result }) => onResult(args.contextValue, result) }),
    onSubscribe: ({ args }) => ({ onSubscribeResult: ({ result }) => onResult(args.contextValue, result) }),
  };
}

function upstreamTracer(provider: BasicTracerProvider): UpstreamTracer {
  const tracer = provider.getTracer('finetune-gateway/upstream');
  return {
    attempt: (attempt, send) =>
      tracer.startActiveSpan(
        `${attempt.method} ${attempt.route}`,
        {
          kind: SpanKind.CLIENT,
          attributes: {
            'http.request.method': attempt.method,
            'url.template': attempt.route,
            'url.path': attempt.path,
            ...(attempt.resend > 0 && { 'http.request.resend_count': attempt.resend }),
          },
        },
        async (span) => {
          try {
            return await send({
              inject: (headers) => propagator.inject(context.active(), headers, headerSetter),
              answered: (status, requestId) => {
                span.setAttribute('http.response.status_code', status);
                if (requestId) span.setAttribute('dashscope.request_id', requestId);
              },
            });
          } catch (error) {
            const { code, type } = errorType(error);
            if (error instanceof UpstreamError) {
              const { httpStatus, requestId } = error.failure;
              if (httpStatus !== undefined) span.setAttribute('http.response.status_code', httpStatus);
              if (requestId) span.setAttribute('dashscope.request_id', requestId);
            }
            span.setAttribute('error.type', type);
            if (code) span.setAttribute('gateway.error.code', code);
            span.setStatus({ code: SpanStatusCode.ERROR, message: type });
            throw error;
          } finally {
            span.end();
          }
        },
      ),
  };
}

export function createTracing(config: TracingConfig): Tracing {
  enableContextManager();
  const exporterOptions = { url: config.url, headers: config.headers };
  const exporter = config.protocol === 'http/json' ? new OtlpJsonExporter(exporterOptions) : new OtlpProtobufExporter(exporterOptions);
  const provider = new BasicTracerProvider({
    resource: new Resource({ 'service.name': config.serviceName }),
    sampler: sampler(config),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: config.batchDelayMs })],
  });
  return {
    plugins: [
      useCallerTraceContext(),
      useOperationAttributes(),
      // A span per operation, `query.JobList`, with `graphql.execute.operationName`/`operationType`. Neither variables
      // nor results are recorded (they hold the caller's data); the document only when it has no inline arguments.
      useOpenTelemetry({ resolvers: false, variables: false, result: false }, provider, SpanKind.SERVER, {}, 'finetune-gateway') as Plugin,
    ],
    upstream: upstreamTracer(provider),
    shutdown: () => provider.shutdown(),
  };
}
