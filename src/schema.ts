import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isScalarType } from 'graphql';
import { createSchema } from 'graphql-yoga';
import type { GatewayContext } from './context.js';
import { resolvers } from './modules/index.js';

/** The project root: src/ (tsx, tests) and dist/ (the build) both sit in it. */
const ROOT = fileURLToPath(new URL('../', import.meta.url));

/**
 * Where the SDL lives, as codegen.ts reads it: the shared base in schema/ (root types, scalars, error codes), then
 * each domain's files beside its code under src/modules/. A test checks that codegen.ts names the same globs.
 */
export const SDL_GLOBS = ['schema/**/*.graphql', 'src/modules/**/*.graphql'];

/** The SDL files, relative to the project root, in a stable order. */
export function sdlFiles(): string[] {
  return SDL_GLOBS.flatMap((glob) => {
    const dir = glob.slice(0, glob.indexOf('/**'));
    return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.graphql'))
      .map((file) => join(dir, file))
      .sort();
  });
}

export function loadTypeDefs(): string[] {
  return sdlFiles().map((file) => readFileSync(join(ROOT, file), 'utf8'));
}

export function buildSchema() {
  const schema = createSchema<GatewayContext>({ typeDefs: loadTypeDefs(), resolvers });
  // Attaching a GraphQLScalarType implementation replaces the SDL's description with the implementation's (none):
  // the SDL stays the one place where scalars are described.
  for (const type of Object.values(schema.getTypeMap())) {
    if (isScalarType(type) && !type.description) type.description = type.astNode?.description?.value;
  }
  return schema;
}
