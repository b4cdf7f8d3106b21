import {
  getArgumentValues,
  getNamedType,
  getVariableValues,
  isObjectType,
  isInterfaceType,
  Kind,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { GatewayError } from '../errors/index.js';
import type { FieldCost, FieldCosts } from '../modules/costs.js';
import { limitExceeded } from './limits.js';

type Args = Record<string, unknown>;
/** Field costs as the modules declare them (src/modules/costs.ts), read by type name and field name. */
type CostTable = Partial<Record<string, Partial<Record<string, FieldCost>>>>;

/** Estimates that read no variable, per cost table and document (yoga's parse cache hands back the same document object). */
const constantEstimatesByCosts = new WeakMap<FieldCosts, WeakMap<DocumentNode, Map<string, number | null>>>();

/** Whether a cost function reads its arguments: `ONE_CALL` and `() => 2` do not, and need no argument values at all. */
const readsArgs = (cost: FieldCost) => cost.calls.length > 0 || cost.times.length > 0;

function hasVariable(node: ValueNode): boolean {
  if (node.kind === Kind.VARIABLE) return true;
  if (node.kind === Kind.LIST) return node.values.some(hasVariable);
  if (node.kind === Kind.OBJECT) return node.fields.some((f) => hasVariable(f.value));
  return false;
}

/**
 * The most upstream calls an operation can cause: per field cost (declared by each module beside its resolvers; a
 * field without a resolver costs nothing and resolves its selection once), multiplied by the list sizes above it;
 * aliases count each time; a `perOperation` field's calls count once for the whole operation. `null` when the variables do not coerce (execution then fails before any call). Runs before every
 * execution, so it reads arguments only where the cost depends on them, and remembers estimates that read no variable.
 */
export function estimateUpstreamCalls(
  fieldCosts: FieldCosts,
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  rawVariables: Args | null | undefined,
): number | null {
  const costs = fieldCosts as CostTable;
  let constantEstimates = constantEstimatesByCosts.get(fieldCosts);
  if (!constantEstimates) constantEstimatesByCosts.set(fieldCosts, (constantEstimates = new WeakMap()));
  const memoKey = operationName ?? '';
  const memo = constantEstimates.get(document)?.get(memoKey);
  if (memo !== undefined) return memo;
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const operation = operationName
    ? operations.find((o) => o.name?.value === operationName)
    : operations.length === 1
      ? operations[0]
      : undefined;
  const root = operation && schema.getRootType(operation.operation);
  if (!operation || !root) return null;
  let variables: Args | null | undefined;
  let readVariables = false;
  const variableValues = (): Args | null => {
    readVariables = true;
    if (variables === undefined) {
      const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], rawVariables ?? {});
      variables = coerced.errors ? null : coerced.coerced;
    }
    return variables;
  };
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const fragmentCosts = new Map<string, number>();
  // Fields whose calls count once per operation (`perOperation`): counted on first sight, outside the list products.
  const perOperationSeen = new Set<string>();
  let perOperationCalls = 0;

  const ofSet = (set: SelectionSetNode | undefined, type: GraphQLNamedType | undefined): number => {
    let total = 0;
    for (const selection of set?.selections ?? []) {
      if (selection.kind === Kind.INLINE_FRAGMENT) {
        total += ofSet(selection.selectionSet, selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : type);
      } else if (selection.kind === Kind.FRAGMENT_SPREAD) {
        total += ofFragment(selection.name.value);
      } else if (isObjectType(type) || isInterfaceType(type)) {
        const field = type.getFields()[selection.name.value];
        if (!field) continue;
        const cost = costs[type.name]?.[field.name];
        let args: Args = {};
        if (cost && readsArgs(cost)) {
          const usesVariables = selection.arguments?.some((a) => hasVariable(a.value)) ?? false;
          const values = usesVariables ? variableValues() : {};
          if (values === null) continue; // the operation fails before any call
          try {
            args = getArgumentValues(field, selection, values);
          } catch {
            continue; // Invalid arguments fail the field before it resolves.
          }
        }
        const inner = ofSet(selection.selectionSet, getNamedType(field.type));
        let calls = cost?.calls(args) ?? 0;
        if (cost?.perOperation) {
          const key = `${type.name}.${field.name}`;
          if (!perOperationSeen.has(key)) perOperationCalls += calls;
          perOperationSeen.add(key);
          calls = 0;
        }
        total += calls + (cost?.times(args) ?? 1) * inner;
      }
    }
    return total;
  };
  const ofFragment = (name: string): number => {
    const known = fragmentCosts.get(name);
    if (known !== undefined) return known;
    const fragment = fragments.get(name);
    fragmentCosts.set(name, 0); // cycles are a validation error; this only keeps the walk finite
    const cost = fragment ? ofSet(fragment.selectionSet, schema.getType(fragment.typeCondition.name.value)) : 0;
    fragmentCosts.set(name, cost);
    return cost;
  };
  const estimate = ofSet(operation.selectionSet, root) + perOperationCalls;
  if (variables === null) return null;
  if (!readVariables) {
    const perOperation = constantEstimates.get(document) ?? new Map<string, number | null>();
    perOperation.set(memoKey, estimate);
    constantEstimates.set(document, perOperation);
  }
  return estimate;
}

/**
 * The fan-out budget, up front: an operation whose estimate exceeds `maxUpstreamCalls` is refused before it executes.
 * The run-time counter in the context (`upstreamCallBudget`) stops whatever the estimate cannot see.
 */
export function useFanOutBudget(maxUpstreamCalls: number, fieldCosts: FieldCosts): Plugin {
  const check = ({
    args,
    setResultAndStopExecution,
  }: {
    args: { schema: GraphQLSchema; document: DocumentNode; operationName?: string | null; variableValues?: Args | null };
    setResultAndStopExecution: (result: { errors: GatewayError[] }) => void;
  }) => {
    const estimate = estimateUpstreamCalls(fieldCosts, args.schema, args.document, args.operationName, args.variableValues);
    if (estimate !== null && estimate > maxUpstreamCalls) {
      setResultAndStopExecution({
        errors: [
          limitExceeded(
            'maxUpstreamCalls',
            `The operation could make up to ${estimate} upstream calls; at most ${maxUpstreamCalls} are allowed. Ask for fewer ids, a smaller pageSize or fewer aliases, or leave out checkpoints and logs in lists.`,
          ),
        ],
      });
    }
  };
  return { onExecute: check, onSubscribe: check };
}

/** The run-time side of the budget, one per operation: `take()` before each upstream call; an error once spent. */
export function upstreamCallBudget(maxUpstreamCalls: number) {
  let calls = 0;
  return {
    take(): GatewayError | null {
      calls++;
      return calls > maxUpstreamCalls
        ? new GatewayError(`The operation reached its budget of ${maxUpstreamCalls} upstream calls; this part was not fetched.`, {
            code: 'BAD_USER_INPUT',
            retryable: false,
            limit: 'maxUpstreamCalls',
          })
        : null;
    },
  };
}
