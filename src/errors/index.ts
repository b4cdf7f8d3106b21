/*
 * The gateway's errors: every error a client sees is a GatewayError carrying one of the codes of `enum ErrorCode`
 * (schema/errors.graphql). Upstream failures and aborts become GatewayErrors in one place, `toGatewayError`
 * (to-gateway-error.ts); `maskError` there is yoga's last resort; the public form is use-public-errors.ts.
 */

export type { ErrorCode } from '../generated/graphql.js';
export { GatewayError, badUserInput, errorCodes, errorResponse, unauthenticated, type GatewayErrorExtensions } from './gateway-error.js';
export { toGatewayError, maskError } from './to-gateway-error.js';
export { cutOffBy, deadlinePassed, deadlineReason, shutdownReason } from './deadline.js';
