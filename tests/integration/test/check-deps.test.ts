// The dependency-direction check of `pnpm verify`, run on small throw-away workspaces.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../../../scripts/check-deps.mjs', import.meta.url));
let root: string | undefined;
afterEach(() => {
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
  root = undefined;
});

function workspace(files: Record<string, string>): string {
  root = mkdtempSync(join(tmpdir(), 'phys-deps-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const pkg = (name: string, deps: Record<string, string> = {}, dev: Record<string, string> = {}) =>
  JSON.stringify({ name, dependencies: deps, devDependencies: dev });

function check(dir: string) {
  const run = spawnSync(process.execPath, [script, dir], { encoding: 'utf8' });
  return { code: run.status, out: run.stdout + run.stderr };
}

describe('scripts/check-deps.mjs', () => {
  it('passes a workspace that keeps the directions', () => {
    const dir = workspace({
      'packages/core/package.json': pkg('@phys/core'),
      'packages/core/src/index.ts': 'export const x = 1;\n',
      'plugins/cache-disk/package.json': pkg('@phys/cache-disk', { '@phys/core': 'workspace:^' }),
      'plugins/cache-disk/src/index.ts': "import { x } from '@phys/core';\nexport { x };\n",
    });
    expect(check(dir)).toEqual({ code: 0, out: 'dependency directions: ok\n' });
  });

  it('fails on core importing anything of ours, naming the file and line', () => {
    const dir = workspace({
      'packages/core/package.json': pkg('@phys/core'),
      'packages/core/src/index.ts': "\nimport { createRuntime } from '@phys/runtime';\n",
    });
    const { code, out } = check(dir);
    expect(code).toBe(1);
    expect(out).toContain('packages/core/src/index.ts:2: @phys/core may not import @phys/runtime');
  });

  it('fails on a plugin depending on another plugin, in package.json or in a test', () => {
    const dir = workspace({
      'plugins/sweep/package.json': pkg(
        '@phys/sweep',
        { '@phys/core': '^0' },
        { '@phys/executor-dag': '^0' },
      ),
      'plugins/sweep/test/run.test.ts': "import { DagExecutor } from '@phys/executor-dag';\n",
    });
    const { code, out } = check(dir);
    expect(code).toBe(1);
    expect(out).toContain('@phys/sweep may not have @phys/executor-dag as a devDependency');
    expect(out).toContain(
      'plugins/sweep/test/run.test.ts:1: @phys/sweep may not import @phys/executor-dag (even in tests)',
    );
  });

  it('fails on an import the package does not declare', () => {
    const dir = workspace({
      'packages/cli/package.json': pkg('@phys/cli', { '@phys/core': '^0' }),
      'packages/cli/src/main.ts': "const r = await import('@phys/runtime');\n",
    });
    const { code, out } = check(dir);
    expect(code).toBe(1);
    expect(out).toContain('imports @phys/runtime, which package.json does not list');
  });

  it('keeps a third-party scheduler to core and the kits', () => {
    const dir = workspace({
      'examples/x/phys-plugin-y/package.json': pkg('phys-plugin-y', {
        '@phys/scheduler-kit': '^0',
        '@phys/runtime': '^0',
      }),
      'examples/x/phys-plugin-y/src/index.ts': "import { JobTable } from '@phys/scheduler-kit';\n",
    });
    const { code, out } = check(dir);
    expect(code).toBe(1);
    expect(out).toContain('phys-plugin-y may not have @phys/runtime as a dependency');
  });
});
