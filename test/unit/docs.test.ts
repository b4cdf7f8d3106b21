import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kind, parse } from 'graphql';
import { describe, expect, it } from 'vitest';

/*
 * The docs state facts that live elsewhere: the error codes (schema/errors.graphql), the environment variables
 * (src/config.ts), the files they link to and the repository paths they name. These checks fail when the two drift apart.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const DOCS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((file) => file.endsWith('.md'))
    .map((file) => `docs/${file}`),
];

/** The text of a Markdown file without its fenced code blocks (links and tables in examples are not the docs'). */
function prose(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
}

/** The lines of one `## `/`### ` section, up to the next heading of the same or a higher level. */
function section(markdown: string, heading: string): string {
  const lines = prose(markdown).split('\n');
  const start = lines.findIndex((line) => line.replace(/^#+\s*/, '') === heading && line.startsWith('#'));
  if (start < 0) throw new Error(`no section "${heading}"`);
  const level = /^#+/.exec(lines[start]!)![0].length;
  const end = lines.findIndex((line, i) => i > start && /^#+\s/.test(line) && /^#+/.exec(line)![0].length <= level);
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** The backquoted names in the first column of the Markdown tables of `text`. */
function firstColumnNames(text: string): string[] {
  return [...text.matchAll(/^\|\s*`([A-Za-z0-9_]+)`\s*\|/gm)].map((match) => match[1]!);
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens; repeats get -1, -2, … */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const [, text] of prose(markdown).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = text!
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

describe('error codes', () => {
  const schema = parse(read('schema/errors.graphql'));
  const errorCode = schema.definitions.find((d) => d.kind === Kind.ENUM_TYPE_DEFINITION && d.name.value === 'ErrorCode');
  const codes = errorCode?.kind === Kind.ENUM_TYPE_DEFINITION ? (errorCode.values ?? []).map((v) => v.name.value) : [];
  const table = firstColumnNames(section(read('docs/api.md'), 'Error codes'));

  it('reads the ErrorCode enum and the docs table', () => {
    expect(codes.length).toBeGreaterThan(5);
    expect(table.length).toBeGreaterThan(5);
  });

  it('documents every code of schema/errors.graphql, once, in the table of docs/api.md', () => {
    expect(codes.filter((code) => !table.includes(code))).toEqual([]);
    expect(table.filter((code, i) => table.indexOf(code) !== i)).toEqual([]);
  });

  it('documents no code that schema/errors.graphql does not define', () => {
    expect(table.filter((code) => !codes.includes(code))).toEqual([]);
  });
});

describe('environment variables', () => {
  // The keys of the zod model of the environment: UPPER_SNAKE_CASE names followed by a colon.
  const variables = [...read('src/config.ts').matchAll(/^\s+([A-Z][A-Z0-9_]+):/gm)].map((match) => match[1]!);
  const documented = firstColumnNames(prose(read('docs/configuration.md')));

  it('reads the variables of src/config.ts', () => {
    expect(variables).toContain('DASHSCOPE_API_KEY');
  });

  it('lists every variable src/config.ts reads in a table of docs/configuration.md, and no other', () => {
    expect(variables.filter((name) => !documented.includes(name))).toEqual([]);
    expect(documented.filter((name) => !variables.includes(name))).toEqual([]);
  });
});

describe('limit names', () => {
  // `extensions.limit` is part of the contract: every name the sources raise is listed where the errors are described.
  // Read from the text of every source file, wherever the restructuring puts it: `limitExceeded('maxDepth', …)`,
  // `capReached('maxPollers', …)`, `limit: 'jsonDepth'`.
  const sources = readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !file.startsWith('generated'))
    .map((file) => read(join('src', file)))
    .join('\n');
  const names = [
    ...new Set([...sources.matchAll(/(?:limitExceeded|capReached)\(\s*'(\w+)'|\blimit: '(\w+)'/g)].map((m) => (m[1] ?? m[2])!)),
  ];
  const errors = section(read('docs/api.md'), 'Errors');

  it('reads the limit names of the sources', () => {
    expect(names).toEqual(expect.arrayContaining(['maxDepth', 'maxDirectives', 'jsonDepth', 'maxOperationsPerSocket', 'maxPollers']));
  });

  it('lists every extensions.limit value in the Errors section of docs/api.md', () => {
    expect(names.filter((name) => !errors.includes(`\`${name}\``))).toEqual([]);
  });
});

describe('npm scripts', () => {
  const scripts = Object.keys((JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts);
  const commands = section(read('README.md'), 'Commands')
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .join('\n');
  // `npm start`, `npm run dev -- --port 1`, and the second of two scripts in one row: `npm run codegen` / `codegen:check`.
  const listed = [...commands.matchAll(/`npm (?:run )?([\w:-]+)[^`]*`|\/ `([\w:-]+)`/g)].map((match) => match[1] ?? match[2]!);

  it('lists every script of package.json in the README command table, and no other', () => {
    expect(scripts.filter((name) => !listed.includes(name))).toEqual([]);
    expect(listed.filter((name) => !scripts.includes(name))).toEqual([]);
  });
});

describe('links', () => {
  const links = DOCS.flatMap((file) =>
    [...prose(read(file)).matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)]
      .map((match) => match[1]!)
      .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target))
      .map((target) => ({ file, target })),
  );

  it('finds links to check', () => {
    expect(links.length).toBeGreaterThan(10);
  });

  it.each(DOCS)('every relative link in %s points at an existing file and heading', (file) => {
    const broken = links
      .filter((link) => link.file === file)
      .filter(({ target }) => {
        const [path = '', anchor] = target.split('#');
        const absolute = path ? resolve(ROOT, dirname(file), decodeURIComponent(path)) : join(ROOT, file);
        if (!absolute.startsWith(ROOT) || !existsSync(absolute)) return true;
        if (anchor === undefined || !absolute.endsWith('.md')) return false;
        return !anchors(readFileSync(absolute, 'utf8')).has(anchor);
      })
      .map(({ target }) => `${target} (${relative(ROOT, join(ROOT, file))})`);
    expect(broken).toEqual([]);
  });
});

/**
 * The repository paths a Markdown text names in backquotes (`src/gateway/yoga.ts`, `test/unit/`), outside fenced code,
 * without their `#anchor`. Patterns (`src/modules/<domain>/`, globs with `*`, `src/…`) are not paths.
 */
function namedPaths(markdown: string): string[] {
  return [...prose(markdown).matchAll(/`((?:src|test|schema|bench|docs|\.ci)\/[^`\s]*)`/g)]
    .map((match) => match[1]!.split('#')[0]!)
    .filter((path) => !/[<>*…{}]/.test(path));
}

/** The paths of `namedPaths(markdown)` that do not exist under the repository root. */
function missingPaths(markdown: string): string[] {
  return namedPaths(markdown).filter((path) => !existsSync(join(ROOT, path)));
}

describe('repository paths', () => {
  it('finds the paths the docs name, and not the patterns', () => {
    expect(DOCS.flatMap((file) => namedPaths(read(file))).length).toBeGreaterThan(50);
    expect(namedPaths('`src/modules/<domain>/` `src/plugins/use-*.ts` `src/…` `docs/api.md#errors`')).toEqual(['docs/api.md']);
  });

  it('reports a path that does not exist', () => {
    expect(missingPaths('`src/gateway/yoga.ts`, `src/server.ts`, `test/unit/`\n```\n`src/in-code-block.ts`\n```')).toEqual([
      'src/server.ts',
    ]);
  });

  it.each(DOCS)('every repository path named in %s exists', (file) => {
    expect(missingPaths(read(file))).toEqual([]);
  });
});
