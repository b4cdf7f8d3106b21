import { isObjectType, isUnionType, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql';
import { badUserInput } from '../../errors/index.js';
import { countOf, FREE, type FieldCosts, type GatewayModule } from '../costs.js';

/*
 * Apollo Federation v2 (docs/federation.md). The SDL marks the entities (`@key` beside each type) and each entity's
 * module resolves a reference with `__resolveReference` through its own loader; @apollo/subgraph's builder adds
 * `Query._entities` and `Query._service` (src/schema.ts). What this module adds: their costs, and a check of the
 * representations before any is resolved.
 */

/**
 * `_entities` resolves every representation through the loaders (one upstream read per distinct id, like
 * `fineTuneJobsByIds`), so a huge `representations` list meets the fan-out budget before anything runs. The generated
 * resolver types leave out the federation fields (codegen's `federation: true`), hence the widened type.
 */
const costs = {
  Query: {
    _entities: {
      calls: (a: Record<string, unknown>) => countOf(a.representations),
      times: (a: Record<string, unknown>) => countOf(a.representations),
    },
    _service: FREE,
  },
} as FieldCosts;

export const federationModule: GatewayModule = { resolvers: {}, costs };

/** Why a representation cannot be resolved, or null: an object whose `__typename` is one of our entities, with an `id`. */
function invalidRepresentation(representation: unknown, index: number, entities: ReadonlySet<string>): Error | null {
  const argument = `representations[${index}]`;
  const { __typename, id } = (typeof representation === 'object' && representation ? representation : {}) as Record<string, unknown>;
  if (typeof __typename !== 'string' || !entities.has(__typename)) {
    return badUserInput(`${argument} must have a __typename among ${[...entities].join(', ')}.`, argument);
  }
  if (typeof id !== 'string') return badUserInput(`${argument} must have an "id" string (the @key of ${__typename}).`, argument);
  return null;
}

/**
 * What the builder adds, described like the rest of the schema (GraphiQL's docs; a test checks that every type and
 * field has a description).
 */
const DESCRIPTIONS: Record<string, string> = {
  'Query._entities':
    'Apollo Federation: the entities a supergraph router asks for by key (`FineTuneJob`, `Deployment`, `TrainingFile` by `id`), in the order of `representations`. Read like `fineTuneJobsByIds`, `deployment` and `trainingFile`: the same loaders, limits and error codes.',
  'Query._service': "Apollo Federation: this subgraph's SDL, to compose a supergraph from. Refused with `INTROSPECTION=false`.",
  _Service: 'This subgraph as supergraph composition reads it.',
  '_Service.sdl': "The subgraph's SDL, with its federation directives (`@link`, `@key`).",
  _Any: 'An entity representation: `{ "__typename": "FineTuneJob", "id": "ft-…" }`.',
  _Entity: 'Every type a router can fetch by key with `_entities`.',
  link__Purpose: 'Part of the `@link` specification (https://specs.apollo.dev/link/v1.0).',
  link__Import: 'Part of the `@link` specification (https://specs.apollo.dev/link/v1.0).',
  federation__FieldSet: 'Part of the Apollo Federation specification: the fields of a `@key`.',
};

function describe(schema: GraphQLSchema): void {
  for (const [path, description] of Object.entries(DESCRIPTIONS)) {
    const [typeName, fieldName] = path.split('.') as [string, string | undefined];
    const type = schema.getType(typeName);
    if (!type) continue;
    if (!fieldName) type.description ??= description;
    else if (isObjectType(type)) {
      const field = type.getFields()[fieldName];
      if (field) field.description ??= description;
    }
  }
}

/** What the subgraph builder leaves to do: descriptions, and the check of `_entities` representations. */
export function completeSubgraph(schema: GraphQLSchema): void {
  describe(schema);
  checkRepresentations(schema);
}

/**
 * Checks each representation before the builder's resolver sees it: one it cannot resolve (an unknown `__typename`, no
 * `id`) would otherwise fail the whole `_entities` list with an internal error. Instead it is `null` with a
 * BAD_USER_INPUT error at its index, and the others still resolve.
 */
function checkRepresentations(schema: GraphQLSchema): void {
  const field = schema.getQueryType()?.getFields()._entities;
  const resolve = field?.resolve;
  if (!field || !resolve) return;
  // The builder's union of every type with a `@key`.
  const union = schema.getType('_Entity');
  const entities = new Set(isUnionType(union) ? union.getTypes().map((type) => type.name) : []);
  const checked: GraphQLFieldResolver<unknown, unknown> = (source, args: { representations: unknown[] }, context, info) => {
    const problems = args.representations.map((representation, index) => invalidRepresentation(representation, index, entities));
    const resolved = resolve(
      source,
      { representations: args.representations.filter((_, index) => !problems[index]) },
      context,
      info,
    ) as unknown[];
    let next = 0;
    return problems.map((problem) => (problem ? Promise.reject(problem) : resolved[next++]));
  };
  field.resolve = checked;
}
