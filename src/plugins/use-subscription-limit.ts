import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import { capReached } from './limits.js';

/**
 * At most `max` subscriptions open at once in the process, whatever their transport (SSE and graphql-ws both
 * subscribe through yoga's enveloped `subscribe`), and at most `perCredential` of them for one credential (`scopeOf`
 * names it: its API key whatever the workspace, or the one share of every key DashScope has not answered yet), so that
 * one tenant, or a flood of made-up keys, cannot hold every slot. A slot is taken before the stream starts and given back when
 * it ends, however it ends.
 */
export function useSubscriptionLimit(
  max: number,
  perCredential: number,
  scopeOf: (headers: Headers) => string,
): Plugin & { largestShare: () => number } {
  let open = 0;
  const byScope = new Map<string, number>();
  return {
    // For metrics: the share closest to its cap, without naming whose it is.
    largestShare: () => Math.max(0, ...byScope.values()),
    onSubscribe({ args, setResultAndStopExecution }) {
      if (open >= max) {
        setResultAndStopExecution({
          errors: [capReached('maxSubscriptions', `The gateway serves at most ${max} subscriptions at once; try again later.`)],
        });
        return;
      }
      const { request } = args.contextValue as { request?: Request };
      const scope = request ? scopeOf(request.headers) : '';
      const held = byScope.get(scope) ?? 0;
      if (held >= perCredential) {
        setResultAndStopExecution({
          errors: [
            capReached(
              'maxSubscriptionsPerCredential',
              `One API key may hold at most ${perCredential} subscriptions at once (keys DashScope has not answered yet share one such share): end one or try again later.`,
            ),
          ],
        });
        return;
      }
      open++;
      byScope.set(scope, held + 1);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        open--;
        const left = (byScope.get(scope) ?? 1) - 1;
        if (left > 0) byScope.set(scope, left);
        else byScope.delete(scope);
      };
      return {
        // An error instead of a stream (bad argument, unknown job) holds no slot.
        onSubscribeResult: ({ result }) => (isAsyncIterable(result) ? { onEnd: release } : release()),
        onSubscribeError: release,
      };
    },
  };
}
