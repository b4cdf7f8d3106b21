import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import { capReached } from './limits.js';

/**
 * At most `max` subscriptions open at once in the process, whatever their transport (SSE and graphql-ws both
 * subscribe through yoga's enveloped `subscribe`). A slot is taken before the stream starts and given back when it
 * ends, however it ends.
 */
export function useSubscriptionLimit(max: number): Plugin {
  let open = 0;
  return {
    onSubscribe({ setResultAndStopExecution }) {
      if (open >= max) {
        setResultAndStopExecution({
          errors: [capReached('maxSubscriptions', `The gateway serves at most ${max} subscriptions at once; try again later.`)],
        });
        return;
      }
      open++;
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        open--;
      };
      return {
        // An error instead of a stream (bad argument, unknown job) holds no slot.
        onSubscribeResult: ({ result }) => (isAsyncIterable(result) ? { onEnd: release } : release()),
        onSubscribeError: release,
      };
    },
  };
}
