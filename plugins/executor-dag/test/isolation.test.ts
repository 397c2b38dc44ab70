// Thread and process isolation: stages rebuilt by identity from test/fixtures/phys.config.ts in
// pooled worker threads and in child processes running the task-envelope entry (built dist/).
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Isolation, type NodeSpec, resources } from '@phys/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DagExecutor } from '../src/dag-executor.js';
import { LocalScheduler } from '../src/local-scheduler.js';
import { Add, Burn, Crash, Fail, Merge, Probe, Sleep, Slot } from './fixtures/stages.js';
import { configFile } from './helpers.js';

let workDir: string;
let scheduler: LocalScheduler;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'phys-dag-test-'));
  scheduler = new LocalScheduler({
    maxWorkers: 2,
    maxCpu: 2,
    configFile,
    workDir,
    graceSeconds: 0.3,
  });
});

afterAll(async () => {
  await scheduler.close();
  await rm(workDir, { recursive: true, force: true });
});

function run(
  nodes: NodeSpec[],
  options: { failureMode?: 'failFast' | 'continue'; signal?: AbortSignal } = {},
) {
  return new DagExecutor({ scheduler, metrics: [] }).run({ payload: 0 }, nodes, options);
}

describe.each<Isolation>(['thread', 'process'])('%s isolation', (isolation) => {
  it('runs the diamond with stages rebuilt by identity', async () => {
    const result = await run([
      { id: 'a', stage: Add({ amount: 1 }), isolation },
      { id: 'b', stage: Add({ amount: 2 }), deps: ['a'], isolation },
      { id: 'c', stage: Add({ amount: 3 }), deps: ['a'] },
      { id: 'd', stage: Merge({}), deps: ['b', 'c'], isolation },
    ]);
    expect(result.status).toBe('COMPLETED');
    expect(result.outputs.d).toEqual({ payload: 7 });
    expect(result.metrics['d.inputs']).toBe(2);
  });

  it(`runs ${isolation === 'process' ? 'in another process' : 'in this process'} and passes policy and input through`, async () => {
    const result = await new DagExecutor({ scheduler, metrics: [] }).run(
      { payload: 3, samples: new Float64Array([1, 2, 3]) },
      [{ id: 'p', stage: Probe({}), isolation }],
      { policy: { 'sampling.N': 12 } },
    );
    const out = result.outputs.p as {
      pid: number;
      policyN: number;
      input: { samples: Float64Array };
    };
    expect(out.pid === process.pid).toBe(isolation === 'thread');
    expect(out.policyN).toBe(12);
    expect(out.input.samples).toEqual(new Float64Array([1, 2, 3]));
  });

  it('ends a throwing stage as FAILED with its message, and failFast cancels a running sibling', async () => {
    const result = await run([
      { id: 'boom', stage: Fail({ message: `kaput in a ${isolation}` }), isolation },
      { id: 'sibling', stage: Sleep({ ms: 20_000 }), isolation },
      { id: 'after', stage: Add({}), deps: ['boom'], isolation },
    ]);
    expect(result.status).toBe('FAILED');
    expect(result.nodes.boom?.status).toBe('FAILED');
    expect(result.nodes.boom?.error?.message).toContain(`kaput in a ${isolation}`);
    expect(result.nodes.sibling?.status).toBe('CANCELLED');
    expect(result.nodes.after?.status).toBe('CANCELLED');
  });

  it('continue: the independent branch finishes and dependents are SKIPPED', async () => {
    const result = await run(
      [
        { id: 'boom', stage: Fail({}), isolation },
        { id: 'child', stage: Add({}), deps: ['boom'], isolation },
        { id: 'ok', stage: Add({ amount: 4 }), isolation },
      ],
      { failureMode: 'continue' },
    );
    expect(result.counts).toEqual({ FAILED: 1, SKIPPED: 1, COMPLETED: 1 });
    expect(result.outputs.ok).toEqual({ payload: 4 });
  });

  it('retries on a new attempt and succeeds', async () => {
    const result = await run([
      { id: 'flaky', stage: Fail({ succeedOnAttempt: 2 }), retry: { maxAttempts: 3 }, isolation },
    ]);
    expect(result.nodes.flaky).toMatchObject({ status: 'COMPLETED', attempts: 2 });
    expect(result.metrics['flaky.attempt']).toBe(2);
  });

  it('times out a stage that honours its signal', async () => {
    const result = await run([
      { id: 'slow', stage: Sleep({ ms: 20_000 }), timeoutSeconds: 0.2, isolation },
    ]);
    expect(result.nodes.slow?.status).toBe('TIMEOUT');
    expect(result.nodes.slow?.error?.code).toBe('PHYS_TIMEOUT');
  });

  it('kills a stage that ignores its signal after the grace period', async () => {
    const result = await run([
      // a child process needs a moment to load the config before the stage spins
      {
        id: 'stubborn',
        stage: Sleep({ ms: 20_000, busy: true }),
        timeoutSeconds: isolation === 'process' ? 1.5 : 0.2,
        isolation,
      },
    ]);
    expect(result.nodes.stubborn?.status).toBe('TIMEOUT');
    const message = result.nodes.stubborn?.error?.message ?? '';
    expect(message).toMatch(/exceeded its timeout/);
    // A child process still loading its config when the timeout hits dies of SIGTERM at once;
    // once the stage spins, its thread never acknowledges the abort and is terminated without
    // waiting out the grace period.
    if (isolation === 'thread') {
      expect(message).toMatch(/busy in synchronous code.*was terminated/);
    }
  });

  it('grants a stage whose event loop is free the grace period before the kill', async () => {
    const result = await run([
      {
        id: 'deaf',
        stage: Sleep({ ms: 20_000, ignoreAbort: true }),
        timeoutSeconds: isolation === 'process' ? 1.5 : 0.2,
        isolation,
      },
    ]);
    expect(result.nodes.deaf?.status).toBe('TIMEOUT');
    const message = result.nodes.deaf?.error?.message ?? '';
    expect(message).toMatch(/exceeded its timeout/);
    // It acknowledged the request, ignored it, and was killed only when the grace period ran
    // out. (A child process still loading its config dies of the SIGTERM at once.)
    if (isolation === 'thread') {
      expect(message).toMatch(/did not stop within 0.3 s and was terminated/);
    }
  });

  it('cancels the run through its AbortSignal', async () => {
    const result = await run(
      [
        { id: 'long', stage: Sleep({ ms: 20_000 }), isolation },
        { id: 'later', stage: Add({}), deps: ['long'], isolation },
      ],
      { signal: AbortSignal.timeout(300) },
    );
    expect(result.status).toBe('CANCELLED');
    expect(result.nodes.long?.status).toBe('CANCELLED');
    expect(result.nodes.later?.status).toBe('CANCELLED');
  });

  it.each(['exit', 'uncaught'] as const)(
    'ends a %s crash as FAILED and goes on per failure mode',
    async (mode) => {
      const result = await run(
        [
          { id: 'crash', stage: Crash({ mode }), isolation },
          { id: 'fine', stage: Add({ amount: 1 }), isolation },
        ],
        { failureMode: 'continue' },
      );
      expect(result.nodes.crash?.status).toBe('FAILED');
      const message = result.nodes.crash?.error?.message ?? '';
      if (isolation === 'thread')
        expect(message).toMatch(/worker thread running node 'crash' crashed/);
      else expect(message).toMatch(/process running node 'crash' (exited with code|was killed)/);
      expect(result.nodes.fine?.status).toBe('COMPLETED');
    },
  );

  it('never holds more cpu or gpu at once than configured (checked by the stages)', async () => {
    const dir = await mkdtemp(join(workDir, 'slots-'));
    const local = new LocalScheduler({
      maxWorkers: 4,
      maxCpu: 3,
      gpuIds: [3, 5],
      configFile,
      workDir,
    });
    try {
      const nodes: NodeSpec[] = Array.from({ length: 8 }, (_, i) => ({
        id: `s${i}`,
        stage: Slot({ dir, ms: 150 }),
        isolation,
        resources: resources(i % 2 === 0 ? { cpu: 2 } : { cpu: 1, gpu: 1 }),
      }));
      const result = await new DagExecutor({ scheduler: local, metrics: [] }).run({}, nodes);
      expect(result.status).toBe('COMPLETED');
      const peaks = nodes.map((n) => result.metrics[`${n.id}.peakCpu`] as number);
      expect(Math.max(...peaks)).toBeLessThanOrEqual(3);
      expect(Math.max(...peaks)).toBeGreaterThanOrEqual(2);
      for (const n of nodes) {
        expect(result.metrics[`${n.id}.peakGpu`]).toBeLessThanOrEqual(2);
        expect(result.metrics[`${n.id}.gpuConflicts`]).toBe(0);
      }
      if (isolation === 'process') {
        // every child process saw exactly its granted gpus in CUDA_VISIBLE_DEVICES
        for (const n of nodes) expect(result.metrics[`${n.id}.gpuEnvMatches`]).toBe(1);
      }
    } finally {
      await local.close();
    }
  });
});

describe('thread isolation: worker limits and parallelism', () => {
  it('ends a worker that runs out of heap as FAILED and replaces it', async () => {
    const local = new LocalScheduler({
      maxWorkers: 1,
      configFile,
      threadResourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8 },
    });
    try {
      const result = await new DagExecutor({
        scheduler: local,
        metrics: [],
        failureMode: 'continue',
      }).run({ payload: 0 }, [
        { id: 'hog', stage: Crash({ mode: 'oom' }), isolation: 'thread' },
        { id: 'next', stage: Add({ amount: 2 }), deps: [], isolation: 'thread' },
      ]);
      expect(result.nodes.hog?.status).toBe('FAILED');
      expect(result.nodes.hog?.error?.message).toMatch(/ran out of memory/);
      expect(result.outputs.next).toEqual({ payload: 2 });
    } finally {
      await local.close();
    }
  });

  it('runs Burn in worker threads and gets the same numbers as inline', async () => {
    const expected = (() => {
      let acc = 0;
      for (let k = 0; k < 10_000; k++) acc += Math.sin(3 + k * 1e-3);
      return acc;
    })();
    const result = await run([
      { id: 'b0', stage: Burn({ iters: 10_000, seed: 3 }) },
      { id: 'b1', stage: Burn({ iters: 10_000, seed: 3 }), isolation: 'inline' },
    ]);
    expect(result.outputs.b0).toEqual({ payload: expected });
    expect(result.outputs.b1).toEqual({ payload: expected });
  });
  it('works when the parent process was started with V8 flags a worker thread refuses', () => {
    // node --max-old-space-size=… or --expose-gc: Node throws ERR_WORKER_INVALID_EXEC_ARGV for a
    // worker given these, so the pool must leave them out of the workers' flags.
    const script = `
      import { createRuntime, loadConfig } from '@phys/runtime';
      import { DagExecutor, LocalScheduler } from '@phys/executor-dag';
      const loaded = await loadConfig({ configFile: ${JSON.stringify(configFile)} });
      const runtime = await createRuntime(loaded, { init: false });
      const Burn = runtime.stages.get('test/burn', '1');
      const scheduler = new LocalScheduler({ maxWorkers: 2, configFile: loaded.filepath });
      const result = await new DagExecutor({ scheduler, metrics: [] }).run({}, [
        { id: 'b0', stage: Burn({ iters: 1000, seed: 1 }) },
        { id: 'b1', stage: Burn({ iters: 1000, seed: 2 }) },
      ]);
      await scheduler.close();
      console.log(JSON.stringify({ status: result.status, error: result.error?.message, gc: typeof gc }));
    `;
    const out = execFileSync(
      process.execPath,
      ['--expose-gc', '--max-old-space-size=512', '--input-type=module', '-e', script],
      { cwd: fileURLToPath(new URL('..', import.meta.url)), encoding: 'utf8' },
    );
    expect(JSON.parse(out.trim().split('\n').at(-1) as string)).toEqual({
      status: 'COMPLETED',
      gc: 'function',
    });
  });
});

describe('process isolation: work directories', () => {
  it('removes the work directory of a node that succeeded and keeps a failed one with its logs', async () => {
    const dir = await mkdtemp(join(workDir, 'wd-'));
    const local = new LocalScheduler({ maxWorkers: 2, configFile, workDir: dir });
    try {
      const result = await new DagExecutor({
        scheduler: local,
        metrics: [],
        failureMode: 'continue',
      }).run(
        { payload: 0 },
        [
          { id: 'good', stage: Add({}), isolation: 'process' },
          { id: 'bad', stage: Crash({ mode: 'exit' }), isolation: 'process' },
        ],
        { runId: 'wd-run' },
      );
      expect(result.nodes.bad?.error?.details).toMatchObject({ exitCode: 7 });
      const left = await readdir(join(dir, 'wd-run'));
      expect(left).toEqual(['bad.1']);
      expect((await readdir(join(dir, 'wd-run', 'bad.1'))).sort()).toEqual(
        ['input.bin', 'stderr.log', 'stdout.log', 'task.json'].sort(),
      );
    } finally {
      await local.close();
    }
  });
});
