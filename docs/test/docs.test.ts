// Keeps the guides honest: links resolve, imported names exist, documented CLI flags exist.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '@phys/cli';
import { describe, expect, it } from 'vitest';
import { codeBlocks } from './extract.js';

const docsDir = fileURLToPath(new URL('..', import.meta.url));
const repo = resolve(docsDir, '..');

const guides = readdirSync(docsDir)
  .filter((f) => f.endsWith('.md'))
  .map((f) => join(docsDir, f));
const readmes = [
  join(repo, 'README.md'),
  join(repo, 'packages/core/README.md'),
  join(repo, 'packages/runtime/README.md'),
  join(repo, 'packages/scheduler-kit/README.md'),
  join(repo, 'packages/testing/README.md'),
  join(repo, 'packages/cli/README.md'),
  join(repo, 'examples/projectile/README.md'),
].filter((f) => existsSync(f));
const documents = [...guides, ...readmes];

// Entry points whose export lists the guides may import from.
const entries: Readonly<Record<string, string>> = {
  '@phys/core': 'packages/core/src/index.ts',
  '@phys/runtime': 'packages/runtime/src/index.ts',
  '@phys/scheduler-kit': 'packages/scheduler-kit/src/index.ts',
  '@phys/testing': 'packages/testing/src/index.ts',
  '@phys/cli': 'packages/cli/src/index.ts',
  '@phys/cli/testing': 'packages/cli/src/testing.ts',
  '@phys/executor-dag': 'plugins/executor-dag/src/index.ts',
  '@phys/cache-disk': 'plugins/cache-disk/src/index.ts',
  '@phys/sweep': 'plugins/sweep/src/index.ts',
  '@phys/ml-packager': 'plugins/ml-packager/src/index.ts',
  '@phys/metrics-prometheus': 'plugins/metrics-prometheus/src/index.ts',
  '@phys/orchestrator-remote': 'plugins/orchestrator-remote/src/index.ts',
  '@phys/server': 'packages/server/src/index.ts',
};

function exportedNames(entry: string): Set<string> {
  const source = readFileSync(join(repo, entry), 'utf8');
  const names = new Set<string>();
  for (const match of source.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}/g)) {
    for (const part of (match[1] ?? '').split(',')) {
      const name = part
        .trim()
        .split(/\s+as\s+/)
        .at(-1)
        ?.trim();
      if (name) names.add(name);
    }
  }
  for (const match of source.matchAll(
    /export\s+(?:async\s+)?(?:function|class|const|interface|type)\s+(\w+)/g,
  )) {
    names.add(match[1]!);
  }
  return names;
}

describe('the guides and READMEs', () => {
  it('are all there', () => {
    const names = guides.map((g) => g.slice(docsDir.length));
    for (const guide of ['getting-started.md', 'concepts.md', 'writing-a-plugin.md', 'cli.md']) {
      expect(names).toContain(guide);
    }
  });

  for (const doc of documents) {
    const name = doc.slice(repo.length + 1);
    const text = readFileSync(doc, 'utf8');

    it(`${name}: relative links point at files that exist`, () => {
      const broken: string[] = [];
      for (const match of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = match[1]!;
        if (/^[a-z]+:/.test(target) || target.startsWith('#')) continue;
        const path = resolve(dirname(doc), target.split('#')[0]!);
        if (!existsSync(path)) broken.push(target);
      }
      expect(broken).toEqual([]);
    });

    it(`${name}: code imports only names the packages export`, () => {
      const missing: string[] = [];
      for (const block of codeBlocks(text)) {
        if (block.lang !== 'ts') continue;
        for (const match of block.code.matchAll(
          /import\s+(type\s+)?([^'";]*?)\s+from\s+'(@phys\/[^']+)'/g,
        )) {
          const entry = entries[match[3]!];
          if (entry === undefined) {
            missing.push(`${match[3]} (no such entry point)`);
            continue;
          }
          const exported = exportedNames(entry);
          const clause = match[2]!;
          const named = /\{([^}]*)\}/.exec(clause)?.[1] ?? '';
          for (const part of named.split(',')) {
            const imported = part
              .trim()
              .replace(/^type\s+/, '')
              .split(/\s+as\s+/)[0]
              ?.trim();
            if (imported && !exported.has(imported)) missing.push(`${imported} from ${match[3]}`);
          }
          const defaultImport = clause
            .replace(/\{[^}]*\}/, '')
            .replace(/,/g, '')
            .trim();
          if (defaultImport !== '' && !exported.has('default')) {
            missing.push(`default (${defaultImport}) from ${match[3]}`);
          }
        }
      }
      expect(missing).toEqual([]);
    });
  }
});

describe('cli.md', () => {
  it('documents only flags the CLI has', async () => {
    let help = '';
    for (const command of [
      [],
      ['run'],
      ['config'],
      ['graph'],
      ['plan'],
      ['cache', 'clear'],
      ['exec'],
      ['submit'],
      ['runs', 'ls'],
      ['runs', 'wait'],
      ['runs', 'logs'],
    ]) {
      await runCli([...command, '--help'], {
        stdout: { write: (s: string) => (help += s) },
        stderr: { write: () => true },
      });
    }
    // Plugin commands exist only in a project that lists their plugin: their declarations.
    for (const declaration of [
      'plugins/sweep/src/cli/command.ts',
      'plugins/ml-packager/src/cli/command.ts',
      'packages/server/src/cli/command.ts',
    ]) {
      help += readFileSync(join(repo, declaration), 'utf8');
    }
    const documented = new Set(
      readFileSync(join(docsDir, 'cli.md'), 'utf8').match(/--[a-z][a-z-]*/g),
    );
    const unknown = [...documented].filter((flag) => !help.includes(flag));
    expect(unknown).toEqual([]);
  });
});
