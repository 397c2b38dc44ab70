import type { NodeBatchMetric } from '@phys/core';
import { describe, expect, it } from 'vitest';
import { PrometheusMetricsCollector } from './collector.js';
import { METRIC_NAMES } from './metrics.js';

type Labels = Record<string, string>;

/** The sum of the samples named `name` whose labels include `labels`, as a scrape reads them. */
async function read(c: PrometheusMetricsCollector, name: string, labels: Labels = {}) {
  let sum = 0;
  for (const family of await c.registry.getMetricsAsJSON()) {
    for (const v of family.values as { labels: Labels; value: number; metricName?: string }[]) {
      if ((v.metricName ?? family.name) !== name) continue;
      if (Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)) sum += v.value;
    }
  }
  return sum;
}

describe('PrometheusMetricsCollector.onNodeBatch', () => {
  it('counts a batch of nodes as their starts and ends would, stage by stage', async () => {
    const batched = new PrometheusMetricsCollector();
    const single = new PrometheusMetricsCollector();
    const base = { pipeline: 'lab', runId: 'r1' };
    for (const c of [batched, single]) c.onRunStart({ ...base, nodes: 5 });
    const nodes = [
      { node: 'a', stage: 'lab/solve', queueSeconds: 0.002, durationSeconds: 0.0004 },
      { node: 'b', stage: 'lab/solve', queueSeconds: 0, durationSeconds: 2 },
      { node: 'c', stage: 'lab/plot', queueSeconds: 7, durationSeconds: 0.03 },
      { node: 'd', stage: 'lab/solve', queueSeconds: 0.5, durationSeconds: 900 },
    ];
    // Columns longer than the batch, as the executor reuses them: the tail must not count.
    const batch: NodeBatchMetric = {
      ...base,
      count: nodes.length,
      nodes: [...nodes.map((n) => n.node), 'stale'],
      stages: [...nodes.map((n) => n.stage), 'lab/stale'],
      attempts: [1, 1, 1, 1, 1],
      queueSeconds: [...nodes.map((n) => n.queueSeconds), 1],
      durationSeconds: [...nodes.map((n) => n.durationSeconds), 1],
    };
    batched.onNodeBatch(batch);
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
    expect(await batched.registry.metrics()).toBe(await single.registry.metrics());
    expect(
      await read(batched, METRIC_NAMES.nodes, { stage: 'lab/solve', status: 'COMPLETED' }),
    ).toBe(3);
    expect(await read(batched, METRIC_NAMES.nodes, { stage: 'lab/stale' })).toBe(0);
    expect(await read(batched, `${METRIC_NAMES.nodeDuration}_count`)).toBe(4);
    expect(await read(batched, `${METRIC_NAMES.queueWait}_sum`, { stage: 'lab/plot' })).toBe(7);
    batched.onNodeBatch({ ...batch, count: 0 });
    expect(await batched.registry.metrics()).toBe(await single.registry.metrics());
    await Promise.all([batched.close(), single.close()]);
  });
});
