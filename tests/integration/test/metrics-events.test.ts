// Every execution path reports the same metrics events, so that a dashboard never silently misses
// a kind of run: the DAG executor (@phys/executor-dag) on inline, thread, process and command
// nodes, on a real Slurm (@phys/scheduler-slurm), on PBS (@phys/scheduler-pbs, its fake server),
// on the mock cluster (@phys/scheduler-mock), with the disk cache (@phys/cache-disk), and through
// retries, cancellations and timeouts. One table of paths, one set of checks. Each run reports to
// two recorders of core's MetricsCollector contract: one takes every node as its own events, the
// other takes nodes that ran back to back binned into histogram buckets (`onNodeSummary`), as an
// aggregating collector does; both must count the same.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskCache } from '@phys/cache-disk';
import {
  type CacheMetric,
  defineStage,
  ExecutionStatus,
  type MetricsCollector,
  type NodeEndMetric,
  type NodeSpec,
  type NodeStartMetric,
  type NodeSummaryMetric,
  type RetryMetric,
  type RunActivity,
  type RunEndMetric,
  type RunStartMetric,
} from '@phys/core';
import {
  DagExecutor,
  type DagExecutorOptions,
  type DagRunOptions,
  type DagRunResult,
  defineCommandStage,
  LocalScheduler,
} from '@phys/executor-dag';
import { MockHpcScheduler } from '@phys/scheduler-mock';
import { PbsScheduler } from '@phys/scheduler-pbs';
import { SlurmScheduler } from '@phys/scheduler-slurm';
import {
  ConformanceEcho,
  ConformanceFail,
  ConformanceSleep,
  conformanceConfigFile,
  taskCommand,
} from '@phys/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type FakePbs, installFakePbs } from '../../../plugins/scheduler-pbs/test/fake-pbs.js';
import { slurm } from '../../../plugins/scheduler-slurm/test/helpers.js';

// ---- a recording collector ------------------------------------------------------------------

type Start = Omit<NodeStartMetric, 'pipeline' | 'runId'>;
type End = Omit<NodeEndMetric, 'pipeline' | 'runId'>;

/** What one collector heard of one run. */
interface Heard {
  runStart: Omit<RunStartMetric, 'activity'> | undefined;
  activity: RunActivity | undefined;
  runEnd: RunEndMetric | undefined;
  /** Activity read at the run's end (its `onRunEnd`). */
  activityAtEnd: { running: number; queued: number; jobs: number } | undefined;
  /** The largest counts of the activity read while the run went on. */
  peak: { running: number; queued: number; jobs: number };
  starts: Start[];
  ends: End[];
  retries: Omit<RetryMetric, 'pipeline' | 'runId'>[];
  caches: Omit<CacheMetric, 'pipeline' | 'runId'>[];
  /** `start:<node>#<attempt>` and `end:<node>`, in the order heard. */
  order: string[];
  /** Events of other pipelines or runs (none expected). */
  strays: number;
}

/** Records every event of the contract, one event per node. */
class EventRecorder implements MetricsCollector {
  readonly name = 'recorder';
  readonly heard: Heard = {
    runStart: undefined,
    activity: undefined,
    runEnd: undefined,
    activityAtEnd: undefined,
    peak: { running: 0, queued: 0, jobs: 0 },
    starts: [],
    ends: [],
    retries: [],
    caches: [],
    order: [],
    strays: 0,
  };
  #runId: string | undefined;
  #sampler: NodeJS.Timeout | undefined;

  onRunStart(e: RunStartMetric): void {
    const { activity, ...fields } = e;
    this.heard.runStart = fields;
    this.heard.activity = activity;
    this.#runId = e.runId;
    // Gauges are sampled while the run goes on, as a scrape would.
    this.#sampler = setInterval(() => this.#sample(), 2);
  }

  onRunEnd(e: RunEndMetric): void {
    clearInterval(this.#sampler);
    this.#sample();
    this.heard.runEnd = e;
    const a = this.heard.activity;
    if (a !== undefined) {
      this.heard.activityAtEnd = { running: a.running, queued: a.queued, jobs: a.jobs };
    }
  }

  onNodeStart(e: NodeStartMetric): void {
    if (!this.#mine(e)) return;
    const { pipeline: _p, runId: _r, ...start } = e;
    this.heard.starts.push(start);
    this.heard.order.push(`start:${e.node}#${e.attempt}`);
    this.#sample();
  }

  onNodeEnd(e: NodeEndMetric): void {
    if (!this.#mine(e)) return;
    const { pipeline: _p, runId: _r, ...end } = e;
    this.heard.ends.push(end);
    this.heard.order.push(`end:${e.node}`);
  }

  onRetry(e: RetryMetric): void {
    if (!this.#mine(e)) return;
    const { pipeline: _p, runId: _r, ...retry } = e;
    this.heard.retries.push(retry);
  }

  onCache(e: CacheMetric): void {
    if (!this.#mine(e)) return;
    const { pipeline: _p, runId: _r, ...cache } = e;
    this.heard.caches.push(cache);
  }

  protected mine(e: { pipeline: string; runId: string }): boolean {
    return this.#mine(e);
  }

  #mine(e: { pipeline: string; runId: string }): boolean {
    const ok = e.runId === this.#runId && e.pipeline === this.heard.runStart?.pipeline;
    if (!ok) this.heard.strays++;
    return ok;
  }

  #sample(): void {
    const a = this.heard.activity;
    if (a === undefined) return;
    const peak = this.heard.peak;
    peak.running = Math.max(peak.running, a.running);
    peak.queued = Math.max(peak.queued, a.queued);
    peak.jobs = Math.max(peak.jobs, a.jobs);
  }
}

/** Bucket bounds of the summaries: they split what the paths take, from µs to seconds. */
const BOUNDS = [0.0005, 0.005, 0.05, 0.5, 5];

/** The bucket of `value` in {@link BOUNDS}: the first bound it does not exceed. */
function bucket(value: number): number {
  const b = BOUNDS.findIndex((bound) => value <= bound);
  return b < 0 ? BOUNDS.length : b;
}

/** One stage's nodes as an aggregating collector keeps them. */
interface Tally {
  nodes: Record<string, number>;
  duration: number[];
  durationSum: number;
  queue: number[];
  queueSum: number;
}

function tallyOf(tallies: Map<string, Tally>, stage: string): Tally {
  let t = tallies.get(stage);
  if (t === undefined) {
    const zeros = () => Array.from({ length: BOUNDS.length + 1 }, () => 0);
    t = { nodes: {}, duration: zeros(), durationSum: 0, queue: zeros(), queueSum: 0 };
    tallies.set(stage, t);
  }
  return t;
}

/** The node events `heard`, tallied by stage: ends by status and duration, starts by wait. */
function tally(heard: Heard, into = new Map<string, Tally>()): Map<string, Tally> {
  for (const e of heard.ends) {
    const t = tallyOf(into, e.stage);
    t.nodes[e.status] = (t.nodes[e.status] ?? 0) + 1;
    (t.duration[bucket(e.durationSeconds)] as number)++;
    t.durationSum += e.durationSeconds;
  }
  for (const s of heard.starts) {
    const t = tallyOf(into, s.stage);
    (t.queue[bucket(s.queueSeconds)] as number)++;
    t.queueSum += s.queueSeconds;
  }
  return into;
}

/**
 * Two tallies agree: the same counts, and sums equal to the nanosecond (they were added in other
 * orders and units).
 */
function expectSameTallies(actual: Map<string, Tally>, expected: Map<string, Tally>): void {
  const counts = (tallies: Map<string, Tally>) =>
    new Map([...tallies].map(([stage, t]) => [stage, { ...t, durationSum: 0, queueSum: 0 }]));
  expect(counts(actual)).toEqual(counts(expected));
  for (const [stage, t] of expected) {
    const a = actual.get(stage) as Tally;
    expect(a.durationSum, `${stage} duration sum`).toBeCloseTo(t.durationSum, 9);
    expect(a.queueSum, `${stage} queue sum`).toBeCloseTo(t.queueSum, 9);
  }
}

/**
 * The same, but nodes that ran back to back come binned, a summary per stage (read during the
 * call), as an aggregating collector takes them; the others as events.
 */
class SummaryRecorder extends EventRecorder {
  readonly nodeSummaryBuckets = { duration: BOUNDS, queue: BOUNDS };
  summaries = 0;
  readonly summarised = new Map<string, Tally>();
  onNodeSummary(s: NodeSummaryMetric): void {
    if (!this.mine(s)) return;
    this.summaries++;
    expect(s.count).toBeGreaterThan(0);
    const t = tallyOf(this.summarised, s.stage);
    t.nodes.COMPLETED = (t.nodes.COMPLETED ?? 0) + s.count;
    for (let b = 0; b <= BOUNDS.length; b++) {
      (t.duration[b] as number) += s.durationCounts[b] as number;
      (t.queue[b] as number) += s.queueCounts[b] as number;
    }
    t.durationSum += s.durationSum;
    t.queueSum += s.queueSum;
  }
}

// ---- the paths ------------------------------------------------------------------------------

const initial = { values: new Float64Array([1, 2]) };

/** a → b, c → d: four nodes of `stage`, with `extra` (isolation, ...). */
function diamond(
  stage: (id: string) => NodeSpec['stage'],
  extra: Partial<NodeSpec> = {},
): NodeSpec[] {
  const node = (id: string, deps: string[]): NodeSpec => ({ id, stage: stage(id), deps, ...extra });
  return [node('a', []), node('b', ['a']), node('c', ['a']), node('d', ['b', 'c'])];
}

const echo = (tag: string) => ConformanceEcho({ scale: 2, tag });

/** An inline stage that returns its input and nothing else: the fast path runs it in place. */
const Pass = defineStage({
  name: 'metrics-it/pass',
  version: '1',
  config: z.object({}),
  process: (state: unknown) => ({ state }),
});
const pass = () => Pass({});

interface Path {
  readonly name: string;
  /** `RunStartMetric.scheduler` expected. */
  readonly scheduler: string;
  /** Runs the path's DAG reporting to `metrics`; one run. */
  run(metrics: MetricsCollector[]): Promise<DagRunResult>;
  /** The run's status (default COMPLETED). */
  readonly status?: ExecutionStatus;
  /** Error codes the retries report, in order. */
  readonly retries?: readonly string[];
  /** Nodes take long enough for the activity to be read while they run. */
  readonly busy?: boolean;
  /** Nodes wait in a cluster's queue: seen queued, and their queue wait covers it. */
  readonly queueAtLeastSeconds?: number;
  /** Its nodes run back to back on the fast path: the summary recorder gets them binned. */
  readonly summarised?: boolean;
  /** Why the path cannot run here (it is skipped; under CI it fails). */
  readonly unavailable?: string | undefined;
}

let work: string;
let pbs: FakePbs;
const closers: (() => Promise<unknown>)[] = [];

async function runWith(
  options: DagExecutorOptions,
  nodes: NodeSpec[],
  runOptions: DagRunOptions = {},
): Promise<DagRunResult> {
  const executor = new DagExecutor(options);
  try {
    return await executor.run(initial, nodes, { pipeline: 'metrics-it', ...runOptions });
  } finally {
    await executor.close();
  }
}

function local(): LocalScheduler {
  const scheduler = new LocalScheduler({ maxWorkers: 2, configFile: conformanceConfigFile() });
  closers.push(() => scheduler.close());
  return scheduler;
}

const Pause = defineCommandStage({
  name: 'metrics-it/pause',
  config: z.object({ ms: z.number() }),
  command: (config) => ({
    program: process.execPath,
    args: ['-e', `setTimeout(() => {}, ${config.ms})`],
  }),
  result: (_run, input: unknown) => input,
});

const PATHS: Path[] = [
  {
    name: 'inline',
    scheduler: 'local',
    summarised: true,
    run: (metrics) => runWith({ scheduler: local(), metrics }, diamond(pass)),
  },
  {
    name: 'inline, with metrics and provenance',
    scheduler: 'local',
    run: (metrics) => runWith({ scheduler: local(), metrics }, diamond(echo)),
  },
  {
    name: 'thread',
    scheduler: 'local',
    busy: true,
    run: (metrics) =>
      runWith({ scheduler: local(), metrics }, diamond(echo, { isolation: 'thread' })),
  },
  {
    name: 'process',
    scheduler: 'local',
    busy: true,
    run: (metrics) =>
      runWith({ scheduler: local(), metrics }, diamond(echo, { isolation: 'process' })),
  },
  {
    name: 'command stage',
    scheduler: 'local',
    busy: true,
    run: (metrics) =>
      runWith(
        { scheduler: local(), metrics },
        diamond(() => Pause({ ms: 30 })),
      ),
  },
  {
    name: 'Slurm',
    scheduler: 'slurm',
    busy: true,
    queueAtLeastSeconds: 0,
    unavailable: slurm.available ? undefined : slurm.why,
    run: (metrics) => {
      const scheduler = new SlurmScheduler({
        configFile: conformanceConfigFile(),
        taskCommand: taskCommand(),
        workDir: join(work, 'slurm'),
        pollInterval: 0.3,
        maxPollInterval: 1,
        resultTimeout: 10,
        batchWindow: 0.05,
      });
      closers.push(() => scheduler.close());
      return runWith({ scheduler, metrics }, diamond(echo));
    },
  },
  {
    name: 'PBS',
    scheduler: 'pbs',
    busy: true,
    queueAtLeastSeconds: 0.1,
    run: (metrics) => {
      const scheduler = new PbsScheduler({
        configFile: conformanceConfigFile(),
        taskCommand: taskCommand(),
        workDir: join(work, 'pbs'),
        pollInterval: { initialSeconds: 0.05, maxSeconds: 0.2 },
      });
      closers.push(() => scheduler.close());
      return runWith({ scheduler, metrics }, diamond(echo));
    },
  },
  {
    name: 'mock cluster, with a node failure retried',
    scheduler: 'mock-hpc',
    busy: true,
    queueAtLeastSeconds: 0.2,
    retries: ['PHYS_JOB_NODE_FAIL'],
    run: (metrics) => {
      const scheduler = new MockHpcScheduler({
        configFile: conformanceConfigFile(),
        taskCommand: taskCommand(),
        workDir: join(work, 'mock'),
        hosts: 1,
        cpusPerHost: 2,
        queueLatencySeconds: 0.2,
        faults: [{ kind: 'node-fail', nodeId: 'b', attempts: [1], afterSeconds: 0 }],
      });
      closers.push(() => scheduler.close());
      return runWith(
        { scheduler, metrics },
        diamond(echo).map((n) => (n.id === 'b' ? { ...n, retry: { maxAttempts: 2 } } : n)),
      );
    },
  },
  {
    name: 'cache, cold: every node missed, run and stored',
    scheduler: 'local',
    run: async (metrics) => {
      const cache = new DiskCache({ dir: join(work, 'cache-cold') });
      closers.push(() => cache.close());
      return runWith({ scheduler: local(), cache, metrics }, diamond(echo));
    },
  },
  {
    name: 'cache, warm: every node restored',
    scheduler: 'local',
    run: async (metrics) => {
      const dir = join(work, 'cache-warm');
      const first = new DiskCache({ dir });
      await runWith({ scheduler: local(), cache: first, metrics: [] }, diamond(echo));
      await first.close();
      const cache = new DiskCache({ dir });
      closers.push(() => cache.close());
      return runWith({ scheduler: local(), cache, metrics }, diamond(echo));
    },
  },
  {
    name: 'retries',
    scheduler: 'local',
    status: ExecutionStatus.FAILED,
    retries: ['PHYS_TEST_FLAKY'],
    summarised: true,
    run: (metrics) =>
      runWith({ scheduler: local(), metrics, failureMode: 'continue' }, [
        ...diamond(pass),
        {
          id: 'flaky',
          stage: ConformanceFail({ message: 'flaky', code: 'PHYS_TEST_FLAKY', retryable: true }),
          deps: ['a'],
          retry: { maxAttempts: 2 },
        },
        { id: 'after-flaky', stage: echo('after-flaky'), deps: ['flaky'] },
      ]),
  },
  {
    name: 'cancellation',
    scheduler: 'local',
    status: ExecutionStatus.CANCELLED,
    busy: true,
    run: (metrics) => {
      const ctrl = new AbortController();
      // Cancel once the sleeping node runs (after its start event, not inside it).
      const trigger: MetricsCollector = {
        onNodeStart: (e) => {
          if (e.node === 'sleep') setImmediate(() => ctrl.abort());
        },
      };
      return runWith(
        { scheduler: local(), metrics: [...metrics, trigger] },
        [
          { id: 'a', stage: echo('a') },
          { id: 'sleep', stage: ConformanceSleep({ seconds: 30 }), deps: ['a'] },
          { id: 'after', stage: echo('after'), deps: ['sleep'] },
        ],
        { signal: ctrl.signal },
      );
    },
  },
  {
    name: 'timeout',
    scheduler: 'local',
    status: ExecutionStatus.FAILED,
    busy: true,
    summarised: true,
    run: (metrics) =>
      runWith({ scheduler: local(), metrics, failureMode: 'continue' }, [
        ...diamond(pass),
        { id: 'slow', stage: ConformanceSleep({ seconds: 30 }), deps: ['a'], timeoutSeconds: 0.2 },
      ]),
  },
];

const inCi = process.env.CI === 'true' || process.env.CI === '1';

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'phys-metrics-it-'));
  pbs = await installFakePbs({ queueMs: 150 });
});

afterAll(async () => {
  await Promise.allSettled(closers.map((close) => close()));
  await pbs?.shutdown();
  await rm(work, { recursive: true, force: true });
});

describe('metrics events: every execution path reports the same events', () => {
  it.for(PATHS)('$name', { timeout: 180_000 }, async (path, ctx) => {
    if (path.unavailable !== undefined) {
      if (inCi) throw new Error(`${path.name} must run under CI: ${path.unavailable}`);
      ctx.skip(`${path.name} is not available here: ${path.unavailable}`);
    }
    const events = new EventRecorder();
    const summaries = new SummaryRecorder();
    const result = await path.run([events, summaries]);
    const nodes = Object.values(result.nodes);
    expect(result.status, JSON.stringify(result.error)).toBe(
      path.status ?? ExecutionStatus.COMPLETED,
    );

    // Both ways of hearing nodes count the same: by stage, nodes by status, their durations
    // and queue waits binned, and the sums of both; all else is heard alike.
    const { heard } = events;
    expectSameTallies(tally(summaries.heard, summaries.summarised), tally(heard));
    const rest = (h: Heard) => ({
      ...h,
      activity: undefined,
      peak: undefined,
      starts: undefined,
      ends: undefined,
      order: undefined,
    });
    expect(rest(summaries.heard)).toEqual(rest(heard));
    expect(heard.strays).toBe(0);
    if (path.summarised === true) expect(summaries.summaries).toBeGreaterThan(0);

    // The run: its pipeline, size and scheduler at the start; status, duration and counts at
    // the end; a live activity that reads 0 once it ended.
    expect(heard.runStart).toEqual({
      pipeline: 'metrics-it',
      runId: result.runId,
      nodes: nodes.length,
      scheduler: path.scheduler,
    });
    expect(heard.runEnd).toMatchObject({
      pipeline: 'metrics-it',
      runId: result.runId,
      status: result.status,
      counts: result.counts,
    });
    expect(heard.runEnd?.durationSeconds).toBeGreaterThan(0);
    expect(heard.activityAtEnd).toEqual({ running: 0, queued: 0, jobs: 0 });

    // Every node ends once, as the result says, with its stage and a duration when it ran.
    expect(heard.ends.map((e) => e.node).sort()).toEqual(nodes.map((n) => n.id).sort());
    for (const node of nodes) {
      const end = heard.ends.find((e) => e.node === node.id) as End;
      expect(end, node.id).toMatchObject({
        stage: node.stage,
        status: node.status,
        attempt: node.attempts,
        cacheHit: node.status === 'CACHED',
      });
      const ran = node.status === 'CACHED' || (node.attempts > 0 && node.status !== 'SKIPPED');
      if (ran) expect(end.durationSeconds, `${node.id} ${node.status}`).toBeGreaterThan(0);
      else expect(end.durationSeconds, `${node.id} ${node.status}`).toBe(0);

      // Every attempt that ran started once, before the node's end, with its queue wait.
      const starts = heard.starts.filter((s) => s.node === node.id);
      const attempts = node.status === 'CACHED' ? 0 : node.attempts;
      expect(
        starts.map((s) => s.attempt),
        node.id,
      ).toEqual(Array.from({ length: attempts }, (_, k) => k + 1));
      for (const s of starts) {
        expect(s.stage).toBe(node.stage);
        expect(s.queueSeconds).toBeGreaterThanOrEqual(path.queueAtLeastSeconds ?? 0);
        expect(Number.isFinite(s.queueSeconds)).toBe(true);
        expect(heard.order.indexOf(`start:${node.id}#${s.attempt}`)).toBeLessThan(
          heard.order.indexOf(`end:${node.id}`),
        );
      }
    }

    // Retries, with the code of the error that caused them.
    expect(heard.retries.map((r) => r.errorCode)).toEqual(path.retries ?? []);
    for (const r of heard.retries) {
      expect(r.stage).toBe(result.nodes[r.node]?.stage);
      expect(r.attempt).toBe(2);
    }

    // Cache reads and writes, as many as the run counted, with the bytes the cache moved.
    const cache = result.cache;
    const count = (outcome: CacheMetric['outcome']) =>
      heard.caches.filter((c) => c.outcome === outcome);
    expect(count('hit')).toHaveLength(cache?.hits ?? 0);
    expect(count('miss')).toHaveLength(cache?.misses ?? 0);
    expect(count('store')).toHaveLength(cache?.stored ?? 0);
    for (const c of [...count('hit'), ...count('store')]) {
      expect(c.bytes, `${c.outcome} ${c.node}`).toBeGreaterThan(0);
      expect(c.stage).toBe(result.nodes[c.node]?.stage);
    }
    for (const c of count('miss')) expect(c.bytes).toBe(0);

    // Gauges: what ran was seen running and in flight; on a cluster, first queued.
    if (path.busy === true) {
      expect(heard.peak.running).toBeGreaterThanOrEqual(1);
      expect(heard.peak.jobs).toBeGreaterThanOrEqual(1);
    }
    if (path.queueAtLeastSeconds !== undefined) {
      expect(heard.peak.queued).toBeGreaterThanOrEqual(1);
    }
  });
});
