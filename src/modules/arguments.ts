import { GatewayError, badUserInput } from '../errors/index.js';
import { invalidIdReason } from '../upstream/dashscope/index.js';

/* Argument checks shared by the domains: each fails with BAD_USER_INPUT naming the argument, before any upstream call. */

/**
 * The id rule (every id becomes a path segment upstream), as a client error naming the argument and what the id is
 * of; the upstream client enforces the same rule again.
 */
export function checkId(id: string, what: string, argumentName = 'id'): Error | null {
  const reason = invalidIdReason(id);
  return reason
    ? badUserInput(`${JSON.stringify(id.length > 140 ? `${id.slice(0, 128)}…` : id)} is not a valid ${what} id: ${reason}.`, argumentName)
    : null;
}

/** `checkId` for a single id: throws. */
export function requireId(id: string, what: string, argumentName = 'id'): void {
  const invalid = checkId(id, what, argumentName);
  if (invalid) throw invalid;
}

export const checkJobId = (id: string, argumentName = 'id') => checkId(id, 'fine-tune job', argumentName);
export const requireJobId = (id: string, argumentName = 'id') => requireId(id, 'fine-tune job', argumentName);

/** A read of one resource whose field is documented to be null when the resource does not exist (or no longer). */
export async function nullIfNotFound<T>(read: Promise<T>): Promise<T | null> {
  try {
    return await read;
  } catch (error) {
    if (error instanceof GatewayError && error.extensions.code === 'NOT_FOUND') return null;
    throw error;
  }
}

export function requireRange(value: number, min: number, max: number, argumentName: string): void {
  if (value < min || value > max) {
    throw badUserInput(`${argumentName} must be between ${min} and ${max}, got ${value}.`, argumentName);
  }
}
