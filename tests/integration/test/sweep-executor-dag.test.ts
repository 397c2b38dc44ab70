// Sweeps planned by @phys/sweep, run by DagExecutor (@phys/executor-dag): results tables, and a
// cache shared between sweeps whose points coincide.
import type { NodeSpec } from '@phys/core';
import { DagExecutor, LocalScheduler } from '@phys/executor-dag';
import { collectResults, planSweep, sweepResults, toCsv } from '@phys/sweep';
import { MemoryCache } from '@phys/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { calls, Evaluate, Load, Train } from '../../../plugins/sweep/test/stages.js';

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
