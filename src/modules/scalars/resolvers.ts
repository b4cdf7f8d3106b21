import { GraphQLError, GraphQLScalarType, Kind, valueFromASTUntyped, type ValueNode } from 'graphql';

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

export const JSONScalar = new GraphQLScalarType({
  name: 'JSON',
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: (ast, variables) => valueFromASTUntyped(ast, variables),
});
