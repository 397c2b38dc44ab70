// End to end: the example's own phys.config.ts through the real loader, registry, sweep
// expansion, DAG executor on worker threads, disk cache and CLI.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runPhys } from '@phys/cli/testing';
import { createRuntime, loadConfig, type PhysRuntime } from '@phys/runtime';
import { planSweep, type ResultsJson } from '@phys/sweep';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exactHeatCapacity, exactHeatCapacityPeak, onsagerMagnetization } from '../src/critical.js';
import { ONSAGER_TC } from '../src/metropolis.js';
import { renderScanPlot } from '../src/plot.js';
import { monteCarloNode, QUICK_SCAN, sweepArgument } from '../src/scan.js';

const exampleDir = fileURLToPath(new URL('..', import.meta.url));
let runtime: PhysRuntime;
let cacheDir: string;
const phys = (argv: readonly string[]) =>
  runPhys(argv, { cwd: exampleDir, env: { PHYS_EXAMPLE_CACHE_DIR: cacheDir } });

beforeAll(async () => {
  // A fresh cache: the first run below must compute, the second must be served from it.
  cacheDir = await mkdtemp(join(tmpdir(), 'phys-ising-cache-'));
  process.env.PHYS_EXAMPLE_CACHE_DIR = cacheDir;
  const loaded = await loadConfig({ cwd: join(exampleDir, 'src') });
  expect(loaded.filepath).toBe(join(exampleDir, 'phys.config.ts'));
  runtime = await createRuntime(loaded);
});

afterAll(async () => {
  await runtime?.dispose();
  delete process.env.PHYS_EXAMPLE_CACHE_DIR;
  if (cacheDir !== undefined) await rm(cacheDir, { recursive: true, force: true });
});

describe('phys.config.ts of the example', () => {
  it('registers its two stages, the sweep plugin’s collect stage, and three pipelines', () => {
    expect(
      runtime.stages
        .list()
        .map((d) => `${d.stageName}@${d.version}`)
        .sort(),
    ).toEqual(['ising/critical@2', 'ising/metropolis@2', 'sweep/collect-results@1']);
    expect(Object.keys(runtime.pipelines).sort()).toEqual(['ising', 'ising-quick', 'ising-scan']);
  });

  it('expands the quick scan into 17 Monte Carlo nodes on worker threads feeding one collect', () => {
    const declared = runtime.pipeline('ising-quick');
    if (declared.kind !== 'dag') throw new Error('expected a DAG pipeline');
    const mc = declared.nodes.filter((n) => n.stage.name === 'ising/metropolis');
    expect(mc.map((n) => n.id)).toEqual(
      Array.from({ length: 17 }, (_, k) => `mc[temperature=${Number((1.6 + k / 10).toFixed(1))}]`),
    );
    expect(mc.map((n) => (n.stage.config as { temperature: number }).temperature)).toEqual(
      Array.from({ length: 17 }, (_, k) => Number((1.6 + k / 10).toFixed(1))),
    );
    // The stage asks for worker threads; no node overrides it.
    expect(new Set(mc.map((n) => n.stage.definition?.isolation))).toEqual(new Set(['thread']));
    expect(mc.filter((n) => n.isolation !== undefined)).toEqual([]);
    const critical = declared.nodes.find((n) => n.id === 'critical');
    expect(critical?.deps).toEqual(mc.map((n) => n.id));
  });

  it('rebuilds a Monte Carlo node from its identity, as a worker thread does', () => {
    const declared = runtime.pipeline('ising-quick');
    if (declared.kind !== 'dag') throw new Error('expected a DAG pipeline');
    const stage = declared.nodes[3]!.stage;
    const rebuilt = runtime.stages.rebuild(JSON.parse(JSON.stringify(stage.ref)));
    expect(rebuilt.configHash).toBe(stage.configHash);
    expect(rebuilt.config).toEqual(stage.config);
  });

  it('validates every point of a sweep before anything runs, and reports all bad ones', () => {
    const attempt = () =>
      planSweep([monteCarloNode(QUICK_SCAN)], {
        node: 'mc',
        params: { temperature: [2, -1, 0], L: [16, 15] },
      });
    expect(attempt).toThrow(expect.objectContaining({ code: 'PHYS_SWEEP_INVALID' }));
    const message = (() => {
      try {
        attempt();
      } catch (error) {
        return (error as Error).message;
      }
      return '';
    })();
    expect(message).toContain('mc[L=16,temperature=-1].temperature');
    expect(message).toContain('mc[L=16,temperature=0].temperature');
    expect(message).toMatch(/mc\[L=15,temperature=2\]\.L: L must be even/);
  });
});

// The Monte Carlo nodes run in worker threads, which load phys.config.ts on their own. A worker
// started inside the test runner would inherit its module hooks (which map packages to
// TypeScript sources), so this part runs where users run it: the built `phys` binary.
describe('the temperature scan, through `phys run ising-quick` on worker threads', () => {
  let first: Record<string, number>;

  it('finds T_c within 0.15 of Onsager’s 2.269 from the peak of the heat capacity', async () => {
    const { code, stdout, stderr } = await phys(['run', 'ising-quick', '--json']);
    expect(stderr).not.toMatch(/error/i);
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({ pipeline: 'ising-quick', kind: 'dag', status: 'COMPLETED' });
    expect(report.counts).toEqual({ COMPLETED: 18 });
    const metrics = report.metrics as Record<string, number>;
    first = metrics;
    expect(metrics['critical.points']).toBe(17);
    expect(metrics['critical.peakInside']).toBe(1);
    expect(Math.abs(metrics['critical.tc']! - ONSAGER_TC)).toBeLessThan(0.15);
    // On a finite lattice the peak of C lies above T_c, and that of χ further above.
    expect(metrics['critical.tc']).toBeGreaterThan(ONSAGER_TC);
    expect(metrics['critical.tcSusceptibility']).toBeGreaterThan(metrics['critical.tc']!);
  });

  it('gives T_c(16) with a bootstrap interval that contains the exact peak of C of the 16×16 lattice', () => {
    const tc = first['critical.tc']!;
    const exact = exactHeatCapacityPeak(16).temperature; // 2.3175 (Kaufman)
    expect(first['critical.tcExactL']).toBe(exact);
    expect(first['critical.tc_err']).toBeGreaterThan(0);
    expect(first['critical.tc_err']).toBeLessThan(0.05);
    expect(first['critical.tcLow']).toBeLessThan(tc);
    expect(first['critical.tcHigh']).toBeGreaterThan(tc);
    expect(first['critical.tcLow']).toBeLessThanOrEqual(exact);
    expect(first['critical.tcHigh']).toBeGreaterThanOrEqual(exact);
    expect(first['critical.tcMinusOnsager']).toBeCloseTo(tc - ONSAGER_TC, 12);
  });

  it('has error bars that the exact C of the 16×16 lattice confirms, and τ_int per temperature', () => {
    const temperatures = Array.from({ length: 17 }, (_, k) => Number((1.6 + k / 10).toFixed(1)));
    // Pulls (C − C_exact)/σ_C: standard normal if the values and their errors are right. Every
    // one within 4.5 (a chance of 1e-4 each to fail for right errors); their mean square near 1
    // (17 terms: 0.2 to 3 is far outside the few-σ range of a right one, and catches error bars
    // that are too big as well as too small).
    const pulls = temperatures.map(
      (T) =>
        (first[`mc[temperature=${T}].C`]! - exactHeatCapacity(16, T)) /
        first[`mc[temperature=${T}].C_err`]!,
    );
    for (const pull of pulls) expect(Math.abs(pull)).toBeLessThan(4.5);
    const meanSquare = pulls.reduce((s, p) => s + p * p, 0) / pulls.length;
    expect(meanSquare).toBeGreaterThan(0.2);
    expect(meanSquare).toBeLessThan(3);
    // Critical slowing down: |m| decorrelates slowest near T_c.
    const tau = temperatures.map((T) => first[`mc[temperature=${T}].tau_absM`]!);
    const slowest = temperatures[tau.indexOf(Math.max(...tau))]!;
    expect(Math.abs(slowest - ONSAGER_TC)).toBeLessThan(0.25);
    expect(Math.min(...tau)).toBeGreaterThanOrEqual(0.5);
    for (const T of temperatures) {
      expect(first[`mc[temperature=${T}].absM_err`]).toBeGreaterThan(0);
    }
  });

  it('is ordered when cold and disordered when hot', () => {
    const absM = (T: number) => first[`mc[temperature=${T}].absM`]!;
    expect(absM(1.6)).toBeGreaterThan(0.97);
    expect(absM(1.6)).toBeCloseTo(onsagerMagnetization(1.6), 2);
    expect(absM(3.2)).toBeLessThan(0.2);
    const temperatures = Array.from({ length: 17 }, (_, k) => Number((1.6 + k / 10).toFixed(1)));
    const curve = temperatures.map(absM);
    // |m| falls all the way across the transition.
    for (let k = 1; k < curve.length; k++) expect(curve[k]).toBeLessThan(curve[k - 1]!);
    expect(first['mc[temperature=1.6].binder']).toBeCloseTo(2 / 3, 2);
    expect(Math.abs(first['mc[temperature=3.2].binder']!)).toBeLessThan(0.1);
  });

  it('serves a second run from the disk cache, with identical numbers', async () => {
    const { code, stdout } = await phys(['run', 'ising-quick', '--json']);
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.status).toBe('COMPLETED');
    // The Monte Carlo points are restored; what depends only on them may be too.
    expect(report.counts.CACHED).toBeGreaterThanOrEqual(17);
    expect(report.metrics).toEqual(first);
  });
});

describe('`phys sweep ising`, the path `pnpm demo` takes', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'phys-ising-sweep-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes a results table with T, |m|, E, C, χ, from which the plot is drawn', async () => {
    expect(sweepArgument(QUICK_SCAN)).toBe('mc.temperature=1.6..3.2:17');
    const out = join(dir, 'results.json');
    const { code, stdout } = await phys([
      'sweep',
      'ising',
      '--set',
      'mc.temperature=1.5,2.3,3.5',
      '--set',
      'mc.L=8',
      '--set',
      'mc.sweeps=4000',
      '--progress',
      'none',
      '--out',
      out,
    ]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^✓ sweep ising: COMPLETED/m);
    const results = JSON.parse(await readFile(out, 'utf8')) as ResultsJson;
    expect(results.params).toEqual(['L', 'sweeps', 'temperature']);
    expect(results.metrics).toEqual([
      'absM',
      'absM_err',
      'E',
      'C',
      'C_err',
      'chi',
      'binder',
      'tau_E',
      'tau_absM',
    ]);
    const rows = results.rows.map((r) => ({
      temperature: r.params.temperature as number,
      absM: r.metrics.absM as number,
      absM_err: r.metrics.absM_err as number,
      C: r.metrics.C as number,
      C_err: r.metrics.C_err as number,
    }));
    expect(rows.map((r) => r.temperature)).toEqual([1.5, 2.3, 3.5]);
    expect(rows[0]!.absM).toBeGreaterThan(rows[2]!.absM);
    for (const row of rows) expect(row.C_err).toBeGreaterThan(0);

    const svg = await renderScanPlot(rows, { L: 8, criticalTemperature: 2.3 });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('magnetisation per spin ⟨|m|⟩');
    expect(svg).toContain('heat capacity per spin C (k<tspan');
    expect(svg).toContain('= 2.300');
    // One symbol and one error bar per point in each panel.
    expect(svg.match(/aria-roledescription="point"/g)?.length).toBe(2 * rows.length);
    expect(svg.match(/aria-roledescription="errorbar"/g)?.length).toBe(2 * rows.length);
  });
});
