import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kind, parse } from 'graphql';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The error codes the schema documents (`enum ErrorCode`), read from the SDL files themselves: tests compare what
 * the gateway returns with the published contract, not with the product's own list of codes.
 */
export function schemaErrorCodes(): ReadonlySet<string> {
  // Every .graphql file in the repository's SDL folders, wherever the enum lives.
  const files = ['schema', 'src']
    .flatMap((dir) => readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' }).map((path) => join(ROOT, dir, path)))
    .filter((path) => path.endsWith('.graphql'));
  for (const file of files) {
    for (const definition of parse(readFileSync(file, 'utf8')).definitions) {
      if (definition.kind === Kind.ENUM_TYPE_DEFINITION && definition.name.value === 'ErrorCode') {
        return new Set((definition.values ?? []).map((value) => value.name.value));
      }
    }
  }
  throw new Error('no `enum ErrorCode` in any .graphql file under schema/ or src/');
}
