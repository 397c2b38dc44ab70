// Real DAG runs (@phys/executor-dag) observed by @phys/metrics-prometheus in a real Prometheus and
// Pushgateway (scripts/services/prometheus-up.sh; .ci/run starts them): the numbers a user reads
// back through Prometheus' query API and the Pushgateway's API, whether Prometheus scraped the
// run's /metrics, the run pushed to the gateway, or it remote-wrote to Prometheus.
import { randomUUID } from 'node:crypto';
import { defineStage, getMetricsCollectors, type NodeSpec, setMetricsCollector } from '@phys/core';
import { DagExecutor, LocalScheduler } from '@phys/executor-dag';
import { PrometheusMetricsCollector } from '@phys/metrics-prometheus';
import { MemoryCache } from '@phys/testing';
import { afterAll, afterEach, expect, it } from 'vitest';
import { z } from 'zod';
import {
  deleteJob,
  describePrometheus,
  eventually,
  gatewayGroups,
  gatewayValue,
  PROMETHEUS,
  PUSHGATEWAY,
  query,
  SCRAPED_PORTS,
} from '../../../plugins/metrics-prometheus/test/services.js';

const Value = defineStage({
  name: 'metrics-it/value',
  version: '1',
  config: z.object({ value: z.number() }),
  process: (_state: unknown, { config }) => ({
    state: config.value,
    metrics: { value: config.value },
  }),
});

const Diverge = defineStage({
  name: 'metrics-it/diverge',
  version: '1',
  config: z.object({ seed: z.number() }),
  process: () => {
    throw new Error('the solver diverged');
  },
});

// Fails its first attempt, then succeeds: one retry.
const attempts = new Map<string, number>();
const Flaky = defineStage({
  name: 'metrics-it/flaky',
  version: '1',
  config: z.object({ key: z.string() }),
  process: (_state: unknown, { config }) => {
    const n = (attempts.get(config.key) ?? 0) + 1;
    attempts.set(config.key, n);
    if (n === 1) throw new Error('a transient failure');
    return { state: n };
  },
});

// Waits until the test releases it: nodes that stay running while the test reads the gauges.
let release: () => void = () => {};
let released = new Promise<void>((resolve) => {
  release = resolve;
});
const Gate = defineStage({
  name: 'metrics-it/gate',
  version: '1',
  config: z.object({ n: z.number() }),
  process: async (_state: unknown, { config }) => {
    await released;
    return { state: config.n };
  },
});

/** The 5 nodes whose results a first run puts in the cache. */
const cachedNodes = (): NodeSpec[] =>
  Array.from({ length: 5 }, (_, i) => ({ id: `cached-${i}`, stage: Value({ value: i }) }));

/** 20 nodes: 5 found in the cache, 11 computed, 1 retried once, 3 that fail. */
function twentyNodes(key: string): NodeSpec[] {
  return [
    ...cachedNodes(),
    ...Array.from({ length: 11 }, (_, i) => ({
      id: `fresh-${i}`,
      stage: Value({ value: 100 + i }),
    })),
    {
      id: 'flaky',
      stage: Flaky({ key }),
      retry: { maxAttempts: 2, initialDelaySeconds: 0 },
    },
    ...Array.from({ length: 3 }, (_, i) => ({ id: `diverge-${i}`, stage: Diverge({ seed: i }) })),
  ];
}

describePrometheus('executor-dag runs in a real Prometheus', () => {
  const jobs: string[] = [];
  const schedulers: LocalScheduler[] = [];
  const scheduler = (maxWorkers = 4) => {
    const s = new LocalScheduler({ maxWorkers });
    schedulers.push(s);
    return s;
  };
  afterEach(() => setMetricsCollector(undefined));
  afterAll(async () => {
    await Promise.all(schedulers.map((s) => s.close()));
    for (const job of jobs) await deleteJob(job);
  });

  it('a 20-node DAG with 3 failures and 5 cache hits: scraped, pushed and remote-written', async () => {
    const pipeline = `it-${randomUUID().slice(0, 8)}`;
    const gatewayJob = `phys-it-${randomUUID().slice(0, 8)}`;
    const writeJob = `phys-it-${randomUUID().slice(0, 8)}`;
    jobs.push(gatewayJob, writeJob);
    const cache = new MemoryCache();
    // A first run, unobserved, fills the cache with the results of 5 nodes.
    const warm = new DagExecutor({ scheduler: scheduler(), cache, metrics: [], name: pipeline });
    expect((await warm.run(undefined, cachedNodes())).status).toBe('COMPLETED');

    // The observed run: Prometheus scrapes one collector's /metrics (a scrape target of the test
    // services' config), which also pushes to the Pushgateway; another remote-writes.
    const served = new PrometheusMetricsCollector({
      serve: { port: SCRAPED_PORTS.integration },
      push: { endpoint: PUSHGATEWAY, jobName: gatewayJob },
    });
    const written = new PrometheusMetricsCollector({ endpoint: PROMETHEUS, jobName: writeJob });
    await served.start();
    try {
      const executor = new DagExecutor({
        scheduler: scheduler(),
        cache,
        metrics: [served, written],
        failureMode: 'continue',
        name: pipeline,
      });
      const result = await executor.run(undefined, twentyNodes(pipeline), {
        runId: `run-${pipeline}`,
      });
      expect(result.status).toBe('FAILED');
      await written.close();

      // Scraped.
      const scraped = (expr: string) =>
        query(`sum(${expr.replace('{', `{job="phys",pipeline="${pipeline}",`)})`);
      expect(await eventually(() => scraped('phys_nodes_total{status="FAILED"}'), 3)).toBe(3);
      expect(await scraped('phys_nodes_total{status="CACHED"}')).toBe(5);
      expect(await scraped('phys_nodes_total{status="COMPLETED"}')).toBe(12);
      expect(await scraped('phys_cache_hits_total{stage="metrics-it/value"}')).toBe(5);
      expect(await scraped('phys_node_retries_total{stage="metrics-it/flaky"}')).toBe(1);
      expect(await scraped('phys_runs_total{status="FAILED"}')).toBe(1);
      expect(await scraped('phys_node_duration_seconds_count{status="FAILED"}')).toBe(3);

      // Pushed to the gateway at the run's end, grouped by its run id.
      await served.close();
      const [group, ...others] = await gatewayGroups(gatewayJob);
      expect(others).toEqual([]);
      expect(group?.labels).toEqual({ job: gatewayJob, run_id: `run-${pipeline}` });
      expect(
        gatewayValue(group as NonNullable<typeof group>, 'phys_nodes_total', { status: 'FAILED' }),
      ).toBe(3);
      expect(
        gatewayValue(group as NonNullable<typeof group>, 'phys_nodes_total', { status: 'CACHED' }),
      ).toBe(5);

      // Remote-written to Prometheus, which the seed's `endpoint: http://prometheus:9090` means.
      expect(written.pushMode).toBe('remote-write');
      expect(
        await eventually(
          () => query(`sum(phys_nodes_total{job="${writeJob}",status="FAILED"})`),
          3,
        ),
      ).toBe(3);
      expect(await query(`sum(phys_nodes_total{job="${writeJob}"})`)).toBe(20);
    } finally {
      await served.close();
      await written.close();
    }
  });

  it('shows the nodes running and queued, and the jobs in flight, while a run goes', async () => {
    const pipeline = `it-${randomUUID().slice(0, 8)}`;
    released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const collector = new PrometheusMetricsCollector({
      serve: { port: SCRAPED_PORTS.integration },
    });
    await collector.start();
    try {
      // Two slots, three nodes: two run, one waits for a slot.
      const executor = new DagExecutor({
        scheduler: scheduler(2),
        metrics: [collector],
        name: pipeline,
      });
      const nodes: NodeSpec[] = [0, 1, 2].map((n) => ({ id: `gate-${n}`, stage: Gate({ n }) }));
      const running = executor.run(undefined, nodes);
      const gauge = (name: string) => query(`sum(${name}{job="phys",pipeline="${pipeline}"})`);
      expect(await eventually(() => gauge('phys_nodes_running'), 2)).toBe(2);
      expect(await gauge('phys_nodes_queued')).toBe(1);
      expect(await gauge('phys_runs_active')).toBe(1);
      expect(
        await query(`sum(phys_scheduler_jobs_in_flight{job="phys",scheduler="local"})`),
      ).toBeGreaterThanOrEqual(2);
      release();
      expect((await running).status).toBe('COMPLETED');
      expect(await eventually(() => gauge('phys_runs_active'), 0)).toBe(0);
      expect(await gauge('phys_nodes_running')).toBe(0);
      expect(await gauge('phys_nodes_total')).toBe(3);
    } finally {
      release();
      await collector.close();
    }
  });

  it("setMetricsCollector(new PrometheusMetricsCollector({ endpoint, jobName })): the seed's form", async () => {
    const jobName = `phys-it-${randomUUID().slice(0, 8)}`;
    jobs.push(jobName);
    const collector = new PrometheusMetricsCollector({ endpoint: PUSHGATEWAY, jobName });
    setMetricsCollector(collector);
    expect(getMetricsCollectors()).toEqual([collector]);
    // An executor given no collectors uses the process-wide ones.
    const executor = new DagExecutor({ scheduler: scheduler(), name: 'seed-form' });
    const nodes: NodeSpec[] = [
      { id: 'a', stage: Value({ value: 1 }) },
      { id: 'b', stage: Value({ value: 2 }), deps: ['a'] },
    ];
    expect((await executor.run(undefined, nodes)).status).toBe('COMPLETED');
    await collector.close();
    const groups = await gatewayGroups(jobName);
    expect(groups).toHaveLength(1);
    expect(
      gatewayValue(groups[0] as (typeof groups)[number], 'phys_nodes_total', {
        pipeline: 'seed-form',
        status: 'COMPLETED',
      }),
    ).toBe(2);
  });
});
