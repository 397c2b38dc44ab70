// `phys submit` and `phys runs` without a server: the in-process orchestrator runs and waits, the
// runs commands say what they need, bad options are usage errors. With a server (`--remote`,
// @phys/orchestrator-remote against `phys serve`) they are tested in tests/integration.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runPhys } from '../src/testing.js';
import { cli, fixture } from './helpers.js';

let remoteBefore: string | undefined;
beforeEach(() => {
  remoteBefore = process.env.PHYS_REMOTE;
  delete process.env.PHYS_REMOTE;
});
afterEach(() => {
  if (remoteBefore === undefined) delete process.env.PHYS_REMOTE;
  else process.env.PHYS_REMOTE = remoteBefore;
});

describe('phys submit without a server', () => {
  it('runs the pipeline in this process, waits, and prints the result as phys run does', async () => {
    const { code, stdout, stderr } = await cli(['submit', 'arith', '--set', 'factor=3']);
    expect(stderr).toContain('no server was given');
    expect(stderr).toMatch(/submitted arith: run [0-9a-f-]{36}/);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^✓ arith: COMPLETED in .+ \(2 nodes\)$/m);
    // (1 + 1) × 3: the override reached the run.
    expect(stdout).toMatch(/scale\.x\s+6$/m);
  });

  it('--json prints the finished run record with its exit code', async () => {
    const { code, stdout } = await cli(['submit', 'arith', '--run-id', 'mine-1', '--json']);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as Record<string, unknown>;
    expect(report).toMatchObject({
      jobId: 'mine-1',
      pipeline: 'arith',
      status: 'COMPLETED',
      exitCode: 0,
    });
  });

  it('exits 1 for a failed run, with the error', async () => {
    const { code, stdout, stderr } = await cli(['submit', 'broken']);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^✗ broken: FAILED/m);
    expect(stderr).toContain('the solver diverged');
  });

  it('exits 64 for an unknown pipeline, a bad run id or a bad priority', async () => {
    const unknown = await cli(['submit', 'nope']);
    expect(unknown.code).toBe(64);
    expect(unknown.stderr).toContain('arith');
    const badId = await cli(['submit', 'arith', '--run-id', 'has space']);
    expect(badId.code).toBe(64);
    const badPriority = await cli(['submit', 'arith', '--priority', 'high']);
    expect(badPriority.code).toBe(64);
    expect(badPriority.stderr).toContain('--priority');
  });

  it('exits 64 for a --remote that is not an http(s) URL', async () => {
    const { code, stderr } = await cli(['submit', 'arith', '--remote', 'lab-server:8787']);
    expect(code).toBe(64);
    expect(stderr).toContain('http://127.0.0.1:8787');
  });
});

describe('phys submit without a server, interrupted', () => {
  it('cancels the run it runs on Ctrl-C and exits 130 with the run CANCELLED', async () => {
    const controller = new AbortController();
    let stderr = '';
    const result = await runPhys(['submit', 'deaf-seq'], {
      cwd: fixture('interrupt'),
      env: { NODE_PATH: undefined },
      signal: controller.signal,
      onStderr: (chunk) => {
        stderr += chunk;
        // The run is running: interrupt it as Ctrl-C would.
        if (/: RUNNING/.test(stderr)) controller.abort();
      },
    });
    expect(result.code).toBe(130);
    expect(result.stdout).toMatch(/^✗ deaf-seq: CANCELLED/m);
  });
});

describe('phys runs without a server', () => {
  it('says that it needs a server and how to give one', async () => {
    for (const argv of [
      ['runs', 'ls'],
      ['runs', 'show', 'x'],
      ['runs', 'wait', 'x'],
    ]) {
      const { code, stderr } = await cli(argv);
      expect(code, argv.join(' ')).toBe(64);
      expect(stderr).toContain('--remote http://HOST:PORT');
      expect(stderr).toContain('PHYS_REMOTE');
    }
  });

  it('checks its options before anything else', async () => {
    const status = await cli(['runs', 'ls', '--status', 'running,sleeping']);
    expect(status.code).toBe(64);
    expect(status.stderr).toContain("'sleeping' is not a run status");
    const limit = await cli(['runs', 'ls', '--limit', '900']);
    expect(limit.code).toBe(64);
    expect(limit.stderr).toContain('1 to 500');
    const timeout = await cli(['runs', 'wait', 'x', '--timeout', '-1']);
    expect(timeout.code).toBe(64);
  });
});

describe('phys runs with --remote and no plugin installed', () => {
  it('names the package to install', async () => {
    // A directory outside the workspace, where no @phys/orchestrator-remote can be resolved.
    const dir = await mkdtemp(join(tmpdir(), 'phys-no-plugin-'));
    try {
      // The built binary, as a user runs it: without the NODE_PATH of the package manager's
      // script runner, which makes every package of the workspace resolvable from anywhere.
      const { code, stderr } = await runPhys(['runs', 'ls', '--remote', 'http://127.0.0.1:8787'], {
        cwd: dir,
        env: { NODE_PATH: undefined },
      });
      expect(code).toBe(64);
      expect(stderr).toContain('@phys/orchestrator-remote');
      expect(stderr).toMatch(/(pnpm add|npm install) @phys\/orchestrator-remote/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
