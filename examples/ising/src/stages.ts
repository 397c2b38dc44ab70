import { CancelledError, DagState, defineStage, StageContractError } from '@phys/core';
import { z } from 'zod';
import { parabolicPeak } from './critical.js';
import { type IsingMeasurement, ONSAGER_TC, simulateSlices } from './metropolis.js';

/** One row of a temperature scan: what `ising/critical` hands on per temperature. */
export interface ScanRow {
  readonly temperature: number;
  readonly absMagnetization: number;
  readonly energy: number;
  readonly heatCapacity: number;
  readonly susceptibility: number;
  readonly binder: number;
  /** Jackknife standard error of the heat capacity. */
  readonly heatCapacityError: number;
}

/** What `ising/critical` hands on: the scan sorted by temperature and the located T_c. */
export interface CriticalSummary {
  readonly L: number;
  readonly rows: readonly ScanRow[];
  /** The peak of C, refined by a parabola through its neighbours: the estimate of T_c. */
  readonly criticalTemperature: number;
  /** The same from the peak of χ (shifted further above T_c on a finite lattice). */
  readonly susceptibilityPeak: number;
  readonly heatCapacityMax: number;
  /** Onsager's exact T_c of the infinite lattice, for comparison. */
  readonly exact: number;
}

/** Stage 1: Metropolis Monte Carlo at one temperature; runs on a worker thread by default. */
export const Metropolis = defineStage({
  name: 'ising/metropolis',
  version: '1',
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
      /** Blocks of measurements for the jackknife error bars. */
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
    return {
      state: measured,
      metrics: {
        absM: measured.absMagnetization,
        E: measured.energy,
        C: measured.heatCapacity,
        chi: measured.susceptibility,
        binder: measured.binder,
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
  const header = 'temperature,absM,E,C,C_err,chi,binder';
  const lines = rows.map(
    (r) =>
      `${r.temperature},${r.absMagnetization},${r.energy},${r.heatCapacity},${r.heatCapacityError},${r.susceptibility},${r.binder}`,
  );
  return `${[header, ...lines].join('\n')}\n`;
}

/** Stage 2: fan-in of a temperature scan; T_c from the peak of the heat capacity. */
export const CriticalTemperature = defineStage({
  name: 'ising/critical',
  version: '1',
  description:
    'Fan-in of a temperature scan: T_c from the parabola-refined peak of the heat capacity',
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
      heatCapacityError: p.errors.heatCapacity,
    }));
    const state: CriticalSummary = {
      L: points[0]!.L,
      rows,
      criticalTemperature: c.refined,
      susceptibilityPeak: chi.refined,
      heatCapacityMax: c.value,
      exact: ONSAGER_TC,
    };
    return {
      state,
      metrics: {
        tc: c.refined,
        tcError: c.refined - ONSAGER_TC,
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
