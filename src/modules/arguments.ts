import { badUserInput } from '../errors/index.js';
import { invalidIdReason } from '../upstream/dashscope/index.js';

/* Argument checks shared by the domains: each fails with BAD_USER_INPUT naming the argument, before any upstream call. */

/** The id rule, as a client error naming the argument; the upstream client enforces the same rule again. */
export function checkJobId(id: string, argumentName = 'id'): Error | null {
  const reason = invalidIdReason(id);
  return reason
    ? badUserInput(
        `${JSON.stringify(id.length > 140 ? `${id.slice(0, 128)}…` : id)} is not a valid fine-tune job id: ${reason}.`,
        argumentName,
      )
    : null;
}

/** `checkJobId` for a single id: throws. */
export function requireJobId(id: string, argumentName = 'id'): void {
  const invalid = checkJobId(id, argumentName);
  if (invalid) throw invalid;
}

export function requireRange(value: number, min: number, max: number, argumentName: string): void {
  if (value < min || value > max) {
    throw badUserInput(`${argumentName} must be between ${min} and ${max}, got ${value}.`, argumentName);
  }
}
