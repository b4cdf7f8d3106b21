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

/**
 * A number that cannot be passed on as the caller wrote it: not finite (1e400 reads as Infinity, which JSON sends as
 * null), or an integer beyond 2^53 (9007199254740993 reads as ...992). Refused rather than sent altered: these
 * values end up in a paid job's parameters. Such a number can be sent as a string.
 */
function inexactNumber(value: number, at: string, literal?: ValueNode & { value: string }): GraphQLError | undefined {
  const shown = literal?.value ?? String(value);
  const refuse = (problem: string) =>
    // A literal's error points at it (graphql-js reports it as is); a variable's is prefixed with the argument's path.
    new GraphQLError(`The JSON number ${shown} at ${at} ${problem}; send it as a string if it is meant so.`, {
      ...(literal && { nodes: literal }),
      extensions: { code: 'BAD_USER_INPUT', retryable: false },
    });
  if (!Number.isFinite(value)) return refuse('is too large for a double (it would be sent as null)');
  if (Number.isInteger(value) && !Number.isSafeInteger(value))
    return refuse('is an integer beyond ±(2^53-1), which cannot be sent exactly (it would be rounded)');
  // 1e-400 reads as 0: a non-zero literal must not become zero.
  if (value === 0 && literal && /[1-9]/.test(literal.value.split(/e/i)[0]!))
    return refuse('is too small for a double (it would be sent as 0)');
  return undefined;
}

/** `scale`, `opts.lr[2]`: where in the JSON value a number sits. */
const pathOf = (at: string, key: string | number) => {
  const root = at === 'the root of the value';
  return typeof key === 'number' ? `${root ? '' : at}[${key}]` : root ? key : `${at}.${key}`;
};

/**
 * Throws when `value` nests deeper than the limit, or holds a number it cannot pass on exactly; its recursion stops at
 * the limit, so it cannot overflow itself.
 */
function checkValue(value: unknown, depth: number, at: string): void {
  if (typeof value === 'number') {
    const inexact = inexactNumber(value, at);
    if (inexact) throw inexact;
  }
  if (typeof value !== 'object' || value === null) return;
  if (depth > JSON_MAX_DEPTH) throw tooDeep();
  if (Array.isArray(value)) value.forEach((item, i) => checkValue(item, depth + 1, pathOf(at, i)));
  else for (const [key, item] of Object.entries(value)) checkValue(item, depth + 1, pathOf(at, key));
}

function jsonValue(value: unknown): unknown {
  checkValue(value, 1, 'the root of the value');
  return value;
}

/**
 * A literal, with the variables inside it replaced by their values (graphql-js's `valueFromASTUntyped`, plus the depth
 * limit). Objects are built with `Object.fromEntries`, so a `__proto__` field is data, never a prototype.
 */
function jsonLiteral(ast: ValueNode, variables: Record<string, unknown> | null | undefined, depth: number, at: string): unknown {
  switch (ast.kind) {
    case Kind.NULL:
      return null;
    case Kind.INT:
    case Kind.FLOAT: {
      const value = Number(ast.value);
      const inexact = inexactNumber(value, at, ast);
      if (inexact) throw inexact;
      return value;
    }
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
      return ast.values.map((item, i) => jsonLiteral(item, variables, depth + 1, pathOf(at, i)));
    case Kind.OBJECT:
      if (depth > JSON_MAX_DEPTH) throw tooDeep();
      return Object.fromEntries(
        ast.fields
          .map((field) => [field.name.value, jsonLiteral(field.value, variables, depth + 1, pathOf(at, field.name.value))] as const)
          // An unset variable leaves its field out, as graphql-js does for input objects.
          .filter(([, value]) => value !== undefined),
      );
  }
}

export const JSONScalar = new GraphQLScalarType({
  name: 'JSON',
  serialize: (value) => value,
  parseValue: jsonValue,
  parseLiteral: (ast, variables) => jsonLiteral(ast, variables, 1, 'the root of the value'),
});
