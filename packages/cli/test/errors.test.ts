// How errors read: short by default, every cause with its stack on demand (--verbose,
// PHYS_DEBUG=1, logLevel 'debug'), the user's own frames first. On the `bug` fixture: a stage
// with a typo (a ReferenceError) and a DAG with a cycle.
import { describe, expect, it } from 'vitest';
import { runPhys } from '../src/testing.js';
import { cli, fixture } from './helpers.js';

const bug = fixture('bug');
// The frame of the typo: meshSize in the fixture's config.
const TYPO_FRAME = /^ +at meshSize \(.*bug[/\\]phys\.config\.ts:\d+:\d+\)$/m;

/** The `at ...` lines of some output, trimmed. */
function frames(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('at '));
}

describe('a stage that throws a ReferenceError', () => {
  it('by default names the error and its cause, without stacks, and says how to see them', async () => {
    const { code, stderr } = await cli(['run', 'typo', '--progress', 'none'], { cwd: bug });
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /^error PHYS_STAGE_FAILED: Stage 'typo' failed: spacing is not defined$/m,
    );
    expect(stderr).toMatch(/^ {2}cause ReferenceError: spacing is not defined$/m);
    expect(frames(stderr)).toEqual([]);
    expect(stderr).toContain('run again with --verbose, or with PHYS_DEBUG=1');
  });

  it('--verbose prints every cause with its stack, the frames of the config first', async () => {
    for (const argv of [
      ['run', 'typo', '--progress', 'none', '--verbose'],
      ['--verbose', 'run', 'typo', '--progress', 'none'],
    ]) {
      const { code, stderr } = await cli(argv, { cwd: bug });
      expect(code).toBe(1);
      expect(stderr).toMatch(/^ {2}cause ReferenceError: spacing is not defined$/m);
      expect(stderr).toMatch(TYPO_FRAME);
      // The config's frames come before those of the runtime that wrapped the error.
      expect(stderr.search(TYPO_FRAME)).toBeLessThan(
        stderr.indexOf('internal frames of PHYS_STAGE_FAILED'),
      );
      expect(stderr).not.toContain('run again with --verbose');
    }
  });

  it('--json gives the original name as the code, and no stacks', async () => {
    const { code, stdout } = await cli(['run', 'typo', '--json'], { cwd: bug });
    expect(code).toBe(1);
    const { error } = JSON.parse(stdout);
    expect(error).toMatchObject({
      code: 'PHYS_STAGE_FAILED',
      cause: { name: 'ReferenceError', code: 'ReferenceError', message: 'spacing is not defined' },
    });
    expect(error.stack).toBeUndefined();
    expect(error.cause.stack).toBeUndefined();
  });

  it('--json --verbose has the stack of every error of the chain', async () => {
    const { code, stdout } = await cli(['run', 'typo', '--json', '--verbose'], { cwd: bug });
    expect(code).toBe(1);
    const { error } = JSON.parse(stdout);
    expect(error.stack).toMatch(/^StageExecutionError: Stage 'typo' failed/);
    expect(error.cause).toMatchObject({ name: 'ReferenceError', code: 'ReferenceError' });
    expect(error.cause.stack).toMatch(TYPO_FRAME);
  });

  it("a config with logLevel 'debug' shows the stacks too", async () => {
    const { code, stderr } = await cli(
      ['run', 'typo', '--config', 'debug.config.ts', '--progress', 'none'],
      { cwd: bug },
    );
    expect(code).toBe(1);
    expect(stderr).toMatch(TYPO_FRAME);
  });
});

describe('a config that throws while loading', () => {
  const CONFIG_FRAME = /^ +at .*throws[/\\]phys\.config\.ts:\d+:\d+\)?$/m;

  it('--verbose shows the stack of the cause its message points at', async () => {
    const { code, stderr } = await cli(['config', '--verbose'], { cwd: fixture('throws') });
    expect(code).toBe(78);
    expect(stderr).toMatch(/^ {2}cause Error: cannot read the mesh file$/m);
    expect(stderr.search(CONFIG_FRAME)).toBeGreaterThan(-1);
    expect(stderr.search(CONFIG_FRAME)).toBeLessThan(stderr.indexOf('internal frames of'));
  });

  it('--json --verbose has the stacks and the cause chain', async () => {
    const { code, stdout } = await cli(['config', '--json', '--verbose'], {
      cwd: fixture('throws'),
    });
    expect(code).toBe(78);
    const { error } = JSON.parse(stdout);
    expect(error).toMatchObject({
      code: 'PHYS_CONFIG_LOAD_FAILED',
      cause: { name: 'Error', code: 'Error', message: 'cannot read the mesh file' },
    });
    expect(error.stack).toMatch(/^ConfigError: /);
    expect(error.cause.stack).toMatch(CONFIG_FRAME);
  });
});

describe('phys graph of an invalid DAG', () => {
  it('fails with the DAG error phys run gives (PHYS_DAG_INVALID, exit 1) instead of drawing it', async () => {
    const text = await cli(['graph', 'loop'], { cwd: bug });
    expect(text.code).toBe(1);
    expect(text.stdout).toBe('');
    expect(text.stderr).toMatch(
      /^error PHYS_DAG_INVALID: Cycle detected: solve → mesh → solve\. A DAG cannot have cycles/m,
    );

    const json = await cli(['graph', 'loop', '--json'], { cwd: bug });
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      exitCode: 1,
      error: { name: 'DagValidationError', code: 'PHYS_DAG_INVALID' },
    });
  });
});

describe('the phys binary', () => {
  it('PHYS_DEBUG=1 prints the stacks, as --verbose does', async () => {
    const { code, stderr } = await runPhys(['run', 'typo', '--progress', 'none'], {
      cwd: bug,
      env: { PHYS_DEBUG: '1' },
    });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^ {2}cause ReferenceError: spacing is not defined$/m);
    expect(stderr).toMatch(TYPO_FRAME);
    expect(frames(stderr)[0]).toMatch(/^at meshSize \(/);
  });

  it('without PHYS_DEBUG or --verbose, keeps the short form', async () => {
    const { code, stderr } = await runPhys(['run', 'typo', '--progress', 'none'], {
      cwd: bug,
      env: { PHYS_DEBUG: undefined },
    });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^ {2}cause ReferenceError: spacing is not defined$/m);
    expect(frames(stderr)).toEqual([]);
  });

  it('--json --verbose: one object with the stacks', async () => {
    const { code, stdout } = await runPhys(['run', 'typo', '--json', '--verbose'], {
      cwd: bug,
      env: { PHYS_DEBUG: undefined },
    });
    expect(code).toBe(1);
    expect(JSON.parse(stdout).error.cause.stack).toMatch(TYPO_FRAME);
  });
});

describe('command-line text', () => {
  it('a --set without `=` shows plain values, which need no JSON quoting', async () => {
    const { code, stderr } = await cli(['run', 'arith', '--set', 'factor']);
    expect(code).toBe(64);
    expect(stderr).toContain("--set expects key=value, got 'factor'");
    expect(stderr).toContain('--set solver=rk4');
    expect(stderr).not.toContain('\'"rk4"\'');
  });

  it('`phys --help` links the docs by a full address, and lists --verbose', async () => {
    const { code, stdout } = await cli(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Docs: https:\/\/\S+\/blob\/main\/docs\/cli\.md$/m);
    expect(stdout).toMatch(/^ {2}--verbose +on an error, print every cause with its stack/m);
  });
});
