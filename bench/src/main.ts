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
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { DiskCache } from '@phys/cache-disk';
import { hashState, type NodeSpec, resources } from '@phys/core';
import { DagExecutor, type DagRunResult, LocalScheduler } from '@phys/executor-dag';
import {
  jobGrant,
  readResultEnvelope,
  taskEnvelopeInit,
  writeTaskEnvelope,
} from '@phys/scheduler-kit';
import { check, progress, round, systemLine } from './common.js';
import { burn, chain, grid, threaded, wide } from './graphs.js';
import { Add } from './stages.js';

const WORKLOADS = [
  'chain',
  'wide',
  'grid',
  'grid_cached',
  'cpu_parallel',
  'big_grid',
  'hash',
  'thread_dispatch',
  'startup',
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
  readonly result: DagRunResult;
}

async function timed(executor: DagExecutor, nodes: NodeSpec[]): Promise<Timed> {
  const t0 = performance.now();
  const result = await executor.run({ payload: 0 }, nodes);
  const seconds = (performance.now() - t0) / 1000;
  if (result.status !== 'COMPLETED') {
    throw new Error(`run ended ${result.status}: ${result.error?.message ?? ''}`);
  }
  return { nodes: nodes.length, seconds, result };
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
function quiesce(): Promise<void> {
  const end = performance.now() + 150;
  while (performance.now() < end) {
    // spin
  }
  return Promise.resolve();
}

/** One warm-up run at a tenth of the size, then the measured run, on one executor. */
async function measure(
  name: string,
  workers: number,
  build: (factor: number) => NodeSpec[],
  withConfig = false,
): Promise<Timed> {
  const executor = new DagExecutor({
    scheduler: new LocalScheduler({
      maxWorkers: workers,
      ...(withConfig ? { configFile } : {}),
    }),
    metrics: [],
  });
  progress(`${name}: warm-up`);
  await timed(executor, build(0.1));
  settle();
  const nodes = build(1);
  await quiesce();
  progress(`${name}: ${nodes.length} nodes, ${workers} worker${workers === 1 ? '' : 's'}`);
  const out = await timed(executor, nodes);
  await executor.close();
  return out;
}

function perNode(t: Timed): { nodes: number; seconds: number; us_per_node: number } {
  return {
    nodes: t.nodes,
    seconds: round(t.seconds, 4),
    us_per_node: round((t.seconds * 1e6) / t.nodes, 2),
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
  );
  const last = t.result.outputs[`t_${t.nodes - 1}`] as { payload: number };
  check(last.payload === t.nodes - 1, `thread_dispatch: t_${t.nodes - 1} payload ${last.payload}`);
  const out = perNode(t);
  // The same number of round trips on two bare worker threads, no phys: what the machine allows
  // right now. It goes to stderr, not into the JSON, as cpu_parallel's ceiling does.
  progress(
    `thread_dispatch: ${out.us_per_node} µs per node (target ≤ ${target}); bare worker_threads round trip, 2 threads, same count: ${round(await bareThreadRoundTrip(t.nodes), 2)} µs per message`,
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
  grid_cached: run_grid_cached,
  cpu_parallel: run_cpu_parallel,
  big_grid: run_big_grid,
  hash: run_hash,
  thread_dispatch: run_thread_dispatch,
  startup: run_startup,
};

/** Runs one workload in a fresh process and returns the JSON value it printed last. */
function inChild(name: Workload): Promise<unknown> {
  const flags = ['--expose-gc', ...(name === 'big_grid' ? ['--max-old-space-size=3072'] : [])];
  const args = [...flags, script, '--workload', name, '--scale', String(scale)];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
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

const HEADLINE: Record<Workload, string> = {
  chain: 'us_per_node',
  wide: 'us_per_node',
  grid: 'us_per_node',
  grid_cached: 'warm_us_per_node',
  cpu_parallel: 'speedup',
  big_grid: 'us_per_node',
  hash: 'gb_per_s',
  thread_dispatch: 'us_per_node',
  startup: 'exec_over_node_ms',
};

function headline(name: Workload, value: unknown): number {
  return (value as Record<string, number>)[HEADLINE[name]] as number;
}

if (values.workload !== undefined) {
  const value = await RUNNERS[values.workload as Workload]();
  process.stdout.write(`${JSON.stringify(value)}\n`);
} else {
  const out: Record<string, unknown> = { system: systemLine() };
  for (const name of WORKLOADS) {
    if (selected.includes(name)) out[name] = await repeated(name);
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
}
