import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from 'graphql';
import { GatewayError } from '../../errors/index.js';

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

function rfc3339(value: unknown): string {
  if (typeof value === 'string' && RFC3339.test(value) && !Number.isNaN(Date.parse(value))) return value;
  throw new GraphQLError(`DateTime must be an RFC 3339 string with an offset, got ${JSON.stringify(value)}.`);
}

function safeInt(value: unknown): number {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  throw new GraphQLError(`SafeInt must be an integer between -(2^53-1) and 2^53-1, got ${JSON.stringify(value)}.`);
}

export const DateTime = new GraphQLScalarType({
  name: 'DateTime',
  serialize: rfc3339,
  parseValue: rfc3339,
  parseLiteral: (ast: ValueNode) => rfc3339(ast.kind === Kind.STRING ? ast.value : undefined),
});

export const SafeInt = new GraphQLScalarType({
  name: 'SafeInt',
  serialize: safeInt,
  parseValue: safeInt,
  parseLiteral: (ast: ValueNode) => safeInt(ast.kind === Kind.INT ? Number(ast.value) : undefined),
});

/** Deeper JSON input is refused: nothing upstream takes more, and unbounded depth would overflow the stack. */
export const JSON_MAX_DEPTH = 32;

function tooDeep(): GatewayError {
  return new GatewayError(`JSON input may nest at most ${JSON_MAX_DEPTH} levels of objects and arrays.`, {
    code: 'BAD_USER_INPUT',
    retryable: false,
    limit: 'jsonDepth',
  });
}

/** Throws when `value` nests deeper than the limit; its recursion stops there, so it cannot overflow itself. */
function checkDepth(value: unknown, depth: number): void {
  if (typeof value !== 'object' || value === null) return;
  if (depth > JSON_MAX_DEPTH) throw tooDeep();
  for (const item of Array.isArray(value) ? value : Object.values(value)) checkDepth(item, depth + 1);
}

function jsonValue(value: unknown): unknown {
  checkDepth(value, 1);
  return value;
}

/**
 * A literal, with the variables inside it replaced by their values (graphql-js's `valueFromASTUntyped`, plus the depth
 * limit). Objects are built with `Object.fromEntries`, so a `__proto__` field is data, never a prototype.
 */
function jsonLiteral(ast: ValueNode, variables: Record<string, unknown> | null | undefined, depth: number): unknown {
  switch (ast.kind) {
    case Kind.NULL:
      return null;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(ast.value);
    case Kind.STRING:
    case Kind.ENUM:
      return ast.value;
    case Kind.BOOLEAN:
      return ast.value;
    case Kind.VARIABLE:
      // Its value was checked as a variable (parseValue) already: the whole stays within twice the limit. A check here
      // would run during execution, where graphql-js swallows the error into a vaguer one.
      return variables?.[ast.name.value];
    case Kind.LIST:
      if (depth > JSON_MAX_DEPTH) throw tooDeep();
      return ast.values.map((item) => jsonLiteral(item, variables, depth + 1));
    case Kind.OBJECT:
      if (depth > JSON_MAX_DEPTH) throw tooDeep();
      return Object.fromEntries(
        ast.fields
          .map((field) => [field.name.value, jsonLiteral(field.value, variables, depth + 1)] as const)
          // An unset variable leaves its field out, as graphql-js does for input objects.
          .filter(([, value]) => value !== undefined),
      );
  }
}

export const JSONScalar = new GraphQLScalarType({
  name: 'JSON',
  serialize: (value) => value,
  parseValue: jsonValue,
  parseLiteral: (ast, variables) => jsonLiteral(ast, variables, 1),
});
