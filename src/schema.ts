import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isScalarType } from 'graphql';
import { createSchema } from 'graphql-yoga';
import type { GatewayContext } from './context.js';
import type { Resolvers } from './generated/graphql.js';
import { Mutation } from './modules/fine-tune-job/mutations.js';
import { FineTuneJob, Query } from './modules/fine-tune-job/resolvers.js';
import { Subscription } from './modules/live/resolvers.js';
import { DateTime, JSONScalar, SafeInt } from './modules/scalars/resolvers.js';

/** The SDL files in schema/, the same ones codegen reads (src/ and dist/ both sit beside schema/). */
export const SCHEMA_DIR = fileURLToPath(new URL('../schema/', import.meta.url));

export function loadTypeDefs(): string[] {
  return readdirSync(SCHEMA_DIR)
    .filter((file) => file.endsWith('.graphql'))
    .sort()
    .map((file) => readFileSync(SCHEMA_DIR + file, 'utf8'));
}

export const resolvers: Resolvers = { Query, Mutation, Subscription, FineTuneJob, DateTime, SafeInt, JSON: JSONScalar };

export function buildSchema() {
  const schema = createSchema<GatewayContext>({ typeDefs: loadTypeDefs(), resolvers });
  // Attaching a GraphQLScalarType implementation replaces the SDL's description with the implementation's (none):
  // the SDL stays the one place where scalars are described.
  for (const type of Object.values(schema.getTypeMap())) {
    if (isScalarType(type) && !type.description) type.description = type.astNode?.description?.value;
  }
  return schema;
}
