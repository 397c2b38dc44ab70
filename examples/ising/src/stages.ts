import { CancelledError, DagState, defineStage, StageContractError } from '@phys/core';
import { z } from 'zod';
import { bootstrapPeak, exactHeatCapacityPeak, parabolicPeak } from './critical.js';
import { type IsingMeasurement, ONSAGER_TC, simulateSlices } from './metropolis.js';

/** One row of a temperature scan: what `ising/critical` hands on per temperature. */
export interface ScanRow {
  readonly temperature: number;
  readonly absMagnetization: number;
  readonly energy: number;
  /** Per spin, in units of k_B. */
  readonly heatCapacity: number;
  readonly susceptibility: number;
  readonly binder: number;
  /** Standard errors (one σ) of the five quantities above, as in {@link IsingMeasurement}. */
  readonly errors: IsingMeasurement['errors'];
  /** Integrated autocorrelation times of e and |m|, in sweeps. */
  readonly autocorrelationTimes: IsingMeasurement['autocorrelationTimes'];
  readonly errorsReliable: boolean;
}

/** What `ising/critical` hands on: the scan sorted by temperature and the located T_c. */
export interface CriticalSummary {
  readonly L: number;
  readonly rows: readonly ScanRow[];
  /** The peak of C, refined by a parabola through its neighbours: the estimate of T_c(L). */
  readonly criticalTemperature: number;
  /** Its statistical uncertainty: a bootstrap over the errors of C (see `bootstrapPeak`). */
  readonly criticalTemperatureError: number;
  /** The bootstrap's 95 % interval of the peak. */
  readonly criticalTemperatureInterval: readonly [number, number];
  /** The same from the peak of χ (shifted further above T_c on a finite lattice). */
  readonly susceptibilityPeak: number;
  readonly heatCapacityMax: number;
  /** Onsager's exact T_c of the infinite lattice, for comparison. */
  readonly exact: number;
  /** The exact peak of C of this L×L lattice (Kaufman), where the estimate should land. */
  readonly exactPeak: number;
}

/** Stage 1: Metropolis Monte Carlo at one temperature; runs on a worker thread by default. */
export const Metropolis = defineStage({
  name: 'ising/metropolis',
  version: '2',
  description:
    'Checkerboard Metropolis Monte Carlo of the 2D Ising model (periodic L×L, J = 1) at one temperature',
  // Seconds of pure CPU per temperature: spread the points of a scan over the cores.
  isolation: 'thread',
  config: z
    .object({
      /** Side of the lattice; even, because checkerboard updates need a bipartite lattice. */
      L: z
        .number()
        .int()
        .min(4)
        .max(4096)
        .refine((L) => L % 2 === 0, {
          message: 'L must be even: checkerboard updates need a bipartite periodic lattice',
        }),
      /** Temperature in units of J/k_B. */
      temperature: z.number().positive().max(1000),
      /** Sweeps discarded before measuring. */
      thermalize: z.number().int().nonnegative().default(1000),
      /** Sweeps measured (one measurement after each). */
      sweeps: z.number().int().positive().default(10_000),
      /** Seed of the xoshiro128** stream (an unsigned 32-bit integer). */
      seed: z.number().int().min(0).max(0xffff_ffff).default(1),
      /** `ordered`: all spins up (no domain walls to anneal away below T_c); `random`: hot start. */
      start: z.enum(['ordered', 'random']).default('ordered'),
      /** Blocks of measurements for the jackknife errors of C, χ and U₄ (each ≫ τ_int long). */
      blocks: z.number().int().min(2).max(1000).default(20),
    })
    .refine((c) => c.sweeps >= c.blocks, {
      message: 'sweeps must be at least blocks (every block needs a measurement)',
      path: ['sweeps'],
    }),
  async process(_input: unknown, ctx) {
    const slices = simulateSlices(ctx.config);
    let measured: IsingMeasurement;
    for (;;) {
      const next = slices.next();
      if (next.done === true) {
        measured = next.value;
        break;
      }
      // A synchronous loop never sees an abort: give the event loop a turn between slices.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (ctx.signal.aborted) {
        throw new CancelledError(
          `ising/metropolis at T=${ctx.config.temperature} was cancelled after ${next.value} sweeps.`,
          { cause: ctx.signal.reason },
        );
      }
    }
    if (!measured.errorsReliable) {
      const tau = measured.autocorrelationTimes;
      ctx.logger.warn(
        `ising/metropolis at T=${ctx.config.temperature}: error bars unreliable, the series is too short for its autocorrelation time (τ_int of e ${tau.energy.toFixed(1)}, of |m| ${tau.absMagnetization.toFixed(1)} sweeps; blocks of ${Math.floor(ctx.config.sweeps / ctx.config.blocks)} sweeps). Measure more sweeps or use fewer blocks.`,
      );
    }
    const { errors, autocorrelationTimes: tau } = measured;
    return {
      state: measured,
      // The columns of a sweep's results table: what the plot and T_c need, and τ_int. The state
      // (and the scan.csv of ising/critical) has the errors of E, χ and U₄ as well.
      metrics: {
        absM: measured.absMagnetization,
        absM_err: errors.absMagnetization,
        E: measured.energy,
        C: measured.heatCapacity,
        C_err: errors.heatCapacity,
        chi: measured.susceptibility,
        binder: measured.binder,
        tau_E: tau.energy,
        tau_absM: tau.absMagnetization,
      },
    };
  },
});

function isMeasurement(value: unknown): value is IsingMeasurement {
  const m = value as IsingMeasurement | null;
  return (
    typeof m === 'object' &&
    m !== null &&
    typeof m.temperature === 'number' &&
    typeof m.heatCapacity === 'number' &&
    typeof m.L === 'number'
  );
}

function csvOf(rows: readonly ScanRow[]): string {
  const header =
    'temperature,absM,absM_err,E,E_err,C,C_err,chi,chi_err,binder,binder_err,tau_E,tau_absM';
  const lines = rows.map((r) =>
    [
      r.temperature,
      r.absMagnetization,
      r.errors.absMagnetization,
      r.energy,
      r.errors.energy,
      r.heatCapacity,
      r.errors.heatCapacity,
      r.susceptibility,
      r.errors.susceptibility,
      r.binder,
      r.errors.binder,
      r.autocorrelationTimes.energy,
      r.autocorrelationTimes.absMagnetization,
    ].join(','),
  );
  return `${[header, ...lines].join('\n')}\n`;
}

/** Stage 2: fan-in of a temperature scan; T_c from the peak of the heat capacity. */
export const CriticalTemperature = defineStage({
  name: 'ising/critical',
  version: '2',
  description:
    'Fan-in of a temperature scan: T_c from the parabola-refined peak of the heat capacity, with a bootstrap uncertainty',
  isolation: 'inline',
  config: z.object({}),
  process(input: DagState | IsingMeasurement) {
    const parents = DagState.is(input) ? [...input.inputs.values()] : [input];
    const points: IsingMeasurement[] = [];
    for (const parent of parents) {
      if (!isMeasurement(parent)) {
        throw new StageContractError(
          'ising/critical expects the outputs of ising/metropolis nodes as inputs; wire its deps to the Monte Carlo nodes (expandSweep with collect does).',
        );
      }
      points.push(parent);
    }
    const sizes = new Set(points.map((p) => p.L));
    if (sizes.size !== 1 || points.length < 3) {
      throw new StageContractError(
        `ising/critical needs at least 3 temperatures of one lattice size, got ${points.length} point(s) with L = ${[...sizes].join(', ')}. Scan the temperature of one lattice.`,
      );
    }
    points.sort((a, b) => a.temperature - b.temperature);
    const temperatures = points.map((p) => p.temperature);
    const c = parabolicPeak(
      temperatures,
      points.map((p) => p.heatCapacity),
    );
    const tc = bootstrapPeak(
      temperatures,
      points.map((p) => p.heatCapacity),
      points.map((p) => p.errors.heatCapacity),
    );
    const L = points[0]!.L;
    const exactPeak = exactHeatCapacityPeak(L).temperature;
    const chi = parabolicPeak(
      temperatures,
      points.map((p) => p.susceptibility),
    );
    const rows: ScanRow[] = points.map((p) => ({
      temperature: p.temperature,
      absMagnetization: p.absMagnetization,
      energy: p.energy,
      heatCapacity: p.heatCapacity,
      susceptibility: p.susceptibility,
      binder: p.binder,
      errors: p.errors,
      autocorrelationTimes: p.autocorrelationTimes,
      errorsReliable: p.errorsReliable,
    }));
    const state: CriticalSummary = {
      L,
      rows,
      criticalTemperature: c.refined,
      criticalTemperatureError: tc.error,
      criticalTemperatureInterval: [tc.low, tc.high],
      susceptibilityPeak: chi.refined,
      heatCapacityMax: c.value,
      exact: ONSAGER_TC,
      exactPeak,
    };
    return {
      state,
      metrics: {
        tc: c.refined,
        tc_err: tc.error,
        tcLow: tc.low,
        tcHigh: tc.high,
        // Where the peak of C of this lattice is exactly (Kaufman), and Onsager's T_c.
        tcExactL: exactPeak,
        tcMinusOnsager: c.refined - ONSAGER_TC,
        tcSusceptibility: chi.refined,
        heatCapacityMax: c.value,
        points: points.length,
        // 1 when the peak lies inside the scan; 0 means the scan missed it and tc is an edge.
        peakInside: c.interior ? 1 : 0,
      },
      artifacts: { 'scan.csv': csvOf(rows) },
    };
  },
});
