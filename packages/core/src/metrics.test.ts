import { afterEach, describe, expect, it } from 'vitest';
import {
  ConsoleMetricsCollector,
  getMetricsCollectors,
  type MetricsCollector,
  MetricsFanout,
  setMetricsCollector,
} from './metrics.js';

const nodeEnd = {
  pipeline: 'demo',
  runId: 'r1',
  node: 'solve',
  stage: 'demo/solve',
  status: 'COMPLETED',
  attempt: 1,
  durationSeconds: 0.25,
  cacheHit: false,
} as const;

describe('ConsoleMetricsCollector', () => {
  it('writes one JSON line per event: event name, ISO timestamp, then the fields', () => {
    const lines: string[] = [];
    const collector = new ConsoleMetricsCollector({ write: (line) => lines.push(line) });
    collector.onRunStart({ pipeline: 'demo', runId: 'r1', nodes: 3 });
    collector.onNodeEnd(nodeEnd);
    collector.onRetry({
      pipeline: 'demo',
      runId: 'r1',
      node: 'solve',
      attempt: 2,
      errorCode: 'PHYS_TIMEOUT',
    });
    collector.onRunEnd({
      pipeline: 'demo',
      runId: 'r1',
      status: 'COMPLETED',
      durationSeconds: 1.5,
      counts: { COMPLETED: 2, CACHED: 1 },
    });
    expect(lines).toHaveLength(4);
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.map((p) => p.event)).toEqual(['run_start', 'node_end', 'retry', 'run_end']);
    expect(Object.keys(parsed[0] ?? {})).toEqual([
      'event',
      'timestamp',
      'pipeline',
      'runId',
      'nodes',
    ]);
    for (const p of parsed) expect(new Date(p.timestamp as string).toISOString()).toBe(p.timestamp);
    expect(parsed[1]).toMatchObject({
      node: 'solve',
      status: 'COMPLETED',
      durationSeconds: 0.25,
      cacheHit: false,
    });
    expect(parsed[3]).toMatchObject({ counts: { COMPLETED: 2, CACHED: 1 } });
    expect(collector.name).toBe('console');
  });

  it('can leave out per-node events', () => {
    const lines: string[] = [];
    const collector = new ConsoleMetricsCollector({
      write: (l) => lines.push(l),
      nodeEvents: false,
    });
    collector.onNodeStart({
      pipeline: 'demo',
      runId: 'r1',
      node: 'n',
      stage: 's',
      attempt: 1,
      queueSeconds: 0,
    });
    collector.onNodeEnd(nodeEnd);
    collector.onRunStart({ pipeline: 'demo', runId: 'r1', nodes: 1 });
    expect(lines.map((l) => (JSON.parse(l) as { event: string }).event)).toEqual(['run_start']);
  });
});

describe('setMetricsCollector / getMetricsCollectors', () => {
  afterEach(() => setMetricsCollector(undefined));

  it('sets, replaces and clears the process-wide collectors', () => {
    const a = new ConsoleMetricsCollector({ write: () => {} });
    const b: MetricsCollector = { name: 'b' };
    expect(getMetricsCollectors()).toEqual([]);
    setMetricsCollector(a);
    expect(getMetricsCollectors()).toEqual([a]);
    expect(getMetricsCollectors()[0]).toBe(a);
    setMetricsCollector([a, b]);
    expect(getMetricsCollectors()).toEqual([a, b]);
    setMetricsCollector(undefined);
    expect(getMetricsCollectors()).toEqual([]);
  });

  it('is shared by every copy of @phys/core through a global symbol', () => {
    const a: MetricsCollector = { name: 'a' };
    setMetricsCollector(a);
    const slot = (globalThis as Record<symbol, { collectors: MetricsCollector[] }>)[
      Symbol.for('@phys/core:metricsCollectors')
    ];
    expect(slot?.collectors).toEqual([a]);
  });
});

describe('MetricsFanout', () => {
  it('sends every event to every collector, isolating one that throws', async () => {
    const seen: string[] = [];
    const broken: MetricsCollector = {
      name: 'broken',
      onNodeEnd: () => {
        throw new Error('registry full');
      },
      onRunEnd: async () => {
        throw new Error('push failed');
      },
      flush: async () => {
        seen.push('broken:flush');
      },
    };
    const good: MetricsCollector = {
      name: 'good',
      onNodeEnd: (e) => void seen.push(`good:node:${e.node}`),
      onRunEnd: (e) => void seen.push(`good:end:${e.status}`),
      flush: async () => void seen.push('good:flush'),
    };
    const fanout = new MetricsFanout([broken, good]);
    expect(fanout.empty).toBe(false);
    fanout.emit('onNodeEnd', nodeEnd);
    fanout.emit('onRunStart', { pipeline: 'demo', runId: 'r1', nodes: 1 });
    await fanout.end({
      pipeline: 'demo',
      runId: 'r1',
      status: 'FAILED',
      durationSeconds: 1,
      counts: {},
    });
    expect(seen).toEqual(['good:node:solve', 'broken:flush', 'good:end:FAILED', 'good:flush']);
    expect(fanout.errors.map((e) => e.message)).toEqual(['registry full', 'push failed']);
  });

  it('turns thrown non-errors into errors', () => {
    const fanout = new MetricsFanout([
      {
        onRetry: () => {
          throw 'nope';
        },
      },
    ]);
    fanout.emit('onRetry', { pipeline: 'p', runId: 'r', node: 'n', attempt: 2, errorCode: 'X' });
    expect(fanout.errors[0]).toBeInstanceOf(Error);
    expect(fanout.errors[0]?.message).toBe('nope');
    expect(new MetricsFanout([]).empty).toBe(true);
  });

  it('binds an event once: one function for the collectors that have it, none without', () => {
    const seen: string[] = [];
    const broken: MetricsCollector = {
      onNodeEnd: () => {
        throw new Error('registry full');
      },
    };
    const good: MetricsCollector = {
      name: 'good',
      onNodeEnd(e) {
        // Called as a method of its collector.
        seen.push(`${this.name}:${e.node}`);
      },
    };
    const fanout = new MetricsFanout([broken, good]);
    expect(fanout.bind('onCache')).toBeUndefined();
    const onNodeEnd = fanout.bind('onNodeEnd');
    onNodeEnd?.(nodeEnd);
    onNodeEnd?.({ ...nodeEnd, node: 'plot' });
    expect(seen).toEqual(['good:solve', 'good:plot']);
    expect(fanout.errors.map((e) => e.message)).toEqual(['registry full', 'registry full']);
    const alone = new MetricsFanout([good]).bind('onNodeEnd');
    alone?.(nodeEnd);
    expect(seen.at(-1)).toBe('good:solve');
  });
});

describe('ConsoleMetricsCollector, new events', () => {
  it('prints cache events with the node events, and leaves the live activity out of run_start', () => {
    const lines: string[] = [];
    const collector = new ConsoleMetricsCollector({ write: (l) => lines.push(l) });
    collector.onRunStart({
      pipeline: 'demo',
      runId: 'r1',
      nodes: 2,
      scheduler: 'slurm',
      activity: { running: 1, queued: 0, jobs: 1 },
    });
    collector.onCache({
      pipeline: 'demo',
      runId: 'r1',
      node: 'solve',
      stage: 'demo/solve',
      outcome: 'hit',
      bytes: 2048,
    });
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed[0]).not.toHaveProperty('activity');
    expect(parsed[0]).toMatchObject({ event: 'run_start', scheduler: 'slurm', nodes: 2 });
    expect(parsed[1]).toMatchObject({ event: 'cache', outcome: 'hit', bytes: 2048 });
  });
});
