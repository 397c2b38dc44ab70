// Sweeps planned by @phys/sweep, run by DagExecutor (@phys/executor-dag): results tables, a
// cache shared between sweeps whose points coincide, and what the stages of a point's copies see
// (their parents by declared id, the point), inline, on worker threads and on the mock cluster.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Isolation, NodeSpec } from '@phys/core';
import { DagExecutor, LocalScheduler } from '@phys/executor-dag';
import { MockHpcScheduler } from '@phys/scheduler-mock';
import { collectResults, planSweep, sweepResults, toCsv } from '@phys/sweep';
import { MemoryCache, taskCommand } from '@phys/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { calls, Evaluate, Load, Train } from '../../../plugins/sweep/test/stages.js';
import { Compare, Euler, Exact, Problem } from './fixtures/sweep-parents/stages.js';

const chain = (): NodeSpec[] => [
  { id: 'load', stage: Load({ n: 4 }) },
  { id: 'train', stage: Train({ lr: 0.1 }), deps: ['load'] },
  { id: 'eval', stage: Evaluate({}), deps: ['train'] },
];

const executor = (cache: MemoryCache) =>
  new DagExecutor({ scheduler: new LocalScheduler({ maxWorkers: 2 }), cache, metrics: [] });

beforeEach(() => calls.clear());

describe('a sweep run by DagExecutor', () => {
  it('runs every point and collects a results table', async () => {
    const plan = planSweep(
      chain(),
      { node: 'train', params: { lr: [0.01, 0.1], bs: [10, 20] } },
      { collect: { id: 'results', stage: collectResults({ metrics: ['accuracy', 'loss'] }) } },
    );
    const result = await executor(new MemoryCache()).run(null, plan.nodes);
    expect(result.status).toBe('COMPLETED');
    expect(Object.fromEntries(calls)).toEqual({ load: 1, train: 4, evaluate: 4 });

    const table = result.outputs.results as {
      params: string[];
      metrics: string[];
      rows: { point: string; params: Record<string, number>; metrics: Record<string, number> }[];
    };
    expect(table.params).toEqual(['bs', 'lr']);
    expect(table.metrics).toEqual(['accuracy', 'loss']);
    expect(table.rows.map((r) => r.point)).toEqual([
      'bs=10,lr=0.01',
      'bs=10,lr=0.1',
      'bs=20,lr=0.01',
      'bs=20,lr=0.1',
    ]);
    const loss = (lr: number, bs: number) => 10 * lr + 1 / bs + 0.9;
    for (const row of table.rows) {
      const expected = loss(row.params.lr as number, row.params.bs as number);
      expect(row.metrics.loss).toBeCloseTo(expected, 12);
      expect(row.metrics.accuracy).toBeCloseTo(1 / (1 + expected), 12);
    }

    // The same table from the run's metrics, with the metrics of every duplicated node.
    const fromMetrics = sweepResults(plan, result.metrics);
    expect(fromMetrics.metrics).toEqual(['train.loss', 'eval.accuracy']);
    expect(fromMetrics.rows.map((r) => r.metrics['eval.accuracy'])).toEqual(
      table.rows.map((r) => r.metrics.accuracy),
    );
    expect(toCsv(fromMetrics).split('\r\n')[0]).toBe('point,bs,lr,train.loss,eval.accuracy');
  });

  it('computes only the new points when a sweep is extended (the cache ignores node ids)', async () => {
    const cache = new MemoryCache();
    const small = planSweep(
      chain(),
      { node: 'train', params: { lr: [0.01, 0.1] } },
      {
        collect: { id: 'results' },
      },
    );
    await executor(cache).run(null, small.nodes);
    expect(Object.fromEntries(calls)).toEqual({ load: 1, train: 2, evaluate: 2 });

    calls.clear();
    const larger = planSweep(
      chain(),
      { node: 'train', params: { lr: [0.01, 0.1, 1] } },
      {
        collect: { id: 'results' },
      },
    );
    const result = await executor(cache).run(null, larger.nodes);
    expect(Object.fromEntries(calls)).toEqual({ train: 1, evaluate: 1 });
    expect(result.statusOf('train[lr=0.01]')).toBe('CACHED');
    expect(result.statusOf('eval[lr=0.1]')).toBe('CACHED');
    expect(result.statusOf('train[lr=1]')).toBe('COMPLETED');
    // the collect node's config lists the points, so it is recomputed with the new row
    expect(result.statusOf('results')).toBe('COMPLETED');
    const rows = (result.outputs.results as { rows: { point: string }[] }).rows;
    expect(rows.map((r) => r.point)).toEqual(['lr=0.01', 'lr=0.1', 'lr=1']);
  });

  it('shares work between sweeps whose points coincide, whatever their node ids', async () => {
    const cache = new MemoryCache();
    await executor(cache).run(
      null,
      planSweep(chain(), { node: 'train', params: { lr: [0.5] } }).nodes,
    );
    calls.clear();
    // a grid over two parameters whose first point is the same config as lr=0.5 with default bs
    const plan = planSweep(chain(), { node: 'train', params: { lr: [0.5], bs: [16, 32] } });
    const result = await executor(cache).run(null, plan.nodes);
    expect(result.statusOf('train[bs=16,lr=0.5]')).toBe('CACHED');
    expect(Object.fromEntries(calls)).toEqual({ train: 1, evaluate: 1 });
  });
});

const parentsConfig = fileURLToPath(
  new URL('./fixtures/sweep-parents/phys.config.ts', import.meta.url),
);

/** Forward Euler on y' = -y up to t = 1, against the exact solution; `euler` is swept. */
const study = (isolation?: Isolation): NodeSpec[] => {
  const iso = isolation === undefined ? {} : { isolation };
  return [
    { id: 'problem', stage: Problem({ k: 1, t: 1 }) },
    { id: 'euler', stage: Euler({ dt: 0.5 }), deps: ['problem'], ...iso },
    { id: 'exact', stage: Exact({}), deps: ['problem'] },
    { id: 'compare', stage: Compare({}), deps: ['euler', 'exact'], ...iso },
  ];
};

const eulerError = (dt: number) => Math.abs((1 - dt) ** Math.round(1 / dt) - Math.exp(-1));

describe('the stages of a swept point', () => {
  let workDir: string;
  let local: LocalScheduler;
  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'phys-sweep-parents-'));
    local = new LocalScheduler({ maxWorkers: 2, configFile: parentsConfig, workDir });
  });
  afterAll(async () => {
    await local.close();
    await rm(workDir, { recursive: true, force: true });
  });

  it.each<Isolation>(['inline', 'thread', 'process'])(
    'read their parents by declared id and get the point as ctx.point (%s)',
    async (isolation) => {
      const plan = planSweep(study(isolation), { node: 'euler', params: { dt: [0.1, 0.01] } });
      const result = await new DagExecutor({ scheduler: local, metrics: [] }).run(null, plan.nodes);
      expect(result.status).toBe('COMPLETED');
      for (const dt of [0.1, 0.01]) {
        expect(result.outputs[`compare[dt=${dt}]`]).toEqual({
          error: eulerError(dt),
          parents: ['euler', 'exact'],
          point: { dt },
          node: `compare[dt=${dt}]`,
        });
      }
      expect(result.metrics['compare[dt=0.01].error']).toBeLessThan(
        result.metrics['compare[dt=0.1].error'] as number,
      );
    },
  );

  it('read their parents by declared id and get the point on a cluster', async () => {
    const cluster = new MockHpcScheduler({
      configFile: parentsConfig,
      workDir: join(workDir, 'cluster'),
      hosts: 1,
      cpusPerHost: 2,
      queueLatencySeconds: 0,
      taskCommand: taskCommand(),
    });
    try {
      const plan = planSweep(study(), { node: 'euler', params: { dt: [0.1] } });
      const result = await new DagExecutor({ scheduler: cluster, metrics: [] }).run(
        null,
        plan.nodes,
      );
      expect(result.status).toBe('COMPLETED');
      expect(result.outputs['compare[dt=0.1]']).toEqual({
        error: eulerError(0.1),
        parents: ['euler', 'exact'],
        point: { dt: 0.1 },
        node: 'compare[dt=0.1]',
      });
    } finally {
      await cluster.close();
    }
  });

  it('share cached work with the same nodes run without a sweep', async () => {
    const cache = new MemoryCache();
    const executor = () => new DagExecutor({ scheduler: local, cache, metrics: [] });
    const plain = study().map((n) => (n.id === 'euler' ? { ...n, stage: Euler({ dt: 0.1 }) } : n));
    const first = await executor().run(null, plain);
    expect(first.status).toBe('COMPLETED');
    const swept = planSweep(study(), { node: 'euler', params: { dt: [0.1, 0.01] } });
    const result = await executor().run(null, swept.nodes);
    // dt = 0.1 is the plain run's work: its copies see the same inputs under the same names
    expect(result.statusOf('compare[dt=0.1]')).toBe('CACHED');
    expect(result.statusOf('compare[dt=0.01]')).toBe('COMPLETED');
    expect((result.outputs['compare[dt=0.01]'] as { error: number }).error).toBe(eulerError(0.01));
  });
});
