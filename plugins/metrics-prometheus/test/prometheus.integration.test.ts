// The collector against a real Prometheus and Pushgateway (scripts/services/prometheus-up.sh):
// what a user reads back through Prometheus' query API and the Pushgateway's API after a run's
// events. The events come straight from the test here; tests/integration runs real DAGs.
import { randomUUID } from 'node:crypto';
import type { NodeStatus } from '@phys/core';
import { recordingLogger } from '@phys/testing';
import { afterAll, expect, it } from 'vitest';
import { PrometheusMetricsCollector } from '../src/collector.js';
import { dashboardQueries, expand, guideQueries } from './dashboard.js';
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
} from './services.js';

/** Feeds a run: `statuses` nodes of stage `solve`, then its end. */
function run(
  c: PrometheusMetricsCollector,
  pipeline: string,
  runId: string,
  statuses: readonly NodeStatus[],
): void {
  c.onRunStart({ pipeline, runId, nodes: statuses.length });
  statuses.forEach((status, i) => {
    const base = { pipeline, runId, node: `n${i}`, stage: 'solve' };
    const ran = status !== 'CACHED' && status !== 'SKIPPED';
    if (ran) c.onNodeStart({ ...base, attempt: 1, queueSeconds: 0.01 });
    if (status === 'CACHED') c.onCache({ ...base, outcome: 'hit', bytes: 128 });
    c.onNodeEnd({
      ...base,
      status,
      attempt: ran ? 1 : 0,
      durationSeconds: ran ? 0.5 : 0,
      cacheHit: status === 'CACHED',
    });
  });
  const failed = statuses.some((s) => s === 'FAILED');
  c.onRunEnd({
    pipeline,
    runId,
    status: failed ? 'FAILED' : 'COMPLETED',
    durationSeconds: 2,
    counts: {},
  });
}

const MIXED: NodeStatus[] = [
  ...Array<NodeStatus>(5).fill('COMPLETED'),
  ...Array<NodeStatus>(2).fill('FAILED'),
  ...Array<NodeStatus>(3).fill('CACHED'),
];

describePrometheus('metrics in a real Prometheus and Pushgateway', () => {
  const jobs: string[] = [];
  const job = () => {
    const name = `phys-test-${randomUUID().slice(0, 8)}`;
    jobs.push(name);
    return name;
  };
  afterAll(async () => {
    for (const name of jobs) await deleteJob(name);
  });

  it('serves /metrics, which Prometheus scrapes (job "phys")', async () => {
    const pipeline = `scraped-${randomUUID().slice(0, 8)}`;
    const c = new PrometheusMetricsCollector({ serve: { port: SCRAPED_PORTS.plugin } });
    await c.start();
    try {
      run(c, pipeline, 'r1', MIXED);
      expect(
        await eventually(
          () => query(`sum(phys_nodes_total{job="phys",pipeline="${pipeline}",status="FAILED"})`),
          2,
        ),
      ).toBe(2);
      expect(await query(`sum(phys_nodes_total{pipeline="${pipeline}"})`)).toBe(10);
      expect(await query(`sum(phys_cache_hits_total{pipeline="${pipeline}"})`)).toBe(3);
      expect(
        await query(
          `sum(phys_runs_total{pipeline="${pipeline}",status="FAILED"}) / sum(phys_runs_started_total{pipeline="${pipeline}"})`,
        ),
      ).toBe(1);
      // The series Prometheus stored carry no run or node id.
      const labels = await fetch(
        `${PROMETHEUS}/api/v1/labels?match[]=${encodeURIComponent(`{pipeline="${pipeline}"}`)}`,
      ).then((r) => r.json() as Promise<{ data: string[] }>);
      expect(labels.data.filter((l) => /run|node/.test(l))).toEqual([]);
    } finally {
      await c.close();
    }
  });

  it('pushes to a Pushgateway at the run end, grouped by run id', async () => {
    const jobName = job();
    const c = new PrometheusMetricsCollector({
      push: { endpoint: PUSHGATEWAY, jobName, groupingKey: { lab: 'optics' } },
    });
    run(c, 'pushed', 'run-1', MIXED);
    await c.close();
    expect(c.pushMode).toBe('pushgateway');
    const groups = await gatewayGroups(jobName);
    expect(groups.map((g) => g.labels)).toEqual([{ job: jobName, lab: 'optics', run_id: 'run-1' }]);
    const group = groups[0] as (typeof groups)[number];
    expect(gatewayValue(group, 'phys_nodes_total', { status: 'FAILED' })).toBe(2);
    expect(gatewayValue(group, 'phys_nodes_total', { status: 'CACHED' })).toBe(3);
    expect(gatewayValue(group, 'phys_runs_total', { status: 'FAILED' })).toBe(1);
    // ... and Prometheus, scraping the gateway, reads the same numbers.
    expect(
      await eventually(
        () => query(`sum(phys_nodes_total{job="${jobName}",status="COMPLETED"})`),
        5,
      ),
    ).toBe(5);
  });

  it('keeps one group per process: the next run replaces the last', async () => {
    const jobName = job();
    const c = new PrometheusMetricsCollector({ push: { endpoint: PUSHGATEWAY, jobName } });
    run(c, 'pushed', 'run-1', ['COMPLETED']);
    run(c, 'pushed', 'run-2', ['FAILED']);
    await c.close();
    const groups = await gatewayGroups(jobName);
    expect(groups.map((g) => g.labels.run_id)).toEqual(['run-2']);
    expect(gatewayValue(groups[0] as (typeof groups)[number], 'phys_nodes_total')).toBe(2);
  });

  it('deleteOnSuccess: a completed run leaves no group, a failed one does', async () => {
    const jobName = job();
    const ok = new PrometheusMetricsCollector({
      push: { endpoint: PUSHGATEWAY, jobName, groupingKey: { host: 'a' }, deleteOnSuccess: true },
    });
    // While it goes (as at an interval push), the run is in the gateway ...
    ok.onRunStart({ pipeline: 'p', runId: 'ok', nodes: 1 });
    await ok.pushNow();
    expect((await gatewayGroups(jobName)).map((g) => g.labels.run_id)).toEqual(['ok']);
    // ... and once it completed, no longer.
    run(ok, 'p', 'ok', ['COMPLETED']);
    await ok.close();
    const failed = new PrometheusMetricsCollector({
      push: { endpoint: PUSHGATEWAY, jobName, groupingKey: { host: 'b' }, deleteOnSuccess: true },
    });
    run(failed, 'p', 'bad', ['FAILED']);
    await failed.close();
    const groups = await gatewayGroups(jobName);
    expect(groups.map((g) => g.labels)).toEqual([{ job: jobName, host: 'b', run_id: 'bad' }]);
  });

  it('remote-writes to Prometheus when the endpoint is Prometheus itself (detected)', async () => {
    const jobName = job();
    const c = new PrometheusMetricsCollector({ endpoint: PROMETHEUS, jobName });
    run(c, 'written', 'run-1', MIXED);
    await c.close();
    expect(c.pushMode).toBe('remote-write');
    expect(c.pushStats).toEqual({ succeeded: 1, failed: 0 });
    expect(
      await eventually(() => query(`sum(phys_nodes_total{job="${jobName}",status="FAILED"})`), 2),
    ).toBe(2);
    expect(await query(`sum(phys_cache_restored_bytes_total{job="${jobName}"})`)).toBe(3 * 128);
    expect(
      await query(
        `histogram_quantile(0.5, sum by (le) (phys_node_duration_seconds_bucket{job="${jobName}"}))`,
      ),
    ).toBeGreaterThan(0.25);
  });

  it('runs every query of the Grafana dashboard and of docs/metrics.md', async () => {
    const failures: string[] = [];
    const queries = [
      ...dashboardQueries().map((q) => ({ title: q.title, expr: expand(q.expr) })),
      ...guideQueries().map((expr) => ({ title: 'docs/metrics.md', expr })),
    ];
    for (const { title, expr } of queries) {
      await query(expr).catch((error: unknown) => failures.push(`${title}: ${String(error)}`));
    }
    expect(failures).toEqual([]);
  });

  it('says once, as a warning, that a Prometheus without the remote-write receiver refuses pushes', async () => {
    // The Pushgateway has no /api/v1/write: the answer is the one such a Prometheus gives.
    const logger = recordingLogger();
    const c = new PrometheusMetricsCollector({
      push: { endpoint: `${PUSHGATEWAY}/api/v1/write`, jobName: job() },
      logger,
    });
    run(c, 'p', 'r1', ['COMPLETED']);
    run(c, 'p', 'r2', ['COMPLETED']);
    await c.close();
    expect(c.pushStats).toEqual({ succeeded: 0, failed: 2 });
    expect(logger.warnings).toHaveLength(1);
    expect(logger.warnings[0]).toContain('--web.enable-remote-write-receiver');
  });
});
