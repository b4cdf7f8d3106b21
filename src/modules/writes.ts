import { GatewayError, cutOffBy, toGatewayError, type GatewayErrorExtensions } from '../errors/index.js';
import { UpstreamError, mayHaveTakenEffect } from '../upstream/dashscope/index.js';

/* What every domain's writes share: answering by the operation deadline, and telling a client when a create may have
   made its resource although it failed (DashScope has no idempotency key of its own). */

export type CutOff = 'deadline' | 'shutdown';

/** Why a write was cut off, as the start of a sentence. */
export const cutOffCause = (by: CutOff) => (by === 'deadline' ? 'The operation deadline passed' : 'The gateway began shutting down');

/**
 * A write answers by the operation deadline (or the end of the shutdown grace) even when DashScope has not: the call
 * itself goes on (bounded by the upstream timeouts, or until shutdown ends), so that a create's outcome is still
 * recorded for its idempotency key, and a retry gets what it made.
 */
export function byDeadline<T>(write: Promise<T>, signal: AbortSignal | undefined, cutOff: (by: CutOff) => GatewayError): Promise<T> {
  if (!signal) return write;
  return new Promise<T>((resolve, reject) => {
    // The caller gone: the abort in its GraphQL form.
    const onAbort = () => {
      const by = cutOffBy(signal);
      reject(by ? cutOff(by) : (toGatewayError(signal.reason, signal) as Error));
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    write.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** The request may have reached DashScope and made what it asked for. */
export const mayHaveCreated = (error: unknown) => error instanceof UpstreamError && mayHaveTakenEffect(error.failure);

/**
 * Whether a write that failed with `error` may still have changed its resource: anything but a refusal (a 4xx, the
 * gateway's own rate limit, a request never sent). A write cut off by the deadline goes on, so it may.
 */
export const mayHaveChanged = (error: unknown) => !(error instanceof UpstreamError) || mayHaveTakenEffect(error.failure);

export interface Created {
  /** `job`, `deployment`: in the advice. */
  noun: string;
  /** Where the client looks before creating again without a key. */
  listHint: string;
  /** The extension that says so: `jobMayExist`, `deploymentMayExist`. */
  flag: 'jobMayExist' | 'deploymentMayExist';
}

/** What a client must be told when a create may have made its resource: whether and how a retry is safe. */
export function mayExist(created: Created, message: string, extensions: GatewayErrorExtensions, keyed: boolean): GatewayError {
  const advice = keyed
    ? `DashScope may have created the ${created.noun}: a retry with the same idempotencyKey is safe, and returns that ${created.noun} instead of creating another.`
    : `DashScope may have created the ${created.noun}: check ${created.listHint} before creating it again. With an idempotencyKey, a retry would be safe.`;
  return new GatewayError(`${message} ${advice}`, { ...extensions, retryable: keyed, [created.flag]: true });
}

/** A failed create in its GraphQL form: one that may have reached DashScope says so. */
export function createFailure(created: Created, error: unknown, keyed: boolean): unknown {
  const converted = toGatewayError(error);
  return mayHaveCreated(error) && converted instanceof GatewayError
    ? mayExist(created, converted.message, converted.extensions as unknown as GatewayErrorExtensions, keyed)
    : converted;
}
