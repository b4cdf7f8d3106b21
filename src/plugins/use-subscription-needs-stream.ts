import type { Plugin } from 'graphql-yoga';
import { GatewayError } from '../errors/index.js';

// Media types that can carry a subscription's stream: SSE, multipart (Apollo's protocol), or any.
const STREAMING_ACCEPT = /text\/event-stream|multipart\/mixed|\*\/\*/i;

/**
 * A subscription over HTTP whose Accept allows no stream (plain JSON) is refused before it starts, with a body that
 * says what to send: yoga would start it, reading upstream, and then answer a bodiless 406. Decided when yoga
 * subscribes, on the document yoga parsed (and cached): before the subscription's resolver reads anything upstream.
 * Operations over graphql-ws carry no Accept (src/gateway/websocket.ts), so they never meet this.
 */
export function useSubscriptionNeedsStream(): Plugin {
  return {
    onSubscribe({ args, setResultAndStopExecution }) {
      const { request } = args.contextValue as { request?: Request };
      const accept = request?.headers.get('accept');
      if (!accept || STREAMING_ACCEPT.test(accept)) return;
      const message = 'A subscription is a stream: ask for it with Accept: text/event-stream (or over graphql-ws).';
      setResultAndStopExecution({
        errors: [new GatewayError(message, { code: 'BAD_USER_INPUT', retryable: false, http: { status: 406 } })],
      });
    },
  };
}
