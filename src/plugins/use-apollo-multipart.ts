import type { ExecutionResult } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';

/*
 * What Apollo Client's HttpLink needs that graphql-yoga does not do by itself: multipart subscriptions (its persisted
 * queries: use-persisted-queries.ts). A plugin of the one yoga pipeline, so CSRF, body limits, operation limits,
 * masking and logging apply as to any other request.
 */

type ResultProcessor = Parameters<Parameters<NonNullable<Plugin['onResultProcess']>>[0]['setResultProcessor']>[0];

const BOUNDARY = 'graphql';
// Apollo's "multipart HTTP protocol for GraphQL subscriptions": the client asks with this parameter.
const SUBSCRIPTION_SPEC = /multipart\/mixed[^,]*subscriptionspec/i;

/**
 * One part per event, `{"payload": <result>}`; `{}` heartbeats keep proxies from closing a quiet stream; an error of
 * the stream itself ends it with `{"payload": null, "errors": [...]}`. Each part is written as it happens (never
 * compressed: use-response-compression.ts skips multipart).
 */
function multipartSubscription(heartbeatMs: number): ResultProcessor {
  return (result, fetchAPI) => {
    const iterator = (result as AsyncIterable<ExecutionResult>)[Symbol.asyncIterator]();
    const encoder = new fetchAPI.TextEncoder();
    const part = (json: unknown) =>
      encoder.encode(`\r\ncontent-type: application/json; charset=utf-8\r\n\r\n${JSON.stringify(json)}\r\n--${BOUNDARY}`);
    let heartbeat: ReturnType<typeof setInterval> | undefined;
    const stop = () => clearInterval(heartbeat);
    const body = new fetchAPI.ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode(`\r\n--${BOUNDARY}`));
        controller.enqueue(part({}));
        heartbeat = setInterval(() => controller.enqueue(part({})), heartbeatMs);
        // The stream's end or cancel clears it; it never holds the process open by itself.
        heartbeat.unref();
      },
      async pull(controller) {
        try {
          const next = await iterator.next();
          if (next.done) {
            stop();
            controller.enqueue(encoder.encode('--\r\n'));
            controller.close();
            return;
          }
          controller.enqueue(part({ payload: next.value }));
        } catch {
          // Errors inside the operation arrive as results; this is the stream itself failing (details are logged
          // by yoga, never sent).
          stop();
          controller.enqueue(
            part({ payload: null, errors: [{ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] }),
          );
          controller.enqueue(encoder.encode('--\r\n'));
          controller.close();
        }
      },
      async cancel() {
        stop();
        await iterator.return?.();
      },
    });
    return new fetchAPI.Response(body, {
      status: 200,
      headers: {
        'content-type': `multipart/mixed;boundary="${BOUNDARY}";subscriptionSpec="1.0"`,
        'cache-control': 'no-cache',
        connection: 'keep-alive',
      },
    });
  };
}

/** Subscriptions over Apollo's multipart protocol, for clients that ask for it (Apollo Client's HttpLink does). */
export function useApolloMultipartSubscriptions({ heartbeatMs = 5_000 }: { heartbeatMs?: number } = {}): Plugin {
  const processor = multipartSubscription(heartbeatMs);
  return {
    onResultProcess(payload) {
      if (isAsyncIterable(payload.result) && SUBSCRIPTION_SPEC.test(payload.request.headers.get('accept') ?? '')) {
        payload.setResultProcessor(processor, 'multipart/mixed');
      }
    },
  };
}
