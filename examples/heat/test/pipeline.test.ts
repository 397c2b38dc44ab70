// End to end: the example's own phys.config.ts through the real loader, registry, sweep
// expansion, the executor plugin and the CLI.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runPhys } from '@phys/cli/testing';
import { type ExecuteResult, ExecutorToken } from '@phys/core';
import { createRuntime, loadConfig, type PhysRuntime } from '@phys/runtime';
import { planSweep } from '@phys/sweep';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConvergenceSummary } from '../src/stages.js';
import { CONVERGENCE_STUDY, solveNode } from '../src/study.js';

const exampleDir = fileURLToPath(new URL('..', import.meta.url));
let runtime: PhysRuntime;

beforeAll(async () => {
  const loaded = await loadConfig({ cwd: join(exampleDir, 'test') });
  expect(loaded.filepath).toBe(join(exampleDir, 'phys.config.ts'));
  runtime = await createRuntime(loaded);
});

afterAll(async () => {
  await runtime?.dispose();
});

async function runDag(name: string): Promise<ExecuteResult> {
  const declared = runtime.pipeline(name);
  if (declared.kind !== 'dag') throw new Error(`expected '${name}' to be a DAG`);
  return runtime.resolve(ExecutorToken).execute({
    pipeline: name,
    nodes: declared.nodes,
    initialState: declared.initialState,
    container: runtime.container,
  });
}

describe('phys.config.ts of the example', () => {
  it('registers the two stages and three pipelines', () => {
    expect(
      runtime.stages
        .list()
        .map((d) => `${d.stageName}@${d.version}`)
        .sort(),
    ).toEqual(['heat/convergence@1', 'heat/solve@1']);
    expect(Object.keys(runtime.pipelines).sort()).toEqual([
      'heat',
      'heat-convergence',
      'heat-ftcs-sixth',
    ]);
  });

  it('sweeps both schemes over four resolutions into one convergence node', () => {
    const declared = runtime.pipeline('heat-convergence');
    if (declared.kind !== 'dag') throw new Error('expected a DAG pipeline');
    const ids = declared.nodes.map((n) => n.id);
    expect(ids).toHaveLength(9);
    expect(ids).toContain('solve[nx=128,scheme=crank-nicolson]');
    expect(ids).toContain('solve[nx=16,scheme=ftcs]');
    expect(declared.nodes.at(-1)).toMatchObject({ id: 'convergence' });
    expect(declared.nodes.at(-1)?.deps).toHaveLength(8);
  });

  it('rejects unstable FTCS points of a sweep before anything runs, all of them at once', () => {
    const attempt = () =>
      planSweep([solveNode(CONVERGENCE_STUDY)], {
        node: 'solve',
        params: { scheme: ['ftcs', 'crank-nicolson'], r: [0.4, 0.6, 0.9] },
      });
    expect(attempt).toThrow(expect.objectContaining({ code: 'PHYS_SWEEP_INVALID' }));
    try {
      attempt();
    } catch (error) {
      const message = (error as Error).message;
      expect(message).toContain('solve[r=0.6,scheme=ftcs].r');
      expect(message).toContain('solve[r=0.9,scheme=ftcs].r');
      // Crank–Nicolson is stable at any r: those points are fine.
      expect(message).not.toContain('scheme=crank-nicolson]');
      expect(message).toContain('unstable');
    }
  });
});

describe('the convergence study, run by the executor plugin', () => {
  it('observes second order for FTCS (dt ∝ dx²) and Crank–Nicolson (dt ∝ dx)', async () => {
    const result = await runDag('heat-convergence');
    expect(result.status).toBe('COMPLETED');
    const m = result.metrics;
    for (const scheme of ['ftcs', 'crank-nicolson']) {
      expect(Math.abs(m[`convergence.${scheme}.orderL2`]! - 2)).toBeLessThan(0.15);
      expect(Math.abs(m[`convergence.${scheme}.orderMax`]! - 2)).toBeLessThan(0.15);
    }
    // Every refinement shrinks the error about fourfold.
    const summary = result.outputs.convergence as ConvergenceSummary;
    for (const fit of summary.fits) {
      expect(fit.nx).toEqual([16, 32, 64, 128]);
      fit.errorL2.slice(1).forEach((e, k) => {
        expect(fit.errorL2[k]! / e).toBeGreaterThan(3.7);
        expect(fit.errorL2[k]! / e).toBeLessThan(4.3);
      });
    }
    // Crank–Nicolson gets there with 40 steps where FTCS needs 5120.
    expect(m['solve[nx=128,scheme=crank-nicolson].steps']).toBe(40);
    expect(m['solve[nx=128,scheme=ftcs].steps']).toBe(5120);
  });

  it('observes fourth order for FTCS at r = 1/6', async () => {
    const result = await runDag('heat-ftcs-sixth');
    expect(result.status).toBe('COMPLETED');
    expect(Math.abs(result.metrics['convergence.ftcs.orderL2']! - 4)).toBeLessThan(0.15);
  });

  it('runs the single solve as a sequential pipeline', async () => {
    const { metrics } = await runtime.runPipeline('heat');
    expect(metrics['heat.solve.errorMax']).toBeGreaterThan(0);
    expect(metrics['heat.solve.errorMax']).toBeLessThan(1e-4);
  });
});

describe('`phys run heat-convergence`', () => {
  it('prints the orders of both schemes first', async () => {
    const { code, stdout, stderr } = await runPhys(
      ['run', 'heat-convergence', '--progress', 'none'],
      { cwd: exampleDir },
    );
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^✓ heat-convergence: COMPLETED in .+ \(dag, 9 nodes\)$/m);
    const orders = [...stdout.matchAll(/^\s+convergence\.(\S+)\.orderL2\s+(\S+)$/gm)].map(
      (m) => [m[1], Number(m[2])] as const,
    );
    expect(orders.map(([s]) => s)).toEqual(['crank-nicolson', 'ftcs']);
    for (const [, order] of orders) expect(Math.abs(order - 2)).toBeLessThan(0.15);
  });
});
