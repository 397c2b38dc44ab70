// The closing summary of CI (.ci/run), run on small throw-away workspaces with the JSON reports
// vitest writes under test-results/ (the shape of vitest's `json` reporter).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../../../scripts/test-summary.mjs', import.meta.url));
let root: string | undefined;
afterEach(() => {
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
  root = undefined;
});

const WORKSPACE_YAML = 'packages:\n  - packages/*\n  - plugins/*\n\ncatalog:\n  zod: ^4\n';

/** A throw-away workspace; reports are made after it exists, as they name its files. */
function workspace(): string {
  root = mkdtempSync(join(tmpdir(), 'phys-summary-'));
  writeFileSync(join(root, 'pnpm-workspace.yaml'), WORKSPACE_YAML);
  return root;
}

function write(dir: string, files: Record<string, unknown>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), typeof content === 'string' ? content : JSON.stringify(content));
  }
}

const pkg = (name: string, test = true) => ({
  name,
  scripts: test ? { build: 'tsc', test: 'vitest run' } : { build: 'tsc' },
});

type Status = 'passed' | 'failed' | 'skipped';
/** A vitest JSON report of one package: test files with their tests and statuses. */
function report(
  dir: string,
  files: Record<string, { tests: Record<string, Status>; message?: string }>,
) {
  const all = Object.values(files).flatMap((f) => Object.values(f.tests));
  const testResults = Object.entries(files).map(([file, { tests, message }]) => {
    const failed = message !== undefined || Object.values(tests).includes('failed');
    return {
      name: join(root as string, dir, file),
      status: failed ? 'failed' : 'passed',
      message: message ?? '',
      assertionResults: Object.entries(tests).map(([title, status]) => ({
        ancestorTitles: ['suite'],
        fullName: `suite ${title}`,
        title,
        status,
        failureMessages: status === 'failed' ? ['AssertionError: expected 1 to be 2'] : [],
      })),
    };
  });
  return {
    numPassedTests: all.filter((s) => s === 'passed').length,
    numFailedTests: all.filter((s) => s === 'failed').length,
    numPendingTests: all.filter((s) => s === 'skipped').length,
    numTodoTests: 0,
    success: testResults.every((r) => r.status === 'passed'),
    testResults,
  };
}

function summarize(dir: string) {
  const run = spawnSync(process.execPath, [script, dir], { encoding: 'utf8' });
  return { code: run.status, out: run.stdout + run.stderr };
}

describe('scripts/test-summary.mjs', () => {
  it('prints every package with its counts and passes when all passed', () => {
    const dir = workspace();
    write(dir, {
      'packages/core/package.json': pkg('@phys/core'),
      'plugins/sweep/package.json': pkg('@phys/sweep'),
      'plugins/no-tests/package.json': pkg('@phys/no-tests', false),
      'test-results/phys-core.json': report('packages/core', {
        'src/a.test.ts': { tests: { one: 'passed', two: 'passed', later: 'skipped' } },
      }),
      'test-results/phys-sweep.json': report('plugins/sweep', {
        'test/b.test.ts': { tests: { three: 'passed' } },
      }),
    });
    const { code, out } = summarize(dir);
    expect(code).toBe(0);
    expect(out.split('\n')).toEqual([
      '✓ @phys/core   2 passed, 1 skipped',
      '✓ @phys/sweep  1 passed',
      '3 passed, 0 failed, 1 skipped',
      '',
    ]);
  });

  it('names the failed tests, the test files that did not load and the packages that did not run, and fails', () => {
    const dir = workspace();
    write(dir, {
      'packages/core/package.json': pkg('@phys/core'),
      'plugins/scheduler-mock/package.json': pkg('@phys/scheduler-mock'),
      'plugins/sweep/package.json': pkg('@phys/sweep'),
      'plugins/cache-disk/package.json': pkg('@phys/cache-disk'),
      'test-results/phys-core.json': report('packages/core', {
        'src/a.test.ts': { tests: { one: 'passed' } },
      }),
      'test-results/phys-scheduler-mock.json': report('plugins/scheduler-mock', {
        'test/faults.test.ts': {
          tests: { 'same seed': 'failed', other: 'passed' },
          message: 'Hook timed out in 60000ms.\nIf this is a long-running hook, ...',
        },
      }),
      // A file that did not load: no test failed, yet the package did.
      'test-results/phys-sweep.json': report('plugins/sweep', {
        'test/ok.test.ts': { tests: { fine: 'passed' } },
        'test/broken.test.ts': {
          tests: {},
          message: "Cannot find module './gone.js' imported from test/broken.test.ts",
        },
      }),
      // No report for @phys/cache-disk: its tests did not run.
    });
    const { code, out } = summarize(dir);
    expect(code).toBe(1);
    expect(out.split('\n')).toEqual([
      '✗ @phys/cache-disk      no test report: its tests did not run (see the log above)',
      '✓ @phys/core            1 passed',
      '✗ @phys/scheduler-mock  1 passed, 1 failed',
      '    ✗ plugins/scheduler-mock/test/faults.test.ts > suite same seed',
      '    ✗ plugins/scheduler-mock/test/faults.test.ts: Hook timed out in 60000ms.',
      '✗ @phys/sweep           1 passed',
      "    ✗ plugins/sweep/test/broken.test.ts: Cannot find module './gone.js' imported from test/broken.test.ts",
      '3 passed, 1 failed, 0 skipped; 2 of 4 packages failed, 1 did not run',
      '',
    ]);
  });

  it('fails on a test file that did not load, though no test failed', () => {
    const dir = workspace();
    write(dir, {
      'packages/core/package.json': pkg('@phys/core'),
      'test-results/phys-core.json': report('packages/core', {
        'src/a.test.ts': { tests: { one: 'passed' } },
        'src/b.test.ts': { tests: {}, message: 'Transform failed: Unexpected token' },
      }),
    });
    const { code, out } = summarize(dir);
    expect(code).toBe(1);
    expect(out).toContain('✗ @phys/core  1 passed');
    expect(out).toContain('packages/core/src/b.test.ts: Transform failed: Unexpected token');
  });

  it('fails when there is no report at all', () => {
    const dir = workspace();
    write(dir, { 'packages/core/package.json': pkg('@phys/core') });
    const { code, out } = summarize(dir);
    expect(code).toBe(1);
    expect(out).toContain('no test reports found under test-results/');
  });
});
