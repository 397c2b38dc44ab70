import type { NodeSpec } from '@phys/core';
import { type ParamRange, planSweep, type SweepPlan } from '@phys/sweep';
import { ONSAGER_TC } from './metropolis.js';
import { CriticalTemperature, Metropolis } from './stages.js';

/** A temperature scan of one lattice. */
export interface ScanOptions {
  readonly L: number;
  /** Temperatures, as a `@phys/sweep` range with `steps` (evenly spaced, ends included). */
  readonly temperatures: ParamRange & { readonly steps: number };
  readonly thermalize: number;
  readonly sweeps: number;
  readonly seed: number;
}

/**
 * The scan `pnpm demo` runs: L = 32, 33 temperatures 0.05 apart, 80,000 measured sweeps each
 * (near T_c, Metropolis needs thousands of sweeps per independent sample on this lattice). About
 * 40 s of CPU, spread over the cores; a second run is served from the cache.
 */
export const DEMO_SCAN: ScanOptions = {
  L: 32,
  temperatures: { min: 1.6, max: 3.2, steps: 33 },
  thermalize: 5000,
  sweeps: 80_000,
  seed: 2024,
};

/** A scan small enough for the tests: L = 16, 17 temperatures 0.1 apart, about 2 s of CPU. */
export const QUICK_SCAN: ScanOptions = {
  L: 16,
  temperatures: { min: 1.6, max: 3.2, steps: 17 },
  thermalize: 1000,
  sweeps: 20_000,
  seed: 1,
};

/** The single Monte Carlo node a scan sweeps, at Onsager's T_c until the sweep sets it. */
export function monteCarloNode(options: ScanOptions): NodeSpec {
  return {
    id: 'mc',
    stage: Metropolis(
      {
        L: options.L,
        temperature: ONSAGER_TC,
        thermalize: options.thermalize,
        sweeps: options.sweeps,
        seed: options.seed,
      },
      { label: 'mc' },
    ),
  };
}

/**
 * The scan as a DAG: one `mc[temperature=…]` node per temperature (every one on its own worker
 * thread) and a `critical` node that collects them all and locates T_c.
 */
export function planScan(options: ScanOptions): SweepPlan {
  return planSweep(
    [monteCarloNode(options)],
    { node: 'mc', params: { temperature: options.temperatures } },
    { mode: 'grid', collect: { id: 'critical', stage: CriticalTemperature({}) } },
  );
}

/**
 * The `--set` argument of `phys sweep ising` that scans the same temperatures as
 * {@link planScan}, so both share cache entries: `mc.temperature=1.6..3.2:33`.
 */
export function sweepArgument(options: ScanOptions): string {
  const { min, max, steps } = options.temperatures;
  return `mc.temperature=${min}..${max}:${steps}`;
}
