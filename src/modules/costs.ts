import { GraphQLScalarType } from 'graphql';
import type { Resolvers } from '../generated/graphql.js';

type Args = Record<string, unknown>;

/** What one field costs upstream: read by the fan-out budget (src/plugins/use-fan-out-budget.ts) before execution. */
export interface FieldCost {
  /** Upstream calls the field itself makes, at most. */
  calls: (args: Args) => number;
  /** How many times its selection resolves (a list's length). */
  times: (args: Args) => number;
  /**
   * The field reads through a loader the whole operation shares, which de-duplicates across parents (a page of jobs
   * naming the same file): its `calls` are counted once per operation, not once per parent. Reads beyond them are
   * counted by the run-time budget (src/context.ts).
   */
  perOperation?: boolean;
}

/** A resolver that calls nothing upstream (derived from its parent). Explicit, so that no field costs 0 by omission. */
export const FREE: FieldCost = { calls: () => 0, times: () => 1 };
/** One upstream call for a single object. */
export const ONE_CALL: FieldCost = { calls: () => 1, times: () => 1 };
/** A list argument's length; 1 for a single value. */
export const countOf = (value: unknown) => (Array.isArray(value) ? value.length : 1);

/* The generated resolver types carry an index signature (`useIndexSignature`); these keep only the names the schema
   declares, so that a cost for a field or type that does not exist is a type error. */
type Known<T> = keyof { [K in keyof T as string extends K ? never : K]: unknown };
type ObjectTypeName = { [T in Known<Resolvers>]: NonNullable<Resolvers[T]> extends GraphQLScalarType ? never : T }[Known<Resolvers>];

/** Field costs by type and field, keyed by the generated resolver types. */
export type FieldCosts = { [T in ObjectTypeName]?: Partial<Record<Known<NonNullable<Resolvers[T]>>, FieldCost>> };

/** Every domain under src/modules/ exports one: its resolvers and the cost of every field that has a resolver. */
export interface GatewayModule {
  resolvers: Resolvers;
  costs: FieldCosts;
}

/** The modules' resolvers and costs as one map each; a field claimed by two modules is a programming error. */
export function mergeModules(modules: GatewayModule[]): GatewayModule {
  const resolvers: Record<string, unknown> = {};
  const costs: Record<string, Record<string, unknown>> = {};
  const mergeInto = (target: Record<string, unknown>, source: object, what: string) => {
    for (const [typeName, fields] of Object.entries(source) as [string, object][]) {
      if (fields instanceof GraphQLScalarType) {
        if (typeName in target) throw new Error(`Two modules define the scalar ${typeName}`);
        target[typeName] = fields;
        continue;
      }
      const into = (target[typeName] ??= {}) as Record<string, unknown>;
      for (const [field, value] of Object.entries(fields)) {
        if (field in into) throw new Error(`Two modules define the ${what} of ${typeName}.${field}`);
        into[field] = value;
      }
    }
  };
  for (const module of modules) {
    mergeInto(resolvers, module.resolvers, 'resolver');
    mergeInto(costs, module.costs, 'cost');
  }
  return { resolvers, costs };
}
