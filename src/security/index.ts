import { NoSchemaIntrospectionCustomRule } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { useCsrfPrevention } from './csrf.js';
import { fieldCosts } from '../modules/index.js';
import { useFanOutBudget } from '../plugins/use-fan-out-budget.js';
import type { OperationLimits } from './limits.js';
import { useOperationLimits } from './operation-limits.js';
import { usePublicErrors } from './public-errors.js';
import { useRequestBodyLimit } from './request-body.js';
import { useRequestLog } from './request-log.js';
import type { GatewayLogger } from './logger.js';
import { useBatchLimit } from './batch-limit.js';

export { createLogger, redact, type LogSink } from './logger.js';
export { DEFAULT_LIMITS, type OperationLimits } from './limits.js';
export { upstreamCallBudget } from '../plugins/use-fan-out-budget.js';

function useIntrospectionSwitch(enabled: boolean): Plugin {
  return enabled ? {} : { onValidate: ({ addValidationRule }) => addValidationRule(NoSchemaIntrospectionCustomRule) };
}

/** Every protection of the public edge, in the order a request meets them. */
export function securityPlugins(options: {
  limits: OperationLimits;
  introspection: boolean;
  isDev: boolean;
  logger: GatewayLogger;
  /** Log a line per request and response (LOG_LEVEL=debug). Off, the hooks are not installed at all. */
  logRequests: boolean;
}): Plugin[] {
  return [
    ...(options.logRequests ? [useRequestLog(options.logger)] : []),
    useCsrfPrevention(),
    useRequestBodyLimit(options.limits.maxBodyBytes),
    useBatchLimit(options.limits.batchLimit),
    useOperationLimits(options.limits),
    useIntrospectionSwitch(options.introspection),
    useFanOutBudget(options.limits.maxUpstreamCalls, fieldCosts),
    usePublicErrors(options.isDev, (line) => options.logger.error(line)),
  ];
}
