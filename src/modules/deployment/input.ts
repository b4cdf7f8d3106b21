import { badUserInput } from '../../errors/index.js';
import type { CreateDeploymentInput } from '../../generated/graphql.js';
import type { CreateDeploymentBody } from '../../upstream/dashscope/index.js';

/* The checks of a deployment's input: each fails with BAD_USER_INPUT naming the field, before any upstream call. */

export const MAX_CAPACITY = 100;
/** A job's output model or an exported checkpoint's name: the id alphabet, starting with a letter or digit. */
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
/** Known: `lora`, `full`; lower-case so that a new plan passes without a gateway release. */
const PLAN = /^[a-z][a-z0-9_]{0,31}$/;
const SUFFIX = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;

export function requireCapacity(capacity: number, argumentName: string): void {
  if (capacity < 1 || capacity > MAX_CAPACITY) {
    throw badUserInput(`${argumentName} must be between 1 and ${MAX_CAPACITY}, got ${capacity}.`, argumentName);
  }
}

const shown = (value: string) => JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);

export function toCreateDeploymentBody(input: CreateDeploymentInput): CreateDeploymentBody {
  if (!MODEL_NAME.test(input.modelName)) {
    throw badUserInput(
      `input.modelName ${shown(input.modelName)} is not a model name: 1 to 128 letters, digits, _ . : - starting with a letter or digit.`,
      'input.modelName',
    );
  }
  // The SDL's default applies to a literal input; a variable's object may leave it out.
  const capacity = input.capacity ?? 1;
  requireCapacity(capacity, 'input.capacity');
  if (input.plan != null && !PLAN.test(input.plan)) {
    throw badUserInput(`input.plan ${shown(input.plan)} is not a plan: lower-case letters, digits and _ (e.g. "lora").`, 'input.plan');
  }
  if (input.suffix != null && !SUFFIX.test(input.suffix)) {
    throw badUserInput(`input.suffix ${shown(input.suffix)} must be 1 to 32 letters, digits, - or _.`, 'input.suffix');
  }
  return {
    model_name: input.modelName,
    capacity,
    ...(input.plan != null && { plan: input.plan }),
    ...(input.suffix != null && { suffix: input.suffix }),
  };
}
