import type { NodeSummaryMetric } from '@phys/core';
import { describe, expect, it } from 'vitest';
import { read } from '../test/samples.js';
import { PrometheusMetricsCollector } from './collector.js';
import { DURATION_BUCKETS, METRIC_NAMES } from './metrics.js';

/** `values` binned as the executor bins them for the collector: its buckets, not cumulative. */
function binned(values: readonly number[]): Float64Array {
  const counts = new Float64Array(DURATION_BUCKETS.length + 1);
  for (const v of values) {
    const b = DURATION_BUCKETS.findIndex((bound) => v <= bound);
    (counts[b < 0 ? DURATION_BUCKETS.length : b] as number)++;
  }
  return counts;
}

describe('PrometheusMetricsCollector.onNodeSummary', () => {
  it("asks for its histograms' buckets", () => {
    const c = new PrometheusMetricsCollector();
    expect(c.nodeSummaryBuckets.duration).toEqual(DURATION_BUCKETS);
    expect(c.nodeSummaryBuckets.queue).toEqual(DURATION_BUCKETS);
  });

  it('counts summaries of nodes as their starts and ends would, stage by stage', async () => {
    const summarised = new PrometheusMetricsCollector();
    const single = new PrometheusMetricsCollector();
    const base = { pipeline: 'lab', runId: 'r1' };
    for (const c of [summarised, single]) c.onRunStart({ ...base, nodes: 5 });
    const nodes = [
      { node: 'a', stage: 'lab/solve', queueSeconds: 0.002, durationSeconds: 0.0004 },
      { node: 'b', stage: 'lab/solve', queueSeconds: 0, durationSeconds: 2 },
      { node: 'c', stage: 'lab/plot', queueSeconds: 7, durationSeconds: 0.03 },
      { node: 'd', stage: 'lab/solve', queueSeconds: 0.5, durationSeconds: 900 },
      { node: 'e', stage: 'lab/solve', queueSeconds: 0.25, durationSeconds: 1e6 },
    ];
    for (const stage of ['lab/solve', 'lab/plot']) {
      const of = nodes.filter((n) => n.stage === stage);
      const summary: NodeSummaryMetric = {
        ...base,
        stage,
        count: of.length,
        durationCounts: binned(of.map((n) => n.durationSeconds)),
        durationSum: of.reduce((s, n) => s + n.durationSeconds, 0),
        queueCounts: binned(of.map((n) => n.queueSeconds)),
        queueSum: of.reduce((s, n) => s + n.queueSeconds, 0),
      };
      summarised.onNodeSummary(summary);
    }
    for (const n of nodes) {
      single.onNodeStart({
        ...base,
        node: n.node,
        stage: n.stage,
        attempt: 1,
        queueSeconds: n.queueSeconds,
      });
      single.onNodeEnd({
        ...base,
        node: n.node,
        stage: n.stage,
        status: 'COMPLETED',
        attempt: 1,
        durationSeconds: n.durationSeconds,
        cacheHit: false,
      });
    }
    expect(await summarised.registry.metrics()).toBe(await single.registry.metrics());
    expect(
      await read(summarised, METRIC_NAMES.nodes, { stage: 'lab/solve', status: 'COMPLETED' }),
    ).toBe(4);
    expect(await read(summarised, `${METRIC_NAMES.nodeDuration}_count`)).toBe(5);
    // A million seconds is above the last bound: counted in +Inf only.
    expect(
      await read(summarised, `${METRIC_NAMES.nodeDuration}_bucket`, {
        stage: 'lab/solve',
        le: '604800',
      }),
    ).toBe(3);
    expect(await read(summarised, `${METRIC_NAMES.queueWait}_sum`, { stage: 'lab/plot' })).toBe(7);
    const empty = new Float64Array(DURATION_BUCKETS.length + 1);
    summarised.onNodeSummary({
      ...base,
      stage: 'lab/idle',
      count: 0,
      durationCounts: empty,
      durationSum: 0,
      queueCounts: empty,
      queueSum: 0,
    });
    expect(await summarised.registry.metrics()).toBe(await single.registry.metrics());
    await Promise.all([summarised.close(), single.close()]);
  });
});
