import type { ExecutionResult } from 'graphql';
import { isAsyncIterable, processRegularResult, type Plugin } from 'graphql-yoga';
import { GatewayError } from '../errors/index.js';

type StreamFormat = 'sse' | 'multipart';

/**
 * The stream format a subscription over HTTP gets for this Accept, decided as yoga will decide it, or undefined when
 * none can carry it: text/event-stream (or a range that covers it: `text/*`, `*\/*`, no Accept at all) is SSE, and
 * `multipart/mixed` with `subscriptionSpec` is Apollo's multipart protocol (use-apollo-multipart.ts). Plain
 * `multipart/mixed` (yoga's incremental delivery, `deferSpec`) cannot carry a subscription. A type with `q=0` is
 * refused, per RFC 9110, even where a wider range would cover it; like yoga, a charset other than utf-8 is skipped.
 */
export function subscriptionStreamFormat(accept: string | null): StreamFormat | undefined {
  const ranges = (accept || '*/*').split(',').map((range) => {
    const [type = '', ...params] = range.split(';').map((part) => part.trim().toLowerCase());
    const param = (name: string) => params.find((p) => p.startsWith(`${name}=`))?.slice(name.length + 1);
    const q = Number(param('q') ?? '1');
    const charset = param('charset');
    return { type, params, accepted: q > 0 && (charset === undefined || charset === 'utf-8') };
  });
  const accepted = ranges.filter((range) => range.accepted);
  if (accepted.some((r) => r.type === 'multipart/mixed' && r.params.some((p) => p.startsWith('subscriptionspec')))) return 'multipart';
  const refusesSse = ranges.some((range) => range.type === 'text/event-stream' && !range.accepted);
  if (!refusesSse && accepted.some((r) => ['text/event-stream', 'text/*', '*/*'].includes(r.type))) return 'sse';
  return undefined;
}

const STREAM_CONTENT_TYPE = /^(text\/event-stream|multipart\/mixed)/i;

/**
 * Nothing starts before the response format is known. A subscription over HTTP whose Accept allows no stream is refused
 * before it starts (406, with a body that says what to send): yoga would start it, reading upstream and holding a
 * subscription slot, and then answer a bodiless 406 and never end it. Decided when yoga subscribes, on the document
 * yoga parsed (and cached): before the subscription's resolver reads anything upstream. Operations over graphql-ws
 * carry no Accept (src/gateway/websocket.ts), so they never meet this.
 *
 * Two guards behind it: a refusal that yoga would answer without a body (no JSON type in the Accept) is answered as
 * JSON; and a stream that nothing ends up sending (whatever path yoga takes to refuse the format) is ended, so that
 * its poller and subscription slot are released.
 */
export function useSubscriptionNeedsStream(): Plugin {
  const subscriptionRequests = new WeakSet<Request>();
  // The streams a request's answer holds, until its response is known to carry them.
  const streams = new WeakMap<Request, AsyncIterable<unknown>[]>();
  return {
    onSubscribe({ args, setResultAndStopExecution }) {
      const { request } = args.contextValue as { request?: Request };
      if (!request) return;
      subscriptionRequests.add(request);
      if (subscriptionStreamFormat(request.headers.get('accept'))) return;
      const message =
        'A subscription is a stream: ask for it with Accept: text/event-stream, or multipart/mixed;subscriptionSpec=1.0 (or over graphql-ws).';
      setResultAndStopExecution({
        errors: [new GatewayError(message, { code: 'BAD_USER_INPUT', retryable: false, http: { status: 406 } })],
      });
    },
    onResultProcess(payload) {
      const { request, result } = payload;
      if (!subscriptionRequests.has(request)) return;
      const results: unknown[] = Array.isArray(result) ? result : [result];
      const iterables = results.filter((r): r is AsyncIterable<unknown> => isAsyncIterable(r));
      if (iterables.length > 0) streams.set(request, iterables);
      // Yoga serves a subscription request's plain answer (a refusal, an error) only as SSE or JSON; for any other
      // Accept it would send a bodiless 406.
      else if (
        !/text\/event-stream|application\/(graphql-response\+)?json|\*\/\*|text\/\*|application\/\*/i.test(
          request.headers.get('accept') || '*/*',
        )
      ) {
        payload.setResultProcessor(processRegularResult as Parameters<typeof payload.setResultProcessor>[0], 'application/json');
      }
    },
    onResponse({ request, response }) {
      const started = streams.get(request);
      if (!started || STREAM_CONTENT_TYPE.test(response.headers.get('content-type') ?? '')) return;
      for (const iterable of started) void (iterable as AsyncIterable<ExecutionResult>)[Symbol.asyncIterator]().return?.();
    },
  };
}
