// End to end: phys.config.ts names the plugin ('sandbox-scheduler'); the registry's prefix rule
// finds phys-plugin-sandbox-scheduler in node_modules, and the DAG runs on it.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExecutorToken, SchedulerToken } from '@phys/core';
import { createRuntime, loadConfig, type PhysRuntime } from '@phys/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PeriodState, STANDARD_GRAVITY } from '../src/stages.js';

const exampleDir = fileURLToPath(new URL('..', import.meta.url));
let runtime: PhysRuntime;

beforeAll(async () => {
  runtime = await createRuntime(await loadConfig({ cwd: exampleDir }), { init: true });
});
afterAll(async () => {
  await runtime?.dispose();
});

describe('a project using the third-party scheduler by name', () => {
  it('resolves sandbox-scheduler to the phys-plugin-sandbox-scheduler package', () => {
    expect(runtime.configFile).toBe(join(exampleDir, 'phys.config.ts'));
    expect(runtime.plugins.map((p) => p.name)).toEqual(['executor-dag', 'sandbox-scheduler']);
    expect(runtime.plugins[1]?.provides).toEqual(['scheduler']);
    const scheduler = runtime.resolve(SchedulerToken);
    expect(scheduler.name).toBe('sandbox');
    expect(scheduler.capabilities.maxResources?.gpu).toBe(0);
  });

  it('runs the pendulum sweep on it: periods grow with amplitude as the series predicts', async () => {
    const declaration = runtime.pipeline('pendulum');
    if (declaration.kind !== 'dag') throw new Error('pendulum is a DAG pipeline');
    const result = await runtime.resolve(ExecutorToken).execute({
      pipeline: 'pendulum',
      nodes: declaration.nodes,
      initialState: declaration.initialState,
      container: runtime.container,
    });
    expect(result.status).toBe('COMPLETED');
    const table = result.outputs.table as PeriodState[];
    expect(table.map((r) => r.amplitudeDeg)).toEqual([5, 30, 60, 90, 120, 150]);
    const t0 = 2 * Math.PI * Math.sqrt(1 / STANDARD_GRAVITY);
    for (const row of table) {
      const a = (row.amplitudeDeg * Math.PI) / 180;
      expect(row.smallAngle).toBeCloseTo(t0, 12);
      if (row.amplitudeDeg <= 60) {
        // T ≈ T0 (1 + θ²/16 + 11θ⁴/3072), good to ~1e-4 relative below 60°.
        expect(row.period / t0).toBeCloseTo(1 + a ** 2 / 16 + (11 * a ** 4) / 3072, 3);
      }
    }
    // At 90° the exact ratio is 2K(1/√2)/π = 1.18034...
    expect((table[3]?.period ?? 0) / t0).toBeCloseTo(1.18034, 4);
    expect(result.metrics['table.maxRatio']).toBeGreaterThan(1.7);
  });
});
