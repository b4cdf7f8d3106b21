import {
  GraphQLError,
  Kind,
  parse,
  type OperationDefinitionNode,
  type ParseOptions,
  type Source,
  type SelectionSetNode,
  type ValidationRule,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { limitExceeded, type OperationLimits } from './limits.js';

interface Shape {
  depth: number;
  aliases: number;
  directives: number;
}

/**
 * Depth, aliases and directives of an operation as it would execute: fragments expanded (each spread counts again),
 * cycles ignored (NoFragmentCyclesRule reports them). Introspection fields count neither depth nor aliases: the
 * schema bounds them, and GraphiQL's own introspection query is 13 levels deep.
 */
function measure(operation: OperationDefinitionNode, fragment: (name: string) => { selectionSet: SelectionSetNode } | undefined): Shape {
  const memo = new Map<string, Shape>();
  const visiting = new Set<string>();
  const ofSet = (set: SelectionSetNode | undefined): Shape => {
    const total: Shape = { depth: 0, aliases: 0, directives: 0 };
    for (const selection of set?.selections ?? []) {
      let shape: Shape;
      if (selection.kind === Kind.FIELD) {
        const inner = selection.name.value.startsWith('__') ? { depth: -1, aliases: 0, directives: 0 } : ofSet(selection.selectionSet);
        shape = { depth: inner.depth + 1, aliases: inner.aliases + (selection.alias ? 1 : 0), directives: inner.directives };
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        shape = ofSet(selection.selectionSet);
      } else {
        shape = ofFragment(selection.name.value);
      }
      total.depth = Math.max(total.depth, shape.depth);
      total.aliases += shape.aliases;
      total.directives += shape.directives + (selection.directives?.length ?? 0);
    }
    return total;
  };
  const ofFragment = (name: string): Shape => {
    const known = memo.get(name);
    if (known) return known;
    const definition = fragment(name);
    if (!definition || visiting.has(name)) return { depth: 0, aliases: 0, directives: 0 };
    visiting.add(name);
    const shape = ofSet(definition.selectionSet);
    visiting.delete(name);
    memo.set(name, shape);
    return shape;
  };
  const shape = ofSet(operation.selectionSet);
  return { ...shape, directives: shape.directives + (operation.directives?.length ?? 0) };
}

/** Validation rule: depth, aliases and directives within their limits, before anything executes. */
export function operationLimitsRule(limits: Pick<OperationLimits, 'maxDepth' | 'maxAliases' | 'maxDirectives'>): ValidationRule {
  return function OperationLimitsRule(context) {
    return {
      OperationDefinition(operation) {
        const shape = measure(operation, (name) => context.getFragment(name) ?? undefined);
        if (shape.depth > limits.maxDepth) {
          context.reportError(
            limitExceeded('maxDepth', `The operation is ${shape.depth} levels deep; at most ${limits.maxDepth} are allowed.`),
          );
        }
        if (shape.aliases > limits.maxAliases) {
          context.reportError(
            limitExceeded('maxAliases', `The operation uses ${shape.aliases} aliases; at most ${limits.maxAliases} are allowed.`),
          );
        }
        if (shape.directives > limits.maxDirectives) {
          context.reportError(
            limitExceeded(
              'maxDirectives',
              `The operation uses ${shape.directives} directives; at most ${limits.maxDirectives} are allowed.`,
            ),
          );
        }
        return false;
      },
    };
  };
}

/** Depth, aliases, directives (validation) and tokens (parsing): a rejected document never executes. */
export function useOperationLimits(limits: OperationLimits): Plugin {
  const rule = operationLimitsRule(limits);
  return {
    onParse({ setParseFn }) {
      setParseFn((source: string | Source, options?: ParseOptions) => {
        try {
          return parse(source, { ...options, maxTokens: limits.maxTokens });
        } catch (error) {
          if (error instanceof GraphQLError && error.message.includes('tokens. Parsing aborted')) {
            throw limitExceeded('maxTokens', `The document has more than ${limits.maxTokens} tokens, the most allowed.`);
          }
          throw error;
        }
      });
    },
    onValidate({ addValidationRule }) {
      addValidationRule(rule);
    },
  };
}
