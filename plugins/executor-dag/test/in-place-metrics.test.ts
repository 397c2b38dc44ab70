// Nodes the fast path runs in place reach collectors with `onNodeBatch` as columns, filled while
// they run, and the others as an event per start and end. Both must tell the same nodes, stages,
// queue waits and durations, across batch boundaries and around a node handed to the general
// path in the middle of a burst.
import {
  defineStage,
  type MetricsCollector,
  type NodeBatchMetric,
  type NodeEndMetric,
  type NodeSpec,
  type NodeStartMetric,
} from '@phys/core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DagExecutor } from '../src/dag-executor.js';
import { LocalScheduler } from '../src/local-scheduler.js';
import { Add, Sleep } from './fixtures/stages.js';

/** A second inline stage, so that a chain can change stage along the way. */
const Double = defineStage({
  name: 'test/in-place-double',
  version: '1',
  config: z.object({}),
  process: (state: unknown) => ({
    state: { payload: 2 * ((state as { payload?: number }).payload ?? 0) },
  }),
});

interface Heard {
  readonly node: string;
  readonly stage: string;
  readonly attempt: number;
  readonly queueSeconds: number;
  readonly durationSeconds: number;
}

/** Hears nodes one event at a time; keeps the COMPLETED ones, by node id. */
class EachCollector implements MetricsCollector {
  readonly name: string = 'each';
  readonly heard = new Map<string, Heard>();
  readonly #queue = new Map<string, number>();
  onNodeStart(e: NodeStartMetric): void {
    this.#queue.set(e.node, e.queueSeconds);
  }
  onNodeEnd(e: NodeEndMetric): void {
    if (e.status !== 'COMPLETED') return;
    this.heard.set(e.node, {
      node: e.node,
      stage: e.stage,
      attempt: e.attempt,
      queueSeconds: this.#queue.get(e.node) ?? Number.NaN,
      durationSeconds: e.durationSeconds,
    });
  }
}

/** Takes batches of nodes run in place (and events for the others), like an aggregating one. */
class BatchCollector extends EachCollector {
  override readonly name = 'batch';
  readonly sizes: number[] = [];
  onNodeBatch(b: NodeBatchMetric): void {
    this.sizes.push(b.count);
    for (let k = 0; k < b.count; k++) {
      const node = b.nodes[k] as string;
      expect(this.heard.has(node)).toBe(false);
      this.heard.set(node, {
        node,
        stage: b.stages[k] as string,
        attempt: b.attempts[k] as number,
        queueSeconds: b.queueSeconds[k] as number,
        durationSeconds: b.durationSeconds[k] as number,
      });
    }
  }
}

function chain(n: number, stageOf: (i: number) => NodeSpec['stage']): NodeSpec[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `n${i}`,
    stage: stageOf(i),
    deps: i === 0 ? [] : [`n${i - 1}`],
  }));
}

async function runWithBoth(
  nodes: NodeSpec[],
  maxWorkers = 1,
): Promise<{ each: EachCollector; batch: BatchCollector; seconds: number }> {
  const each = new EachCollector();
  const batch = new BatchCollector();
  const executor = new DagExecutor({
    scheduler: new LocalScheduler({ maxWorkers }),
    metrics: [each, batch],
  });
  const t0 = performance.now();
  const result = await executor.run({ payload: 0 }, nodes);
  const seconds = (performance.now() - t0) / 1000;
  await executor.close();
  expect(result.status).toBe('COMPLETED');
  return { each, batch, seconds };
}

describe('nodes run in place, as batches and as events', () => {
  it('tells every node of a 2,500-node chain once, in batches of at most 1,024, as the events do', async () => {
    const one = Add({ amount: 1 });
    const two = Double({});
    // Stretches of one stage, then another: the stage column must follow them.
    const nodes = chain(2500, (i) => (Math.floor(i / 100) % 2 === 0 ? one : two));
    const { each, batch, seconds } = await runWithBoth(nodes);

    expect(batch.sizes.reduce((a, b) => a + b, 0)).toBe(2500);
    expect(Math.max(...batch.sizes)).toBeLessThanOrEqual(1024);
    expect(batch.sizes.length).toBeGreaterThanOrEqual(3);
    expect(batch.heard.size).toBe(2500);
    expect(each.heard.size).toBe(2500);
    let total = 0;
    for (const [id, heard] of each.heard) {
      // The same figures both ways, to the bit.
      expect(batch.heard.get(id)).toEqual(heard);
      expect(heard.attempt).toBe(1);
      // A chain node starts at the clock reading that ended its parent: no wait (the root
      // waited from the run's start).
      if (id !== 'n0') expect(heard.queueSeconds).toBe(0);
      expect(heard.durationSeconds).toBeGreaterThanOrEqual(0);
      total += heard.durationSeconds;
    }
    expect(batch.heard.get('n0')?.stage).toBe(one.name);
    expect(batch.heard.get('n150')?.stage).toBe(two.name);
    expect(batch.heard.get('n2499')?.stage).toBe(one.name);
    // Back to back in one run: their durations add up to no more than the run took.
    expect(total).toBeLessThanOrEqual(seconds);
  });

  it('reports the nodes before and after a node handed to the general path mid-burst', async () => {
    const add = Add({ amount: 1 });
    // n600 returns a promise: the burst hands it over, and a new burst takes the rest.
    const nodes = chain(1200, (i) => (i === 600 ? Sleep({ ms: 5 }) : add));
    const { each, batch } = await runWithBoth(nodes);

    expect(each.heard.size).toBe(1200);
    expect(batch.heard.size).toBe(1200);
    for (const [id, heard] of each.heard) expect(batch.heard.get(id)).toEqual(heard);
    // The slow node ran on the general path: an event, not a batch entry, with its 5 ms.
    expect(batch.heard.get('n600')?.durationSeconds).toBeGreaterThanOrEqual(0.004);
    expect(batch.sizes.reduce((a, b) => a + b, 0)).toBe(1199);
  });

  it('gives nodes that waited for a slot their queue wait', async () => {
    const add = Add({ amount: 1 });
    // 40 roots, ready at once, run one after another on one slot: each waits for those before.
    const nodes: NodeSpec[] = Array.from({ length: 40 }, (_, i) => ({ id: `r${i}`, stage: add }));
    const { each, batch } = await runWithBoth(nodes);
    for (const [id, heard] of each.heard) expect(batch.heard.get(id)).toEqual(heard);
    const waits = [...batch.heard.values()].map((h) => h.queueSeconds);
    expect(waits.every((w) => w >= 0)).toBe(true);
    expect(Math.max(...waits)).toBeGreaterThan(0);
  });
});
