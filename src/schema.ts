import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { isScalarType, parse, Source } from 'graphql';
import { completeSubgraph } from './modules/federation/index.js';
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

/** The builder's resolver map: the generated types are stricter (parent and context typed per field). */
type SubgraphResolvers = Extract<Parameters<typeof buildSubgraphSchema>[0], { typeDefs: unknown }>['resolvers'];

/**
 * The executable schema, built as an Apollo Federation v2 subgraph (docs/federation.md): the SDL's `@link` and `@key`
 * make `FineTuneJob`, `Deployment` and `TrainingFile` entities, and the builder adds `_service { sdl }` and
 * `_entities`, which resolves each representation with its type's `__resolveReference` (the same per-operation loaders
 * as the single reads). For a client that does not federate these are two more root fields and nothing else changes.
 */
export function buildSchema() {
  const schema = buildSubgraphSchema({
    // Parsed file by file, so that an SDL error names its file.
    typeDefs: sdlFiles().map((file) => parse(new Source(readFileSync(join(ROOT, file), 'utf8'), file))),
    resolvers: resolvers as SubgraphResolvers,
  });
  completeSubgraph(schema);
  // Attaching a GraphQLScalarType implementation replaces the SDL's description with the implementation's (none):
  // the SDL stays the one place where scalars are described.
  for (const type of Object.values(schema.getTypeMap())) {
    if (isScalarType(type) && !type.description) type.description = type.astNode?.description?.value;
  }
  return schema;
}
