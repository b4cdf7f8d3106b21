import { GraphQLScalarType, isObjectType } from 'graphql';
import { describe, expect, it } from 'vitest';
import codegenConfig from '../../codegen.js';
import { FREE, ONE_CALL, mergeModules } from '../../src/modules/costs.js';
import { fieldCosts, resolvers } from '../../src/modules/index.js';
import { buildSchema, SDL_GLOBS } from '../../src/schema.js';

/*
 * A field reaches the upstream only through a resolver; the fan-out budget knows only the costs the modules declare.
 * So every root field and every field with a resolver must declare a cost, `FREE` included: a new field can then
 * not cost 0 by omission.
 */
const schema = buildSchema();
const costs = fieldCosts as Record<string, Record<string, unknown> | undefined>;
const declared = (typeName: string, field: string) => costs[typeName]?.[field] !== undefined;

describe('field costs (src/modules/*/ beside each resolver)', () => {
  it('declares a cost for every root field', () => {
    const missing = [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].flatMap((root) =>
      Object.keys(root?.getFields() ?? {})
        .filter((field) => !declared(root!.name, field))
        .map((field) => `${root!.name}.${field}`),
    );
    expect(missing).toEqual([]);
  });

  it('declares a cost for every field that has a resolver', () => {
    const missing = Object.entries(resolvers)
      .filter(([, fields]) => !(fields instanceof GraphQLScalarType))
      .flatMap(([typeName, fields]) =>
        Object.keys(fields as object)
          // `__resolveReference` is no field: the references it resolves are paid for by `Query._entities`.
          .filter((field) => !field.startsWith('__') && !declared(typeName, field))
          .map((field) => `${typeName}.${field}`),
      );
    expect(missing).toEqual([]);
  });

  it('declares costs only for fields of the schema that have a resolver', () => {
    const stray = Object.entries(costs).flatMap(([typeName, fields]) =>
      Object.keys(fields ?? {})
        .filter((field) => {
          // A resolver of a module, or of the subgraph builder (`_entities`, `_service`).
          const type = schema.getType(typeName);
          return !isObjectType(type) || !type.getFields()[field]?.resolve;
        })
        .map((field) => `${typeName}.${field}`),
    );
    expect(stray).toEqual([]);
  });
});

describe('mergeModules', () => {
  it('joins the fields two modules add to one type, and refuses a field both define', () => {
    const jobOf = { resolvers: { FineTuneJob: { logs: () => null } }, costs: { FineTuneJob: { logs: ONE_CALL } } };
    const derived = { resolvers: { FineTuneJob: { durationSeconds: () => 1 } }, costs: { FineTuneJob: { durationSeconds: FREE } } };
    expect(mergeModules([jobOf, derived]).costs).toEqual({ FineTuneJob: { logs: ONE_CALL, durationSeconds: FREE } });
    expect(() => mergeModules([jobOf, jobOf])).toThrow('Two modules define the resolver of FineTuneJob.logs');
  });
});

describe('the SDL files', () => {
  it('are the ones codegen reads', () => {
    expect(codegenConfig.schema).toEqual(SDL_GLOBS);
  });
});
