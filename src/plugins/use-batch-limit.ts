import type { Plugin } from 'graphql-yoga';
import { badUserInput } from '../errors/index.js';
import { limitExceeded } from './limits.js';

/**
 * One operation per request, or with batching on, at most `batchLimit` (each with its own fan-out budget). A batch
 * is answered as one JSON array, which cannot carry a stream: a subscription in it gets an error of its own before it
 * starts (yoga would start it, then answer `{}` or a bodiless 406 and never end it); the other operations run.
 */
export function useBatchLimit(batchLimit: number): Plugin {
  const batches = new WeakSet<Request>();
  return {
    onSubscribe({ args, setResultAndStopExecution }) {
      const { request } = args.contextValue as { request?: Request };
      if (!request || !batches.has(request)) return;
      setResultAndStopExecution({
        errors: [
          badUserInput('A subscription cannot be sent in a batch: send it alone, with Accept: text/event-stream (or over graphql-ws).'),
        ],
      });
    },
    onRequestParse: ({ request }) => ({
      onRequestParseDone({ requestParserResult }) {
        if (!Array.isArray(requestParserResult)) return;
        batches.add(request);
        if (batchLimit === 0) throw limitExceeded('batchLimit', 'Send one operation per request: batching is off.', 400);
        if (requestParserResult.length > batchLimit) {
          throw limitExceeded('batchLimit', `A batch may hold at most ${batchLimit} operations, got ${requestParserResult.length}.`, 400);
        }
      },
    }),
  };
}
