import type { Plugin } from 'graphql-yoga';
import { limitExceeded } from './limits.js';

/** One operation per request, or with batching on, at most `batchLimit` (each with its own fan-out budget). */
export function useBatchLimit(batchLimit: number): Plugin {
  return {
    onRequestParse: () => ({
      onRequestParseDone({ requestParserResult }) {
        if (!Array.isArray(requestParserResult)) return;
        if (batchLimit === 0) throw limitExceeded('batchLimit', 'Send one operation per request: batching is off.', 400);
        if (requestParserResult.length > batchLimit) {
          throw limitExceeded('batchLimit', `A batch may hold at most ${batchLimit} operations, got ${requestParserResult.length}.`, 400);
        }
      },
    }),
  };
}
