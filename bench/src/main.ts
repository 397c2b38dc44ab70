// pnpm bench [--scale S] [--only chain,wide,...] [--repeat N]: runs the workloads of shared/bench/WORKLOADS.md
// through the public API; progress on stderr, one JSON object as the last line of stdout.
//
// Every workload runs in a fresh Node process of its own (`--workload NAME`), as JMH forks a JVM
// per benchmark: its warm-up and measured run then see only their own heap and JIT state, not the
// garbage and pending compilations of the workloads before it, so a figure does not depend on
// the order the workloads run in. big_grid's peak RSS is its own process's, too.
//
// Between the warm-up and the measured run a child settles: it collects the garbage of module
// loading and the warm-up once (`settle()`, with --expose-gc; otherwise whichever scavenge falls
// inside the measured run copies it, adding milliseconds at random) and, once the measured graph
// is built, lets the compilations that building it queued finish (`quiesce()`). The measured run
// still pays for its own allocations, and the graph it runs is young, as in a user's program.
// See README.md.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { DiskCache } from '@phys/cache-disk';
import { hashState, type MetricsCollector, type NodeSpec, resources } from '@phys/core';
import { DagExecutor, type DagRunResult, LocalScheduler } from '@phys/executor-dag';
import { METRIC_NAMES, PrometheusMetricsCollector } from '@phys/metrics-prometheus';
import {
  jobGrant,
  readResultEnvelope,
  taskEnvelopeInit,
  writeTaskEnvelope,
} from '@phys/scheduler-kit';
import { check, progress, round, systemLine } from './common.js';
import { burn, chain, grid, threaded, wide } from './graphs.js';
import { runServer } from './server.js';
import { Add } from './stages.js';

const WORKLOADS = [
  'chain',
  'wide',
  'grid',
  'chain_metrics',
  'grid_metrics',
  'grid_cached',
  'wide_cached',
  'cpu_parallel',
  'big_grid',
  'hash',
  'thread_dispatch',
  'startup',
  'server',
] as const;
type Workload = (typeof WORKLOADS)[number];

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    scale: { type: 'string', default: '1' },
    only: { type: 'string' },
    workload: { type: 'string' },
    repeat: { type: 'string', default: '1' },
  },
});
const scale = Number(values.scale);
if (!(scale > 0)) throw new Error(`--scale must be a positive number, got ${values.scale}`);
const repeat = Number(values.repeat);
if (!Number.isInteger(repeat) || repeat < 1) {
  throw new Error(`--repeat must be a whole number ≥ 1, got ${values.repeat}`);
}
const selected = values.only === undefined ? [...WORKLOADS] : values.only.split(',');
for (const name of [...selected, ...(values.workload === undefined ? [] : [values.workload])]) {
  if (!(WORKLOADS as readonly string[]).includes(name)) {
    throw new Error(`unknown workload '${name}'; the workloads are ${WORKLOADS.join(', ')}`);
  }
}
const script = fileURLToPath(import.meta.url);
const configFile = join(dirname(script), 'phys.config.js');
const scaled = (n: number, min = 1): number => Math.max(min, Math.round(n * scale));

interface Timed {
  readonly nodes: number;
  readonly seconds: number;
  /** Seconds the main thread spent on a CPU meanwhile, where the system says (Linux). */
  readonly cpuSeconds: number | undefined;
  readonly result: DagRunResult;
}

/**
 * On-CPU seconds of the calling thread so far, from its schedstat (Linux; undefined elsewhere).
 * Unlike wall time, it leaves out the time the thread waited for a CPU that other processes held.
 */
function threadCpuSeconds(): number | undefined {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e9;
  } catch {
    return undefined;
  }
}

async function timed(executor: DagExecutor, nodes: NodeSpec[]): Promise<Timed> {
  const c0 = threadCpuSeconds();
  const t0 = performance.now();
  const result = await executor.run({ payload: 0 }, nodes);
  const seconds = (performance.now() - t0) / 1000;
  const c1 = threadCpuSeconds();
  if (result.status !== 'COMPLETED') {
    throw new Error(`run ended ${result.status}: ${result.error?.message ?? ''}`);
  }
  const cpuSeconds = c0 === undefined || c1 === undefined ? undefined : c1 - c0;
  return { nodes: nodes.length, seconds, cpuSeconds, result };
}

/** Collects the garbage of module loading and the warm-up before a measured run (see above). */
function settle(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/**
 * Lets the compilations that building a graph queued finish before the run is timed: configuring
 * 2,000 stages makes the validation code hot, and its optimising compiles would otherwise run on
 * the second core, and be installed on the main thread, in the middle of the measured run. It
 * waits without sleeping, so that the measured run does not start on a CPU just woken from idle
 * (on a VM, a halted virtual CPU can come back slowly).
 */
function quiesce(): Promise<number> {
  // The clock is read once per ~100k steps of integer arithmetic: each read of
  // performance.now() allocates, and reading it in a tight loop would fill the young
  // generation with garbage, so that a scavenge fell inside the measured run at random.
  const end = performance.now() + 150;
  let x = 1;
  while (performance.now() < end) {
    for (let k = 0; k < 100_000; k++) x = (Math.imul(x, 1_664_525) + 1_013_904_223) | 0;
  }
  // Returned, so that the compiler cannot drop the loop.
  return Promise.resolve(x);
}

/** The warm-up before a measured run, as a fraction of its size: WORKLOADS.md's one at 0.1. */
const WARM_UP = 0.1;

/**
 * The warm-up run (see WARM_UP), then the measured run, on one executor (reporting to
 * `collectors`: none but for the metrics variants).
 */
async function measure(
  name: string,
  workers: number,
  build: (factor: number) => NodeSpec[],
  withConfig = false,
  collectors: MetricsCollector[] = [],
  steadyRuns = 0,
): Promise<Timed & { steady?: Timed }> {
  const executor = new DagExecutor({
    scheduler: new LocalScheduler({
      maxWorkers: workers,
      ...(withConfig ? { configFile } : {}),
    }),
    metrics: collectors,
  });
  progress(`${name}: warm-up`);
  await timed(executor, build(WARM_UP));
  settle();
  const nodes = build(1);
  await quiesce();
  progress(`${name}: ${nodes.length} nodes, ${workers} worker${workers === 1 ? '' : 's'}`);
  const out = await timed(executor, nodes);
  if (steadyRuns > 0) {
    // The same graph again on the warm executor: the cost of a node once the process has
    // compiled its path, beside the first large run's (see README.md).
    let steady = out;
    for (let k = 0; k < steadyRuns; k++) steady = await timed(executor, build(1));
    await executor.close();
    return { ...out, steady };
  }
  await executor.close();
  return out;
}

function perNode(t: Timed): {
  nodes: number;
  seconds: number;
  us_per_node: number;
  cpu_us_per_node?: number;
} {
  return {
    nodes: t.nodes,
    seconds: round(t.seconds, 4),
    us_per_node: round((t.seconds * 1e6) / t.nodes, 2),
    ...(t.cpuSeconds === undefined
      ? {}
      : { cpu_us_per_node: round((t.cpuSeconds * 1e6) / t.nodes, 2) }),
  };
}

async function run_chain(): Promise<unknown> {
  const t = await measure('chain', 1, (f) => chain(Math.max(2, Math.round(2000 * scale * f))));
  const last = t.result.outputs[`n${t.nodes - 1}`] as { payload: number };
  check(last.payload === t.nodes, `chain: last payload ${last.payload}, expected ${t.nodes}`);
  return perNode(t);
}

async function run_wide(): Promise<unknown> {
  const t = await measure('wide', 2, (f) => wide(Math.max(2, Math.round(2000 * scale * f))));
  const last = t.result.outputs[`w_${t.nodes - 1}`] as { payload: number };
  check(last.payload === t.nodes - 1, `wide: w_${t.nodes - 1} payload ${last.payload}`);
  return perNode(t);
}

async function run_grid(): Promise<unknown> {
  const t = await measure('grid', 2, (f) => grid(Math.max(2, Math.round(50 * scale * f)), 40));
  return perNode(t);
}

/**
 * A metrics variant: the workload with @phys/metrics-prometheus's collector on (its own
 * registry; not served, not pushed), which must have counted every node of the warm-ups and the
 * measured runs. The parent adds the overhead over the plain variant (see `paired`). After the
 * measured run, the steady cost: the same graph {@link STEADY_ROUNDS} times more on the warm
 * executor and as often on a plain one beside it in the same process, taking turns.
 */
async function withMetrics(
  name: string,
  workers: number,
  build: (factor: number) => NodeSpec[],
): Promise<Timed & { steady: { plainUsPerNode: number; usPerNode: number; extraUs: number } }> {
  const collector = new PrometheusMetricsCollector();
  const t = await measure(name, workers, build, false, [collector]);
  progress(
    `${name}: steady cost, ${STEADY_WARM_ROUNDS + STEADY_ROUNDS} more runs with and without the collector (the last ${STEADY_ROUNDS} count)`,
  );
  const executors = [false, true].map(
    (observed) =>
      new DagExecutor({
        scheduler: new LocalScheduler({ maxWorkers: workers }),
        metrics: observed ? [collector] : [],
      }),
  );
  const perNodeUs: [number[], number[]] = [[], []];
  for (let k = -STEADY_WARM_ROUNDS; k < STEADY_ROUNDS; k++) {
    // Alternating which goes first, so that neither always runs right after a collection.
    for (const which of k % 2 === 0 ? [0, 1] : [1, 0]) {
      const r = await timed(executors[which] as DagExecutor, build(1));
      if (k >= 0) perNodeUs[which]?.push((r.seconds * 1e6) / r.nodes);
    }
  }
  await Promise.all(executors.map((e) => e.close()));
  const nodes = build(WARM_UP).length + t.nodes + (STEADY_WARM_ROUNDS + STEADY_ROUNDS) * t.nodes;
  const counted = await collector.registry.getSingleMetric(METRIC_NAMES.nodes)?.get();
  const total = (counted?.values ?? []).reduce((sum, v) => sum + v.value, 0);
  check(
    total === nodes,
    `${name}: ${METRIC_NAMES.nodes} counted ${total} nodes, expected ${nodes}`,
  );
  await collector.close();
  // Each round's two runs ran back to back: their difference leaves out what the machine did to
  // both (a paired comparison), which moves the medians of the two sides apart by as much as the
  // collector costs.
  const [plainUs, observedUs] = perNodeUs;
  const extraUs = median(observedUs.map((us, k) => us - (plainUs[k] as number)));
  return {
    ...t,
    steady: { plainUsPerNode: median(plainUs), usPerNode: median(observedUs), extraUs },
  };
}

/**
 * Runs of each kind after the measured one for a metrics variant's steady cost: the rounds that
 * count, after rounds that let the process settle (not counted). The difference between the two
 * kinds keeps shrinking for a few hundred rounds (V8 tiering both paths up, the young generation
 * growing to its working size): in rounds 50–150 it read about twice what it reads from round 300
 * on, and rounds 300–600 read the same as rounds 600–1200. At `--scale` k above 1 each round runs
 * k times the nodes: 300/k rounds of each, at least 30.
 */
const STEADY_ROUNDS = Math.max(30, Math.round(300 / Math.max(1, scale)));
const STEADY_WARM_ROUNDS = STEADY_ROUNDS;

/** perNode(), plus a metrics variant's steady figures and their overhead. */
function perNodeWithSteady(t: Awaited<ReturnType<typeof withMetrics>>): unknown {
  const { plainUsPerNode, usPerNode, extraUs } = t.steady;
  return {
    ...perNode(t),
    steady_us_per_node: round(usPerNode, 3),
    steady_plain_us_per_node: round(plainUsPerNode, 3),
    steady_extra_ns_per_node: round(extraUs * 1000, 1),
    steady_overhead_pct: round((extraUs / plainUsPerNode) * 100, 1),
  };
}

async function run_chain_metrics(): Promise<unknown> {
  const t = await withMetrics('chain_metrics', 1, (f) =>
    chain(Math.max(2, Math.round(2000 * scale * f))),
  );
  const last = t.result.outputs[`n${t.nodes - 1}`] as { payload: number };
  check(last.payload === t.nodes, `chain_metrics: last payload ${last.payload}`);
  return perNodeWithSteady(t);
}

async function run_grid_metrics(): Promise<unknown> {
  const t = await withMetrics('grid_metrics', 2, (f) =>
    grid(Math.max(2, Math.round(50 * scale * f)), 40),
  );
  return perNodeWithSteady(t);
}

async function run_grid_cached(): Promise<unknown> {
  /** The grid on a fresh disk cache: cold, then a second executor on the same directory, warm. */
  const coldThenWarm = async (layers: number): Promise<{ cold: Timed; warm: Timed }> => {
    const dir = mkdtempSync(join(tmpdir(), 'phys-bench-cache-'));
    try {
      const pass = async (): Promise<Timed> => {
        const cache = new DiskCache({ dir });
        const executor = new DagExecutor({
          scheduler: new LocalScheduler({ maxWorkers: 2 }),
          cache,
          metrics: [],
        });
        const nodes = grid(layers, 40);
        await quiesce();
        const t = await timed(executor, nodes);
        await executor.close();
        await cache.close();
        return t;
      };
      const cold = await pass();
      const warm = await pass();
      return { cold, warm };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  progress('grid_cached: warm-up');
  await coldThenWarm(Math.max(2, Math.round(50 * scale * 0.1)));
  settle();
  const layers = Math.max(2, Math.round(50 * scale));
  progress(`grid_cached: ${layers * 40} nodes, 2 workers, cold then warm on a fresh cache`);
  const { cold, warm } = await coldThenWarm(layers);
  const hits = warm.result.counts.CACHED ?? 0;
  check(hits === warm.nodes, `grid_cached: warm run restored ${hits} of ${warm.nodes} nodes`);
  check(
    JSON.stringify(warm.result.outputs) === JSON.stringify(cold.result.outputs),
    'grid_cached: warm outputs differ from cold outputs',
  );
  progress(
    `grid_cached: cold ${JSON.stringify(cold.result.cache)}, warm ${JSON.stringify(warm.result.cache)}`,
  );
  return {
    nodes: warm.nodes,
    cold_seconds: round(cold.seconds, 4),
    warm_seconds: round(warm.seconds, 4),
    warm_us_per_node: round((warm.seconds * 1e6) / warm.nodes, 2),
    hits,
  };
}

/** Open-file limit of the workloads that run under one (wide_cached's `ulimit -n`). */
const FD_LIMITS: Partial<Record<Workload, number>> = { wide_cached: 1024 };

/** The soft limit on open files of this process, when the system says (Linux). */
function openFileLimit(): number | undefined {
  if (!existsSync('/proc/self/limits')) return undefined;
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const soft = Number(line?.split(/\s{2,}/)[1]);
  return Number.isFinite(soft) ? soft : undefined;
}

async function run_wide_cached(): Promise<unknown> {
  /**
   * `n` independent nodes on a fresh disk cache: one run stores them all, then a second executor
   * with a fresh DiskCache on the same directory restores them; the restoring run is timed.
   */
  const populateThenRestore = async (n: number): Promise<{ populate: Timed; restore: Timed }> => {
    const dir = mkdtempSync(join(tmpdir(), 'phys-bench-wide-cache-'));
    try {
      const pass = async (measured: boolean): Promise<Timed> => {
        const cache = new DiskCache({ dir });
        const executor = new DagExecutor({
          scheduler: new LocalScheduler({ maxWorkers: 2 }),
          cache,
          metrics: [],
        });
        const nodes = wide(n);
        if (measured) await quiesce();
        const t = await timed(executor, nodes);
        await executor.close();
        await cache.close();
        return t;
      };
      const populate = await pass(false);
      settle();
      const restore = await pass(true);
      return { populate, restore };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const limit = openFileLimit();
  progress(`wide_cached: warm-up (open files limit ${limit ?? 'unknown'})`);
  await populateThenRestore(Math.max(2, Math.round(20_000 * scale * 0.1)));
  settle();
  const n = Math.max(2, Math.round(20_000 * scale));
  progress(`wide_cached: ${n} independent nodes, stored, then restored by a fresh cache`);
  const { populate, restore } = await populateThenRestore(n);
  const restored = restore.result.counts.CACHED ?? 0;
  check(
    restored === n,
    `wide_cached: ${restored} of ${n} nodes restored (${JSON.stringify(restore.result.counts)}, cache ${JSON.stringify(restore.result.cache)})`,
  );
  check(
    JSON.stringify(restore.result.outputs) === JSON.stringify(populate.result.outputs),
    'wide_cached: restored outputs differ from computed outputs',
  );
  progress(`wide_cached: restore ${JSON.stringify(restore.result.cache)}`);
  return {
    nodes: n,
    open_files_limit: limit ?? null,
    populate_seconds: round(populate.seconds, 4),
    seconds: round(restore.seconds, 4),
    us_per_node: round((restore.seconds * 1e6) / n, 2),
    restored,
  };
}

/** t(1 thread) / t(2 threads) for `n` Burn loops on bare worker threads (the machine's ceiling). */
async function plainThreadSpeedup(n: number, iters: number): Promise<number> {
  const source = `const { parentPort } = require('node:worker_threads');
parentPort.on('message', ({ seeds, iters }) => {
  let out = 0;
  for (const seed of seeds) {
    let acc = 0;
    for (let k = 0; k < iters; k++) acc += Math.sin(seed + k * 1e-3);
    out += acc;
  }
  parentPort.postMessage(out);
});`;
  const threads = [new Worker(source, { eval: true }), new Worker(source, { eval: true })];
  const run = (w: Worker, seeds: number[]) =>
    new Promise<unknown>((resolve) => {
      w.once('message', resolve);
      w.postMessage({ seeds, iters });
    });
  const seeds = Array.from({ length: n }, (_, i) => i);
  try {
    await Promise.all(threads.map((w) => run(w, [0])));
    const [a, b] = threads as [Worker, Worker];
    let t0 = performance.now();
    await run(a, seeds);
    const one = performance.now() - t0;
    t0 = performance.now();
    const half = Math.ceil(n / 2);
    await Promise.all([run(a, seeds.slice(0, half)), run(b, seeds.slice(half))]);
    return one / (performance.now() - t0);
  } finally {
    await Promise.all(threads.map((w) => w.terminate()));
  }
}

async function run_cpu_parallel(): Promise<unknown> {
  const iters = 2_000_000;
  const n = scaled(8, 2);
  const seconds: number[] = [];
  for (const workers of [1, 2]) {
    const executor = new DagExecutor({
      scheduler: new LocalScheduler({ maxWorkers: workers, configFile }),
      metrics: [],
    });
    progress(`cpu_parallel: warm-up, ${workers} worker${workers === 1 ? '' : 's'}`);
    await timed(executor, burn(Math.max(2, Math.round(n * 0.1)), iters));
    settle();
    progress(`cpu_parallel: ${n} × Burn{${iters}}, ${workers} worker${workers === 1 ? '' : 's'}`);
    const nodes = burn(n, iters);
    await quiesce();
    const t = await timed(executor, nodes);
    const expected = (seed: number): number => {
      let acc = 0;
      for (let k = 0; k < iters; k++) acc += Math.sin(seed + k * 1e-3);
      return acc;
    };
    const got = (t.result.outputs.b_0 as { payload: number }).payload;
    check(got === expected(0), `cpu_parallel: b_0 payload ${got}`);
    seconds.push(t.seconds);
    await executor.close();
  }
  const [t1, t2] = seconds as [number, number];
  // What the machine allows right now: the same loops on two plain worker threads, no phys. On a
  // shared VM this moves as much as the figure above; it goes to stderr, not into the JSON.
  progress(
    `cpu_parallel: speedup ${round(t1 / t2, 3)}; plain worker threads, same loops, no phys: ${round(await plainThreadSpeedup(n, iters), 3)}`,
  );
  return {
    nodes: n,
    iters,
    seconds_1_worker: round(t1, 4),
    seconds_2_workers: round(t2, 4),
    speedup: round(t1 / t2, 3),
  };
}

async function run_big_grid(): Promise<unknown> {
  // Not scaled: a million nodes is the point of this workload.
  const layers = 2500;
  const width = 400;
  const once = async (k: number): Promise<{ nodes: number; seconds: number }> => {
    const nodes = grid(k, width);
    await quiesce();
    const executor = new DagExecutor({
      scheduler: new LocalScheduler({ maxWorkers: 2 }),
      metrics: [],
    });
    const t = await timed(executor, nodes);
    await executor.close();
    return t;
  };
  progress(`big_grid: warm-up (${layers / 10} layers × ${width})`);
  await once(layers / 10);
  settle();
  progress(`big_grid: ${layers} layers × ${width} = ${layers * width} nodes`);
  const { nodes, seconds } = await once(layers);
  return {
    nodes,
    seconds: round(seconds),
    us_per_node: round((seconds * 1e6) / nodes, 2),
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
  };
}

async function run_hash(): Promise<unknown> {
  const hashOnce = (elements: number): { bytes: number; seconds: number } => {
    const data = new Float64Array(elements);
    for (let i = 0; i < elements; i++) data[i] = i * 0.5;
    const state = { data };
    const t0 = performance.now();
    const digest = hashState(state);
    const seconds = (performance.now() - t0) / 1000;
    check(digest.length === 64, 'hash: digest is 64 hex characters');
    return { bytes: data.byteLength, seconds };
  };
  const elements = 64 * 1024 * 1024;
  progress('hash: warm-up');
  hashOnce(Math.round(elements * 0.1));
  settle();
  progress(`hash: Float64Array of ${elements} elements (${(elements * 8) / 2 ** 20} MiB)`);
  const { bytes, seconds } = hashOnce(elements);
  return { bytes, seconds: round(seconds, 4), gb_per_s: round(bytes / seconds / 1e9, 3) };
}

/**
 * µs per message of `n` small messages echoed by two bare worker threads, one in flight on each:
 * the shape of thread_dispatch with nothing of phys in it (the machine's floor at that moment).
 */
async function bareThreadRoundTrip(n: number): Promise<number> {
  const source = `const { parentPort } = require('node:worker_threads');
parentPort.on('message', (message) => parentPort.postMessage(message));`;
  const threads = [new Worker(source, { eval: true }), new Worker(source, { eval: true })];
  const pump = (w: Worker, count: number): Promise<void> =>
    new Promise((resolve) => {
      let k = 0;
      const onMessage = (): void => {
        if (++k < count) {
          w.postMessage({ payload: k });
          return;
        }
        w.off('message', onMessage);
        resolve();
      };
      w.on('message', onMessage);
      w.postMessage({ payload: 0 });
    });
  const both = async (count: number): Promise<number> => {
    const t0 = performance.now();
    const half = count >> 1;
    await Promise.all([pump(threads[0] as Worker, count - half), pump(threads[1] as Worker, half)]);
    return ((performance.now() - t0) * 1000) / count;
  };
  try {
    await both(Math.max(2, Math.round(n * 0.1)));
    return await both(n);
  } finally {
    await Promise.all(threads.map((w) => w.terminate()));
  }
}

async function run_thread_dispatch(): Promise<unknown> {
  const target = 40;
  const t = await measure(
    'thread_dispatch',
    2,
    (f) => threaded(Math.max(2, Math.round(2000 * scale * f))),
    true,
    [],
    2,
  );
  const last = t.result.outputs[`t_${t.nodes - 1}`] as { payload: number };
  check(last.payload === t.nodes - 1, `thread_dispatch: t_${t.nodes - 1} payload ${last.payload}`);
  const steady = t.steady as Timed;
  const out = {
    ...perNode(t),
    steady_us_per_node: round((steady.seconds * 1e6) / steady.nodes, 2),
  };
  // The same number of round trips on two bare worker threads, no phys: what the machine allows
  // right now. It goes to stderr, not into the JSON, as cpu_parallel's ceiling does.
  progress(
    `thread_dispatch: ${out.us_per_node} µs per node (target ≤ ${target}), ${out.steady_us_per_node} in the third full-size run of the process; bare worker_threads round trip, 2 threads, same count: ${round(await bareThreadRoundTrip(t.nodes), 2)} µs per message`,
  );
  return out;
}

/** The `phys` launcher of @phys/cli (its package.json `bin`), resolved from this package. */
function physBin(): { bin: string; version: string } {
  const require = createRequire(import.meta.url);
  const manifest = require.resolve('@phys/cli/package.json');
  const pkg = require(manifest) as { version: string; bin: { phys: string } };
  return { bin: join(dirname(manifest), pkg.bin.phys), version: pkg.version };
}

/** Wall time of one whole fresh process, from spawn to exit, in ms. */
function processMs(args: readonly string[], cwd: string): { ms: number; stdout: string } {
  const t0 = performance.now();
  const child = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', stdio: 'pipe' });
  const ms = performance.now() - t0;
  if (child.error !== undefined) throw child.error;
  if (child.status !== 0) {
    throw new Error(
      `startup: \`node ${args.join(' ')}\` exited ${child.status ?? child.signal}: ${child.stderr}`,
    );
  }
  return { ms, stdout: child.stdout };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

async function run_startup(): Promise<unknown> {
  // Every Slurm/PBS array task starts `phys exec`, every shell command starts `phys`: whole fresh
  // processes, timed from spawn to exit here. The three commands take turns in each round, so a
  // slow moment of the machine falls on all of them alike; one round first warms the page cache.
  const runs = 11; // not scaled: the size of a process start does not change
  const versionTarget = 100;
  const execTarget = 250;
  const { bin, version } = physBin();
  const dir = mkdtempSync(join(tmpdir(), 'phys-bench-startup-'));
  try {
    // A trivial node (Add{1} on payload 41) of the bench config, written as a cluster scheduler
    // writes an array task's envelope.
    const req = resources({ cpu: 1 });
    const task = await writeTaskEnvelope(
      join(dir, 'add'),
      taskEnvelopeInit(
        {
          runId: 'bench-startup',
          nodeId: 'add',
          stage: Add({ amount: 1 }).ref,
          resources: req,
          attempt: 1,
          input: { payload: 41 },
          policy: {},
        },
        configFile,
        jobGrant(req),
      ),
      { payload: 41 },
    );
    const commands = {
      node: ['-e', '0'],
      version: [bin, '--version'],
      exec: [bin, 'exec', task],
    } as const;
    const times: Record<keyof typeof commands, number[]> = { node: [], version: [], exec: [] };
    progress(`startup: warm-up`);
    const printed = processMs(commands.version, dir).stdout.trim();
    check(printed === version, `startup: phys --version printed '${printed}', expected ${version}`);
    processMs(commands.node, dir);
    processMs(commands.exec, dir);
    const result = await readResultEnvelope(task);
    check(
      result?.envelope.status === 'COMPLETED',
      `startup: phys exec ended ${result?.envelope.status}`,
    );
    const payload = (result?.state as { payload?: number } | undefined)?.payload;
    check(payload === 42, `startup: phys exec produced payload ${payload}, expected 42`);
    progress(`startup: ${runs} rounds of node -e 0, phys --version, phys exec <task.json>`);
    for (let k = 0; k < runs; k++) {
      for (const name of ['node', 'version', 'exec'] as const) {
        times[name].push(processMs(commands[name], dir).ms);
      }
    }
    const node = median(times.node);
    const ver = median(times.version);
    const exec = median(times.exec);
    for (const name of ['node', 'version', 'exec'] as const) {
      progress(`startup: ${name} ms: ${times[name].map((t) => round(t, 1)).join(', ')}`);
    }
    progress(
      `startup: phys --version ${round(ver - node, 1)} ms over node -e 0 (target ≤ ${versionTarget}); phys exec ${round(exec - node, 1)} ms over it (target ≤ ${execTarget})`,
    );
    return {
      runs,
      node_ms: round(node, 1),
      version_ms: round(ver, 1),
      exec_ms: round(exec, 1),
      version_over_node_ms: round(ver - node, 1),
      exec_over_node_ms: round(exec - node, 1),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const RUNNERS: Record<Workload, () => Promise<unknown>> = {
  chain: run_chain,
  wide: run_wide,
  grid: run_grid,
  chain_metrics: run_chain_metrics,
  grid_metrics: run_grid_metrics,
  grid_cached: run_grid_cached,
  wide_cached: run_wide_cached,
  cpu_parallel: run_cpu_parallel,
  big_grid: run_big_grid,
  hash: run_hash,
  thread_dispatch: run_thread_dispatch,
  startup: run_startup,
  server: () => runServer(scale),
};

/** Runs one workload in a fresh process and returns the JSON value it printed last. */
function inChild(name: Workload): Promise<unknown> {
  const flags = ['--expose-gc', ...(name === 'big_grid' ? ['--max-old-space-size=3072'] : [])];
  const args = [...flags, script, '--workload', name, '--scale', String(scale)];
  // A workload with an open-files limit runs under `ulimit -n`, as on a login node that keeps
  // the common default of 1024.
  const fds = FD_LIMITS[name];
  const [file, argv] =
    fds === undefined
      ? [process.execPath, args]
      : ['bash', ['-c', `ulimit -n ${fds} && exec "$0" "$@"`, process.execPath, ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      text += chunk;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code !== 0) {
        reject(new Error(`workload ${name} failed (exit ${code ?? signal}); see its output above`));
        return;
      }
      try {
        resolve(JSON.parse(text.trim().split('\n').at(-1) ?? '') as unknown);
      } catch (error) {
        reject(new Error(`workload ${name} printed no JSON line: ${String(error)}`));
      }
    });
  });
}

/**
 * `--repeat N`: the workload N times, each in a fresh process; the run with the median headline
 * figure is reported (the same JSON shape), and every figure goes to stderr.
 */
async function repeated(name: Workload): Promise<unknown> {
  if (repeat === 1) return inChild(name);
  const runs: { value: unknown; figure: number }[] = [];
  for (let k = 0; k < repeat; k++) {
    const value = await inChild(name);
    runs.push({ value, figure: headline(name, value) });
  }
  runs.sort((a, b) => a.figure - b.figure);
  progress(`${name}: ${HEADLINE[name]} of ${repeat} runs: ${runs.map((r) => r.figure).join(', ')}`);
  return (runs[(repeat - 1) >> 1] as { value: unknown }).value;
}

/**
 * Pairs of fresh processes a metrics variant's overhead is the median of: a single run of a few
 * milliseconds moves by tens of percent with the machine (see README.md), more than the 10% the
 * overhead is held to.
 */
const MIN_PAIRS = 7;

/** The metrics variants, by the plain workload each one is compared with. */
const METRICS_VARIANT: Partial<Record<Workload, Workload>> = {
  chain: 'chain_metrics',
  grid: 'grid_metrics',
};

/** The run with the median headline figure of `runs` of workload `name`. */
function medianRun(name: Workload, runs: readonly unknown[]): unknown {
  const sorted = runs
    .map((value) => ({ value, figure: headline(name, value) }))
    .sort((a, b) => a.figure - b.figure);
  progress(
    `${name}: ${HEADLINE[name]} of ${runs.length} run${runs.length === 1 ? '' : 's'}: ${sorted.map((r) => r.figure).join(', ')}`,
  );
  return (sorted[(sorted.length - 1) >> 1] as { value: unknown }).value;
}

/**
 * A plain workload and its metrics variant, `--repeat` times each (at least {@link MIN_PAIRS}),
 * in pairs of processes run back to back (plain first in one pair, the variant in the next), so
 * that a busy moment of the machine falls on both of a pair alike. Each reports its median run;
 * the variant also its overhead: the median over the pairs of its µs per node over the plain
 * one's, in percent, and the median of its runs' steady overheads (see withMetrics).
 */
async function paired(plain: Workload, variant: Workload): Promise<[unknown, unknown]> {
  const plainRuns: unknown[] = [];
  const variantRuns: unknown[] = [];
  const pairs = Math.max(repeat, MIN_PAIRS);
  for (let k = 0; k < pairs; k++) {
    if (k % 2 === 0) {
      plainRuns.push(await inChild(plain));
      variantRuns.push(await inChild(variant));
    } else {
      variantRuns.push(await inChild(variant));
      plainRuns.push(await inChild(plain));
    }
  }
  const p = medianRun(plain, plainRuns);
  const v = medianRun(variant, variantRuns);
  const base = headline(plain, p);
  const pairOverheads = variantRuns.map((r, k) =>
    round((headline(variant, r) / headline(plain, plainRuns[k]) - 1) * 100, 1),
  );
  progress(
    `${variant}: overhead_pct of each pair: ${[...pairOverheads].sort((a, b) => a - b).join(', ')}`,
  );
  const overhead = median(pairOverheads);
  // The same on the main thread's CPU time, median against median: steadier on a busy machine.
  const cpu = (runs: unknown[]) =>
    median(runs.map((r) => (r as { cpu_us_per_node?: number }).cpu_us_per_node ?? Number.NaN));
  const cpuBase = cpu(plainRuns);
  const cpuOverhead = round((cpu(variantRuns) / cpuBase - 1) * 100, 1);
  const hasCpu = Number.isFinite(cpuOverhead);
  // Every process measured the steady cost: the median of theirs.
  const steadies = variantRuns.map(
    (r) => (r as { steady_overhead_pct?: number }).steady_overhead_pct ?? Number.NaN,
  );
  const steady = median(steadies);
  progress(
    `${variant}: steady_overhead_pct of ${steadies.length} runs: ${[...steadies].sort((a, b) => a - b).join(', ')}`,
  );
  progress(
    `${variant}: ${overhead}% per node over ${plain}${hasCpu ? `, ${cpuOverhead}% on the main thread's CPU time` : ''}, ${steady}% once warm (target ≤ 10%)`,
  );
  return [
    p,
    {
      ...(v as object),
      steady_overhead_pct: steady,
      plain_us_per_node: base,
      overhead_pct: overhead,
      ...(hasCpu
        ? { plain_cpu_us_per_node: round(cpuBase, 2), cpu_overhead_pct: cpuOverhead }
        : {}),
    },
  ];
}

const HEADLINE: Record<Workload, string> = {
  chain: 'us_per_node',
  wide: 'us_per_node',
  grid: 'us_per_node',
  chain_metrics: 'us_per_node',
  grid_metrics: 'us_per_node',
  grid_cached: 'warm_us_per_node',
  wide_cached: 'us_per_node',
  cpu_parallel: 'speedup',
  big_grid: 'us_per_node',
  hash: 'gb_per_s',
  thread_dispatch: 'us_per_node',
  startup: 'exec_over_node_ms',
  server: 'submissions_per_s',
};

function headline(name: Workload, value: unknown): number {
  return (value as Record<string, number>)[HEADLINE[name]] as number;
}

if (values.workload !== undefined) {
  const value = await RUNNERS[values.workload as Workload]();
  process.stdout.write(`${JSON.stringify(value)}\n`);
} else {
  const out: Record<string, unknown> = { system: systemLine() };
  const variants = Object.entries(METRICS_VARIANT) as [Workload, Workload][];
  for (const name of WORKLOADS) {
    if (!selected.includes(name) || name in out) continue;
    // A metrics variant runs in turns with its plain workload (run for the comparison even when
    // only the variant was asked for, and then not printed).
    const pair = variants.find(([plain, variant]) => plain === name || variant === name);
    if (pair !== undefined && selected.includes(pair[1])) {
      const [plain, variant] = await paired(pair[0], pair[1]);
      if (selected.includes(pair[0])) out[pair[0]] = plain;
      out[pair[1]] = variant;
    } else {
      out[name] = await repeated(name);
    }
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
}
