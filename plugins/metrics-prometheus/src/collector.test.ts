import { ConfigError, type NodeStatus } from '@phys/core';
import { register as globalRegistry, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { read } from '../test/samples.js';
import { PrometheusMetricsCollector } from './collector.js';
import { DURATION_BUCKETS, METRIC_NAMES } from './metrics.js';

function node(
  c: PrometheusMetricsCollector,
  runId: string,
  id: string,
  stage: string,
  status: NodeStatus,
  seconds = 0.2,
): void {
  const ran = status !== 'CACHED' && status !== 'SKIPPED';
  const base = { pipeline: 'lab', runId, node: id, stage };
  if (ran) c.onNodeStart({ ...base, attempt: 1, queueSeconds: 0.5 });
  c.onNodeEnd({
    ...base,
    status,
    attempt: ran ? 1 : 0,
    durationSeconds: ran ? seconds : 0,
    cacheHit: status === 'CACHED',
  });
}

describe('PrometheusMetricsCollector', () => {
  it('counts runs and nodes by final status, and times only the nodes that ran', async () => {
    const c = new PrometheusMetricsCollector();
    c.onRunStart({ pipeline: 'lab', runId: 'r1', nodes: 6 });
    node(c, 'r1', 'a', 'solve', 'COMPLETED', 2);
    node(c, 'r1', 'b', 'solve', 'COMPLETED', 4);
    node(c, 'r1', 'c', 'solve', 'FAILED', 1);
    node(c, 'r1', 'd', 'solve', 'CACHED');
    node(c, 'r1', 'e', 'plot', 'SKIPPED');
    node(c, 'r1', 'f', 'plot', 'TIMEOUT', 60);
    c.onRunEnd({
      pipeline: 'lab',
      runId: 'r1',
      status: 'FAILED',
      durationSeconds: 70,
      counts: {},
    });

    expect(await read(c, 'phys_runs_started_total', { pipeline: 'lab' })).toBe(1);
    expect(await read(c, 'phys_runs_total', { pipeline: 'lab', status: 'FAILED' })).toBe(1);
    expect(await read(c, 'phys_run_duration_seconds_sum', { pipeline: 'lab' })).toBe(70);
    expect(await read(c, 'phys_nodes_total')).toBe(6);
    expect(await read(c, 'phys_nodes_total', { stage: 'solve', status: 'COMPLETED' })).toBe(2);
    expect(await read(c, 'phys_nodes_total', { status: 'FAILED' })).toBe(1);
    expect(await read(c, 'phys_nodes_total', { status: 'CACHED' })).toBe(1);
    expect(await read(c, 'phys_nodes_total', { status: 'SKIPPED' })).toBe(1);
    // Durations: the four nodes that ran, none of the CACHED or SKIPPED ones.
    expect(await read(c, 'phys_node_duration_seconds_count')).toBe(4);
    expect(await read(c, 'phys_node_duration_seconds_sum', { stage: 'solve' })).toBe(7);
    expect(await read(c, 'phys_node_queue_wait_seconds_count')).toBe(4);
  });

  it('puts a value on a bucket bound into that bucket (le is "less than or equal")', async () => {
    const c = new PrometheusMetricsCollector();
    c.onRunStart({ pipeline: 'lab', runId: 'r1', nodes: 2 });
    node(c, 'r1', 'a', 'solve', 'COMPLETED', 1);
    node(c, 'r1', 'b', 'solve', 'COMPLETED', 1e7);
    const bucket = 'phys_node_duration_seconds_bucket';
    expect(await read(c, bucket, { le: '0.5' })).toBe(0);
    expect(await read(c, bucket, { le: '1' })).toBe(1);
    expect(await read(c, bucket, { le: String(DURATION_BUCKETS.at(-1)) })).toBe(1);
    expect(await read(c, bucket, { le: '+Inf' })).toBe(2);
  });

  it('counts cache hits, misses and bytes, and retries by stage and error code', async () => {
    const c = new PrometheusMetricsCollector();
    const base = { pipeline: 'lab', runId: 'r1', stage: 'solve' };
    c.onCache({ ...base, node: 'a', outcome: 'hit', bytes: 1000 });
    c.onCache({ ...base, node: 'b', outcome: 'hit', bytes: 500 });
    c.onCache({ ...base, node: 'c', outcome: 'miss', bytes: 0 });
    c.onCache({ ...base, node: 'c', outcome: 'store', bytes: 42 });
    c.onRetry({ ...base, node: 'c', attempt: 2, errorCode: 'PHYS_TIMEOUT' });
    c.onRetry({ ...base, node: 'd', attempt: 2, errorCode: 'PHYS_TIMEOUT' });
    expect(await read(c, 'phys_cache_hits_total', { stage: 'solve' })).toBe(2);
    expect(await read(c, 'phys_cache_misses_total')).toBe(1);
    expect(await read(c, 'phys_cache_restored_bytes_total')).toBe(1500);
    expect(await read(c, 'phys_cache_stored_bytes_total')).toBe(42);
    expect(
      await read(c, 'phys_node_retries_total', { stage: 'solve', error_code: 'PHYS_TIMEOUT' }),
    ).toBe(2);
  });

  it("samples the running, queued and in-flight gauges from the runs' live activity", async () => {
    const c = new PrometheusMetricsCollector();
    const activity = { running: 2, queued: 5, jobs: 7 };
    c.onRunStart({ pipeline: 'lab', runId: 'r1', nodes: 9, scheduler: 'slurm', activity });
    c.onRunStart({
      pipeline: 'lab',
      runId: 'r2',
      nodes: 1,
      scheduler: 'local',
      activity: { running: 1, queued: 0, jobs: 1 },
    });
    expect(await read(c, 'phys_runs_active', { pipeline: 'lab' })).toBe(2);
    expect(await read(c, 'phys_nodes_running', { pipeline: 'lab' })).toBe(3);
    expect(await read(c, 'phys_nodes_queued', { pipeline: 'lab' })).toBe(5);
    expect(await read(c, 'phys_scheduler_jobs_in_flight', { scheduler: 'slurm' })).toBe(7);
    activity.running = 4;
    activity.queued = 0;
    expect(await read(c, 'phys_nodes_running')).toBe(5);
    expect(await read(c, 'phys_nodes_queued')).toBe(0);
    c.onRunEnd({
      pipeline: 'lab',
      runId: 'r1',
      status: 'COMPLETED',
      durationSeconds: 1,
      counts: {},
    });
    c.onRunEnd({
      pipeline: 'lab',
      runId: 'r2',
      status: 'COMPLETED',
      durationSeconds: 1,
      counts: {},
    });
    expect(await read(c, 'phys_runs_active')).toBe(0);
    expect(await read(c, 'phys_nodes_running')).toBe(0);
    expect(await read(c, 'phys_scheduler_jobs_in_flight', { scheduler: 'slurm' })).toBe(0);
  });

  it('never puts a run or node id on a series: 200 runs of 50 nodes make as many series as one', async () => {
    const c = new PrometheusMetricsCollector();
    const seriesCount = async () =>
      (await c.registry.metrics()).split('\n').filter((l) => /^phys_/.test(l)).length;
    const run = (r: number) => {
      const runId = `run-${r}`;
      c.onRunStart({ pipeline: 'lab', runId, nodes: 50 });
      for (let n = 0; n < 50; n++)
        node(c, runId, `node-${r}-${n}`, `stage-${n % 3}`, n % 10 === 0 ? 'FAILED' : 'COMPLETED');
      c.onRetry({
        pipeline: 'lab',
        runId,
        node: `node-${r}-0`,
        attempt: 2,
        errorCode: 'PHYS_STAGE_FAILED',
        stage: 'stage-0',
      });
      c.onRunEnd({ pipeline: 'lab', runId, status: 'FAILED', durationSeconds: 1, counts: {} });
    };
    run(0);
    const afterOne = await seriesCount();
    for (let r = 1; r < 200; r++) run(r);
    expect(await seriesCount()).toBe(afterOne);
    const labelNames = new Set<string>();
    for (const family of await c.registry.getMetricsAsJSON()) {
      for (const v of family.values) for (const k of Object.keys(v.labels)) labelNames.add(k);
    }
    expect([...labelNames].sort()).toEqual(['error_code', 'le', 'pipeline', 'stage', 'status']);
    expect(await read(c, 'phys_nodes_total')).toBe(200 * 50);
  });

  it('keeps its metrics in its own registry: two collectors in one process do not clash', async () => {
    const a = new PrometheusMetricsCollector();
    const b = new PrometheusMetricsCollector();
    a.onRunStart({ pipeline: 'lab', runId: 'r1', nodes: 1 });
    expect(await read(a, 'phys_runs_started_total')).toBe(1);
    expect(await read(b, 'phys_runs_started_total')).toBe(0);
    expect(globalRegistry.getSingleMetric(METRIC_NAMES.nodes)).toBeUndefined();
    const mine = new Registry();
    const c = new PrometheusMetricsCollector({ registry: mine, labels: { lab: 'optics' } });
    expect(c.registry).toBe(mine);
    c.onRunStart({ pipeline: 'lab', runId: 'r1', nodes: 1 });
    expect(await mine.metrics()).toContain(
      'phys_runs_started_total{pipeline="lab",lab="optics"} 1',
    );
  });

  it('adds the process metrics only when asked', async () => {
    expect(await new PrometheusMetricsCollector().registry.metrics()).not.toContain('process_cpu');
    const c = new PrometheusMetricsCollector({ defaultMetrics: true });
    expect(await c.registry.metrics()).toContain('process_cpu_seconds_total');
  });

  it('takes the short form { endpoint, jobName } for push', () => {
    const c = new PrometheusMetricsCollector({ endpoint: 'http://gateway:9091', jobName: 'lab' });
    expect(c.options.push).toMatchObject({ endpoint: 'http://gateway:9091', jobName: 'lab' });
    expect(
      new PrometheusMetricsCollector({ endpoint: 'http://g:9091' }).options.push?.jobName,
    ).toBe('phys');
  });

  it('names the path of every bad option', () => {
    const error = (() => {
      try {
        new PrometheusMetricsCollector({
          push: { endpont: 'http://g:9091', retries: -1 } as never,
          serve: { port: 70000 },
          labels: { 'bad-name': 'x' },
        });
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('expected a ConfigError');
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.issues.map((i) => i.path).sort()).toEqual(
      [
        'options.push.endpont',
        'options.push.endpoint',
        'options.push.retries',
        'options.serve.port',
        'options.labels.bad-name',
      ].sort(),
    );
    expect(() => new PrometheusMetricsCollector({ endpoint: 'ftp://g' })).toThrow(
      /options\.push\.endpoint/,
    );
    expect(
      () =>
        new PrometheusMetricsCollector({
          push: {
            endpoint: 'http://g',
            basicAuth: { username: 'u', password: 'p' },
            bearerToken: 't',
          },
        }),
    ).toThrow(/options\.push\.bearerToken: give basicAuth or bearerToken, not both/);
  });
});
