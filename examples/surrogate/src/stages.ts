import { DagState, defineStage, StageContractError } from '@phys/core';
import { z } from 'zod';
import { fly } from './flight.js';
import { fitSurrogate, type PolynomialSurrogate, predict } from './model.js';

/** What `surrogate/flight` hands on. */
export interface FlightSample {
  readonly angleDeg: number;
  readonly dragK: number;
  readonly range: number;
  readonly flightTime: number;
}

/** Errors of the model on a set of points. */
export interface FitErrors {
  readonly points: number;
  /** Root mean square of (predicted − simulated) / simulated. */
  readonly relRms: number;
  /** Largest |predicted − simulated| / simulated. */
  readonly relMax: number;
}

/** What `surrogate/fit` hands on (and what the model package holds as `state.bin`). */
export interface SurrogateState {
  readonly model: PolynomialSurrogate;
  readonly train: FitErrors;
  readonly holdout: FitErrors & {
    /** The held-out points, their simulated ranges and the model's predictions at them. */
    readonly inputs: readonly (readonly [number, number])[];
    readonly targets: readonly number[];
    readonly predictions: readonly number[];
  };
}

/** Bounds of the inputs, shared by the sweep and the model (the model's box is its domain). */
export const DOMAIN = {
  angleDeg: { min: 15, max: 75 },
  dragK: { min: 0, max: 0.002 },
} as const;

/** Stage 1: one flight, the expensive function the surrogate replaces. */
export const Flight = defineStage({
  name: 'surrogate/flight',
  version: '1',
  description: 'Range and flight time of a projectile with quadratic drag (RK4 until landing)',
  isolation: 'inline',
  config: z.object({
    /** Launch angle above the horizon (degrees). */
    angleDeg: z.number().gt(0).lt(90),
    /** Drag constant k = ½·ρ·C_d·A (kg/m). */
    dragK: z.number().nonnegative(),
    /** Launch speed (m/s). */
    speed: z.number().positive().default(40),
    /** Mass (kg); the default is a baseball's. */
    mass: z.number().positive().default(0.145),
    /** Gravitational acceleration (m/s²). */
    g: z.number().positive().default(9.80665),
    /** RK4 time step (s). */
    dt: z.number().positive().max(0.1).default(1e-3),
  }),
  process(_input: unknown, { config }) {
    const landing = fly(config.angleDeg, config.dragK, config);
    const state: FlightSample = {
      angleDeg: config.angleDeg,
      dragK: config.dragK,
      range: landing.range,
      flightTime: landing.flightTime,
    };
    return { state, metrics: { range: landing.range, flightTime: landing.flightTime } };
  },
});

function isSample(value: unknown): value is FlightSample {
  const s = value as FlightSample | null;
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof s.angleDeg === 'number' &&
    typeof s.dragK === 'number' &&
    typeof s.range === 'number'
  );
}

function errorsOf(model: PolynomialSurrogate, samples: readonly FlightSample[]): FitErrors {
  let ss = 0;
  let worst = 0;
  for (const s of samples) {
    const rel = (predict(model, [s.angleDeg, s.dragK]) - s.range) / s.range;
    ss += rel * rel;
    worst = Math.max(worst, Math.abs(rel));
  }
  return { points: samples.length, relRms: Math.sqrt(ss / samples.length), relMax: worst };
}

/**
 * Stage 2: fan-in of the flights; fits range(angle, k) and measures it on points it never saw.
 * Every `holdoutEvery`-th flight (in sweep order, which for Latin-hypercube or random points is
 * a random order) is held out.
 */
export const Fit = defineStage({
  name: 'surrogate/fit',
  version: '1',
  description:
    'Fits a Legendre-polynomial ridge surrogate of range(angle, drag) to a sweep of flights, with a held-out test set',
  isolation: 'inline',
  config: z.object({
    /** Total degree of the polynomial. */
    degree: z.number().int().min(1).max(12).default(7),
    /** Ridge penalty, relative to the number of training points. */
    lambda: z.number().nonnegative().default(1e-12),
    /** Fit ln(range) (ranges shrink by factors under drag) or the range itself. */
    transform: z.enum(['log', 'none']).default('log'),
    /** Hold out every n-th flight. */
    holdoutEvery: z.number().int().min(2).default(5),
  }),
  process(input: DagState | FlightSample, { config }) {
    const parents = DagState.is(input) ? [...input.inputs.values()] : [input];
    const samples: FlightSample[] = [];
    for (const parent of parents) {
      if (!isSample(parent)) {
        throw new StageContractError(
          'surrogate/fit expects the outputs of surrogate/flight nodes as inputs; wire its deps to the flights (expandSweep with collect does).',
        );
      }
      samples.push(parent);
    }
    const holdout = samples.filter((_, i) => i % config.holdoutEvery === config.holdoutEvery - 1);
    const train = samples.filter((_, i) => i % config.holdoutEvery !== config.holdoutEvery - 1);
    if (holdout.length === 0) {
      throw new StageContractError(
        `surrogate/fit holds out every ${config.holdoutEvery}th flight but got only ${samples.length}; sweep more points.`,
      );
    }
    const model = fitSurrogate(
      train.map((s) => [s.angleDeg, s.dragK]),
      train.map((s) => s.range),
      {
        inputs: [
          { name: 'angleDeg', ...DOMAIN.angleDeg },
          { name: 'dragK', ...DOMAIN.dragK },
        ],
        output: 'range',
        transform: config.transform,
        degree: config.degree,
        lambda: config.lambda,
      },
    );
    const trainErrors = errorsOf(model, train);
    const holdoutErrors = errorsOf(model, holdout);
    const state: SurrogateState = {
      model,
      train: trainErrors,
      holdout: {
        ...holdoutErrors,
        inputs: holdout.map((s) => [s.angleDeg, s.dragK] as const),
        targets: holdout.map((s) => s.range),
        predictions: holdout.map((s) => predict(model, [s.angleDeg, s.dragK])),
      },
    };
    return {
      state,
      metrics: {
        trainPoints: trainErrors.points,
        holdoutPoints: holdoutErrors.points,
        trainRelRms: trainErrors.relRms,
        holdoutRelRms: holdoutErrors.relRms,
        holdoutRelMax: holdoutErrors.relMax,
        coefficients: model.coefficients.length,
      },
      // The packager writes data artifacts as model files: this one lands at files/model.json.
      artifacts: { 'model.json': model as unknown as Record<string, unknown> },
    };
  },
});
