// A phys.config.ts that lists `server()` imports the root entry in every `phys` process: it must
// not load Fastify or SQLite (they are `@phys/server/node`, loaded by `phys serve` when it runs).
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const src = fileURLToPath(new URL('../src/', import.meta.url));

/** The modules a file loads when imported: its static imports and re-exports of values. */
function staticImports(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
  const specifiers: string[] = [];
  for (const statement of source.statements) {
    const loads =
      (ts.isImportDeclaration(statement) && !statement.importClause?.isTypeOnly) ||
      (ts.isExportDeclaration(statement) && !statement.isTypeOnly);
    if (loads && statement.moduleSpecifier && ts.isStringLiteral(statement.moduleSpecifier)) {
      specifiers.push(statement.moduleSpecifier.text);
    }
  }
  return specifiers;
}

/** The packages importing `entry` loads, following its static imports (not `import()`). */
function packagesLoadedBy(entry: string): Set<string> {
  const packages = new Set<string>();
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const specifier of staticImports(file)) {
      if (specifier.startsWith('.')) {
        visit(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
      } else {
        const parts = specifier.split('/');
        packages.add(specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] as string));
      }
    }
  };
  visit(resolve(src, entry));
  return packages;
}

describe('the entries of @phys/server', () => {
  it('@phys/server loads neither Fastify nor better-sqlite3', () => {
    const loaded = [...packagesLoadedBy('index.ts')];
    expect(loaded.filter((p) => /fastify|sqlite/.test(p))).toEqual([]);
    expect(loaded).toContain('@phys/core');
  });

  it('@phys/server/node is where they are', () => {
    const loaded = packagesLoadedBy('node.ts');
    expect(loaded).toContain('fastify');
    expect(loaded).toContain('better-sqlite3');
  });
});
