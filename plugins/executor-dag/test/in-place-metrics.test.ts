// Nodes the fast path runs in place reach collectors with `onNodeSummary` binned into their
// buckets, a summary per stage, and the others as an event per start and end. Both must count
// the same nodes, stages, queue waits and durations, across stage changes, around a node handed
// to the general path in the middle of a burst, and into every bucket.
import {
  defineStage,
  type MetricsCollector,
  type NodeEndMetric,
  type NodeSpec,
  type NodeStartMetric,
  type NodeSummaryMetric,
} from '@phys/core';
import { recordingLogger } from '@phys/testing';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DagExecutor } from '../src/dag-executor.js';
import { LocalScheduler } from '../src/local-scheduler.js';
import { bucketOf, lowMs } from '../src/observation.js';
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

/** An inline stage that keeps the thread busy for `ms`: still run in place, but not in bucket 0. */
const Spin = defineStage({
  name: 'test/in-place-spin',
  version: '1',
  config: z.object({ ms: z.number() }),
  process: (state: unknown, ctx) => {
    const until = performance.now() + ctx.config.ms;
    while (performance.now() < until) {
      // busy: a synchronous stage holds the thread
    }
    return { state };
  },
});

/** Bucket bounds (seconds) that split what these runs take: µs nodes, ms spins, waits. */
const BOUNDS = [0.0005, 0.002, 0.02, 1];

/** One stage's nodes as an aggregating collector keeps them. */
interface Tally {
  count: number;
  duration: number[];
  durationSum: number;
  queue: number[];
  queueSum: number;
}

function bucket(value: number): number {
  const b = BOUNDS.findIndex((bound) => value <= bound);
  return b < 0 ? BOUNDS.length : b;
}

class Tallies {
  readonly byStage = new Map<string, Tally>();
  of(stage: string): Tally {
    let t = this.byStage.get(stage);
    if (t === undefined) {
      const zeros = () => Array.from({ length: BOUNDS.length + 1 }, () => 0);
      t = { count: 0, duration: zeros(), durationSum: 0, queue: zeros(), queueSum: 0 };
      this.byStage.set(stage, t);
    }
    return t;
  }
  get total(): number {
    let n = 0;
    for (const t of this.byStage.values()) n += t.count;
    return n;
  }
}

/** Hears nodes one event at a time; tallies the COMPLETED ones by stage. */
class EachCollector implements MetricsCollector {
  readonly name: string = 'each';
  readonly tallies = new Tallies();
  readonly ids = new Set<string>();
  readonly #queue = new Map<string, number>();
  onNodeStart(e: NodeStartMetric): void {
    this.#queue.set(e.node, e.queueSeconds);
  }
  onNodeEnd(e: NodeEndMetric): void {
    if (e.status !== 'COMPLETED') return;
    expect(this.ids.has(e.node)).toBe(false);
    this.ids.add(e.node);
    const q = this.#queue.get(e.node) as number;
    const t = this.tallies.of(e.stage);
    t.count++;
    (t.duration[bucket(e.durationSeconds)] as number)++;
    t.durationSum += e.durationSeconds;
    (t.queue[bucket(q)] as number)++;
    t.queueSum += q;
  }
}

/** Takes nodes run in place binned (and events for the others), as an aggregating one does. */
class SummaryCollector extends EachCollector {
  override readonly name: string = 'summary';
  readonly nodeSummaryBuckets = { duration: BOUNDS, queue: BOUNDS };
  readonly summaries: { stage: string; count: number }[] = [];
  onNodeSummary(s: NodeSummaryMetric): void {
    expect(s.count).toBeGreaterThan(0);
    expect(s.durationCounts).toHaveLength(BOUNDS.length + 1);
    this.summaries.push({ stage: s.stage, count: s.count });
    const t = this.tallies.of(s.stage);
    t.count += s.count;
    for (let b = 0; b <= BOUNDS.length; b++) {
      (t.duration[b] as number) += s.durationCounts[b] as number;
      (t.queue[b] as number) += s.queueCounts[b] as number;
    }
    t.durationSum += s.durationSum;
    t.queueSum += s.queueSum;
  }
  get summarised(): number {
    return this.summaries.reduce((n, s) => n + s.count, 0);
  }
}

/** Bounds of a second collector: its first bucket holds the fine layout's first three. */
const COARSE = [0.02, 1];

interface CoarseTally {
  count: number;
  duration: number[];
  queue: number[];
  queueSum: number;
}

/** Events and summaries alike, tallied in the COARSE buckets. */
class CoarseCollector implements MetricsCollector {
  readonly name = 'coarse';
  readonly nodeSummaryBuckets = { duration: COARSE, queue: COARSE };
  readonly byStage = new Map<string, CoarseTally>();
  summarised = 0;
  readonly #queue = new Map<string, number>();
  of(stage: string): CoarseTally {
    let t = this.byStage.get(stage);
    if (t === undefined) {
      t = { count: 0, duration: [0, 0, 0], queue: [0, 0, 0], queueSum: 0 };
      this.byStage.set(stage, t);
    }
    return t;
  }
  onNodeStart(e: NodeStartMetric): void {
    this.#queue.set(e.node, e.queueSeconds);
  }
  onNodeEnd(e: NodeEndMetric): void {
    if (e.status !== 'COMPLETED') return;
    const bucketOfCoarse = (v: number) => (v <= 0.02 ? 0 : v <= 1 ? 1 : 2);
    const q = this.#queue.get(e.node) as number;
    const t = this.of(e.stage);
    t.count++;
    (t.duration[bucketOfCoarse(e.durationSeconds)] as number)++;
    (t.queue[bucketOfCoarse(q)] as number)++;
    t.queueSum += q;
  }
  onNodeSummary(s: NodeSummaryMetric): void {
    this.summarised += s.count;
    const t = this.of(s.stage);
    t.count += s.count;
    for (let b = 0; b <= COARSE.length; b++) {
      (t.duration[b] as number) += s.durationCounts[b] as number;
      (t.queue[b] as number) += s.queueCounts[b] as number;
    }
    t.queueSum += s.queueSum;
  }
}

/** The same counts both ways; sums to the nanosecond (added in other orders and units). */
function expectSame(actual: Tallies, expected: Tallies): void {
  const counts = (t: Tallies) =>
    new Map([...t.byStage].map(([stage, x]) => [stage, { ...x, durationSum: 0, queueSum: 0 }]));
  expect(counts(actual)).toEqual(counts(expected));
  for (const [stage, t] of expected.byStage) {
    const a = actual.byStage.get(stage) as Tally;
    expect(a.durationSum, stage).toBeCloseTo(t.durationSum, 9);
    expect(a.queueSum, stage).toBeCloseTo(t.queueSum, 9);
  }
}

function chain(n: number, stageOf: (i: number) => NodeSpec['stage']): NodeSpec[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `n${i}`,
    stage: stageOf(i),
    deps: i === 0 ? [] : [`n${i - 1}`],
  }));
}

/**
 * 30 roots of `add` and spinning nodes on one slot: each waits for those before it, and every
 * third one spins for 1-4 ms.
 */
function spinningRoots(add: NodeSpec['stage']): NodeSpec[] {
  return Array.from({ length: 30 }, (_, i) => ({
    id: `r${i}`,
    stage: i % 3 === 0 ? Spin({ ms: 1 + (i % 4) }) : add,
  }));
}

async function runWith(
  nodes: NodeSpec[],
  collectors: MetricsCollector[],
  maxWorkers = 1,
): Promise<number> {
  const executor = new DagExecutor({
    scheduler: new LocalScheduler({ maxWorkers }),
    metrics: collectors,
  });
  const t0 = performance.now();
  const result = await executor.run({ payload: 0 }, nodes);
  const seconds = (performance.now() - t0) / 1000;
  await executor.close();
  expect(result.status).toBe('COMPLETED');
  return seconds;
}

describe('nodes run in place, as summaries and as events', () => {
  it('counts every node of a 2,500-node chain that changes stage, as the events do', async () => {
    const one = Add({ amount: 1 });
    const two = Double({});
    // Stretches of one stage, then another: a summary per stage and stretch.
    const nodes = chain(2500, (i) => (Math.floor(i / 100) % 2 === 0 ? one : two));
    const each = new EachCollector();
    const summary = new SummaryCollector();
    const seconds = await runWith(nodes, [each, summary]);

    expect(each.ids.size).toBe(2500);
    expect(summary.summarised).toBe(2500);
    expect(summary.ids.size).toBe(0);
    expectSame(summary.tallies, each.tallies);
    expect(summary.tallies.of(one.name).count).toBe(1300);
    expect(summary.tallies.of(two.name).count).toBe(1200);
    // A chain node starts at the clock reading that ended its parent: no wait, bar the root's.
    expect(each.tallies.of(one.name).queueSum).toBeLessThan(seconds);
    expect(each.tallies.of(two.name).queueSum).toBe(0);
    // Back to back in one run: their durations add up to no more than the run took.
    const total = [...summary.tallies.byStage.values()].reduce((s, t) => s + t.durationSum, 0);
    expect(total).toBeGreaterThan(0);
    expect(total).toBeLessThanOrEqual(seconds);
  });

  it('bins nodes that take longer than the first bound, and waits behind them, as the events do', async () => {
    const add = Add({ amount: 1 });
    const nodes = spinningRoots(add);
    const each = new EachCollector();
    const summary = new SummaryCollector();
    await runWith(nodes, [each, summary]);

    expect(summary.summarised + summary.ids.size).toBe(30);
    expectSame(summary.tallies, each.tallies);
    const spin = summary.tallies.of('test/in-place-spin');
    expect(spin.count).toBe(10);
    // Every spin took over a millisecond: none in the first bucket.
    expect(spin.duration[0]).toBe(0);
    // Waits grow past the first bounds behind the spinning nodes.
    const waits = summary.tallies.of(add.name).queue;
    expect(waits.slice(1).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });

  it('bins for each collector in its own buckets, whatever the others declare', async () => {
    const add = Add({ amount: 1 });
    // Waits past 0.5 ms (the fine layout's first bound), most under 20 ms (the coarse layout's):
    // bucket 0 for one collector, not for the other.
    const nodes = spinningRoots(add);
    const each = new EachCollector();
    const fine = new SummaryCollector();
    const coarse = new CoarseCollector();
    await runWith(nodes, [fine, coarse, each]);

    expectSame(fine.tallies, each.tallies);
    // The coarse layout's buckets are unions of the fine one's: 0.02 s is a bound of both.
    const merge = (fineCounts: number[]) => [
      (fineCounts[0] as number) + (fineCounts[1] as number) + (fineCounts[2] as number),
      fineCounts[3] as number,
      fineCounts[4] as number,
    ];
    for (const [stage, t] of each.tallies.byStage) {
      const c = coarse.byStage.get(stage) as CoarseTally;
      expect(c.count, stage).toBe(t.count);
      expect(c.duration, stage).toEqual(merge(t.duration));
      expect(c.queue, stage).toEqual(merge(t.queue));
      expect(c.queueSum, stage).toBeCloseTo(t.queueSum, 9);
    }
    expect(coarse.summarised).toBeGreaterThan(0);
    expect(coarse.byStage.get(add.name)?.queue[0]).toBeGreaterThan(
      fine.tallies.of(add.name).queue[0] as number,
    );
  });

  it('bins node by node a stretch that took longer than the first bound, though none of its nodes did', async () => {
    // Eight nodes of 0.2 ms back to back: the stretch spans 1.6 ms, each node under 0.5 ms.
    const nodes = chain(8, () => Spin({ ms: 0.2 }));
    const each = new EachCollector();
    const summary = new SummaryCollector();
    await runWith(nodes, [each, summary]);

    expect(summary.summarised).toBe(8);
    // Each node in the bucket its own duration gives it (as its event would), not its stretch's:
    // the stretch took longer than the first bound (a busy machine may stretch a node, too).
    expectSame(summary.tallies, each.tallies);
    expect(summary.tallies.of('test/in-place-spin').durationSum).toBeGreaterThan(0.0016);
  });

  it('counts the nodes before and after a node handed to the general path mid-burst', async () => {
    const add = Add({ amount: 1 });
    // n600 returns a promise: the burst hands it over, and a new burst takes the rest.
    const nodes = chain(1200, (i) => (i === 600 ? Sleep({ ms: 5 }) : add));
    const each = new EachCollector();
    const summary = new SummaryCollector();
    await runWith(nodes, [each, summary]);

    expect(each.ids.size).toBe(1200);
    expectSame(summary.tallies, each.tallies);
    // The slow node ran on the general path: an event, with its 5 ms.
    expect([...summary.ids]).toEqual(['n600']);
    expect(summary.summarised).toBe(1199);
    expect(summary.summaries.length).toBeGreaterThanOrEqual(2);
    const sleep = summary.tallies.of('test/sleep').duration;
    expect(sleep.slice(bucket(0.005)).reduce((a, b) => a + b, 0)).toBe(1);
  });

  it('falls back to events for a collector whose buckets are not ascending, and says so once', async () => {
    const logger = recordingLogger();
    const bad = new SummaryCollector();
    (bad as { nodeSummaryBuckets: unknown }).nodeSummaryBuckets = { duration: [1, 0.5], queue: [] };
    const each = new EachCollector();
    const executor = new DagExecutor({
      scheduler: new LocalScheduler({ maxWorkers: 1 }),
      metrics: [bad, each],
      logger,
    });
    for (let k = 0; k < 2; k++) {
      const result = await executor.run(
        { payload: 0 },
        chain(50, () => Add({ amount: 1 })),
      );
      expect(result.status).toBe('COMPLETED');
    }
    await executor.close();
    expect(bad.summaries).toEqual([]);
    expect(bad.ids.size).toBe(50);
    expect(logger.warnings.filter((w) => w.includes('nodeSummaryBuckets.duration'))).toHaveLength(
      1,
    );
    expectSame(bad.tallies, each.tallies);
  });

  it('reads the buckets at every run start: a layout changed between runs is used', async () => {
    const bounds = [0.5];
    const lengths: number[] = [];
    const collector: MetricsCollector = {
      name: 'changing',
      nodeSummaryBuckets: { duration: bounds, queue: bounds },
      onNodeSummary: (s) => {
        lengths.push(s.durationCounts.length, s.queueCounts.length);
      },
    };
    const executor = new DagExecutor({
      scheduler: new LocalScheduler({ maxWorkers: 1 }),
      metrics: [collector],
    });
    await executor.run(
      { payload: 0 },
      chain(10, () => Add({ amount: 1 })),
    );
    bounds.push(1, 2);
    await executor.run(
      { payload: 0 },
      chain(10, () => Add({ amount: 1 })),
    );
    await executor.close();
    expect(lengths).toEqual([2, 2, 4, 4]);
  });

  it('keeps the run and the other collectors going when onNodeSummary throws', async () => {
    const broken: MetricsCollector = {
      name: 'broken',
      nodeSummaryBuckets: { duration: BOUNDS, queue: BOUNDS },
      onNodeSummary: () => {
        throw new Error('collector bug');
      },
    };
    const summary = new SummaryCollector();
    await runWith(
      chain(300, () => Add({ amount: 1 })),
      [broken, summary],
    );
    expect(summary.summarised).toBe(300);
  });
});

describe('binning in milliseconds', () => {
  it('puts a value in bucket 0 only where its seconds are at or under the first bound', () => {
    for (const first of [0.001, 0.0005, 0.3, 1e-9, 7, 0]) {
      const bounds = Float64Array.from([first, first + 1]);
      const low = lowMs(bounds);
      const ms = first * 1000;
      // Around the bound, ulp by ulp: a value the fast test takes is in bucket 0 in seconds.
      for (const v of [low, ms, ms * (1 - 2 ** -52), ms * (1 + 2 ** -52), ms - 1e-12, ms + 1e-12]) {
        if (v <= low) expect(bucketOf(bounds, v / 1000), `${first}: ${v}`).toBe(0);
      }
      expect(low).toBeLessThanOrEqual(ms);
      expect(ms - low).toBeLessThanOrEqual(Math.abs(ms) * 2 ** -39);
    }
    expect(lowMs(new Float64Array(0))).toBe(Number.POSITIVE_INFINITY);
    expect(bucketOf(Float64Array.from([1, 2]), 2)).toBe(1);
    expect(bucketOf(Float64Array.from([1, 2]), 2.5)).toBe(2);
    expect(bucketOf(new Float64Array(0), 5)).toBe(0);
  });
});
