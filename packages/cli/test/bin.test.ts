// End-to-end: the BUILT binary in a child process, as a user or a script runs it.
// DAG runs through the executor-dag plugin (interrupted, or with the reader of the output gone)
// are in tests/integration/test/cli-executor-dag.test.ts.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readResultEnvelope, writeTaskEnvelope } from '@phys/scheduler-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPhys } from '../src/testing.js';
import { fixture } from './helpers.js';

describe('the phys binary', () => {
  it('runs a pipeline with --json: exit 0 and one parseable object on stdout', async () => {
    const { code, stdout } = await runPhys(['run', 'arith', '--json', '--set', 'factor=3'], {
      cwd: fixture('seq'),
    });
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
    const { code, stderr } = await runPhys(['run', 'broken'], { cwd: fixture('seq') });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^error PHYS_STAGE_FAILED: Stage 'fail' failed: the solver diverged$/m);
  });

  it('exits 64 on a usage error', async () => {
    const { code, stdout } = await runPhys(['run', 'nope', '--json'], { cwd: fixture('seq') });
    expect(code).toBe(64);
    expect(JSON.parse(stdout)).toMatchObject({ exitCode: 64, error: { code: 'PHYS_USAGE' } });
  });

  it('exits 78 on an invalid config', async () => {
    const { code, stderr } = await runPhys(['config'], { cwd: fixture('bad-plugin') });
    expect(code).toBe(78);
    expect(stderr).toMatch(/^error PHYS_PLUGIN_NOT_FOUND: /m);
  });

  it('runs through the committed launcher that package managers link as `phys`', async () => {
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
    expect(pkg.bin).toEqual({ phys: './bin/phys.js' });
    const { code, stdout } = await runPhys(['--version'], { cwd: fixture('seq') });
    expect(code).toBe(0);
    expect(stdout.trim()).toBe(pkg.version);
  });

  it('exits 130 when interrupted with SIGINT (hang-seq)', async () => {
    const pipeline = 'hang-seq';
    // Interrupt once the waiting node has started. An abort fires once: a second SIGINT kills.
    const interrupt = new AbortController();
    let seen = '';
    const { code, stdout, stderr } = await runPhys(['run', pipeline, '--progress', 'plain'], {
      cwd: fixture('dag'),
      signal: interrupt.signal,
      onStderr: (chunk) => {
        seen += chunk;
        if (/RUNNING\s+wait/.test(seen)) interrupt.abort();
      },
    });
    expect(code).toBe(130);
    expect(stdout).toMatch(new RegExp(`^✗ ${pipeline}: CANCELLED`, 'm'));
    expect(stderr).toMatch(/CANCELLED\s+wait/);
  });

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
      const { code } = await runPhys(['exec', task], { cwd: dir });
      expect(code).toBe(0);
      const result = await readResultEnvelope(task);
      expect(result?.envelope.status).toBe('COMPLETED');
      expect(result?.state).toEqual({ x: 6 });
      expect(result?.envelope.metrics).toEqual({ x: 6 });
    });

    it('exits with the task code of a failing stage (1), the error in the result envelope', async () => {
      const task = await envelope('fail', { name: 'demo/fail', version: '1', config: {} });
      const { code } = await runPhys(['exec', task], { cwd: dir });
      expect(code).toBe(1);
      const result = await readResultEnvelope(task);
      expect(result?.envelope.status).toBe('FAILED');
      expect(result?.envelope.error?.message).toContain('the solver diverged');
    });
  });
});
