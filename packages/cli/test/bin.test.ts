// End-to-end: the BUILT binary in a child process, as a user or a script runs it.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readResultEnvelope, writeTaskEnvelope } from '@phys/core/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture } from './helpers.js';

const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
const launcher = fileURLToPath(new URL('../bin/phys.js', import.meta.url));

interface Spawned {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function phys(argv: readonly string[], cwd: string, entry = bin): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry, ...argv], {
      cwd,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the phys binary', () => {
  beforeAll(() => {
    if (!existsSync(bin)) {
      throw new Error(
        `${bin} is missing: run \`pnpm --filter @phys/cli build\` (turbo does it before test).`,
      );
    }
  });

  it('runs a pipeline with --json: exit 0 and one parseable object on stdout', async () => {
    const { code, stdout } = await phys(
      ['run', 'arith', '--json', '--set', 'factor=3'],
      fixture('seq'),
    );
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      pipeline: 'arith',
      status: 'COMPLETED',
      exitCode: 0,
      metrics: { 'arith.add.x': 2, 'arith.scale.x': 6 },
      outputs: { x: 6 },
    });
  });

  it('exits 1 when the run fails, with the error on stderr', async () => {
    const { code, stderr } = await phys(['run', 'broken'], fixture('seq'));
    expect(code).toBe(1);
    expect(stderr).toMatch(/^error PHYS_STAGE_FAILED: Stage 'fail' failed: the solver diverged$/m);
  });

  it('exits 64 on a usage error', async () => {
    const { code, stdout } = await phys(['run', 'nope', '--json'], fixture('seq'));
    expect(code).toBe(64);
    expect(JSON.parse(stdout)).toMatchObject({ exitCode: 64, error: { code: 'PHYS_USAGE' } });
  });

  it('exits 78 on an invalid config', async () => {
    const { code, stderr } = await phys(['config'], fixture('bad-plugin'));
    expect(code).toBe(78);
    expect(stderr).toMatch(/^error PHYS_PLUGIN_NOT_FOUND: /m);
  });

  it('runs through the committed launcher that package managers link as `phys`', async () => {
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
    expect(pkg.bin).toEqual({ phys: './bin/phys.js' });
    const { code, stdout } = await phys(['--version'], fixture('seq'), launcher);
    expect(code).toBe(0);
    expect(stdout.trim()).toBe(pkg.version);
  });

  for (const pipeline of ['hang', 'hang-seq']) {
    it(`exits 130 when interrupted with SIGINT (${pipeline})`, async () => {
      const child = spawn(process.execPath, [bin, 'run', pipeline, '--progress', 'plain'], {
        cwd: fixture('dag'),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
      });
      // Interrupt once the waiting node has started, and only once: a second SIGINT kills.
      let sent = false;
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        if (!sent && /RUNNING\s+wait/.test(stderr)) {
          sent = true;
          child.kill('SIGINT');
        }
      });
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(code).toBe(130);
      expect(stdout).toMatch(new RegExp(`^✗ ${pipeline}: CANCELLED`, 'm'));
      expect(stderr).toMatch(/CANCELLED\s+wait/);
    });
  }

  describe('phys exec', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'phys-cli-exec-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    const envelope = (name: string, ref: { name: string; version: string; config: unknown }) =>
      writeTaskEnvelope(
        join(dir, name),
        {
          runId: 'run-1',
          nodeId: name,
          attempt: 1,
          stage: ref,
          label: name,
          configFile: join(fixture('seq'), 'phys.config.ts'),
          policy: {},
          resources: { cpu: 1, gpuIds: [], mpiRanks: 1, memoryBytes: undefined },
        },
        { x: 1 },
      );

    it('rebuilds the stage by identity, runs it, and writes the result envelope (exit 0)', async () => {
      const task = await envelope('add', { name: 'demo/add', version: '1', config: { amount: 5 } });
      const { code } = await phys(['exec', task], dir);
      expect(code).toBe(0);
      const result = await readResultEnvelope(task);
      expect(result?.envelope.status).toBe('COMPLETED');
      expect(result?.state).toEqual({ x: 6 });
      expect(result?.envelope.metrics).toEqual({ x: 6 });
    });

    it('exits with the task code of a failing stage (1), the error in the result envelope', async () => {
      const task = await envelope('fail', { name: 'demo/fail', version: '1', config: {} });
      const { code } = await phys(['exec', task], dir);
      expect(code).toBe(1);
      const result = await readResultEnvelope(task);
      expect(result?.envelope.status).toBe('FAILED');
      expect(result?.envelope.error?.message).toContain('the solver diverged');
    });
  });
});
