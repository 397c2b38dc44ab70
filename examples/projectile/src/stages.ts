import {
  CancelledError,
  DagState,
  defineStage,
  StageContractError,
  StageExecutionError,
} from '@phys/core';
import { z } from 'zod';
import {
  apexHeight,
  type Body,
  bestAngle,
  energy,
  type Flight,
  flySlices,
  launchBody,
  type Medium,
  maxEnergyDrift,
  type Samples,
} from './physics.js';

/** Standard gravity (m/s²). */
export const STANDARD_GRAVITY = 9.80665;

/** What `projectile/launch` hands on: the launch parameters and the body at t = 0. */
export interface LaunchState {
  readonly launch: { readonly speed: number; readonly angleDeg: number; readonly height: number };
  readonly body: Body;
}

/** What `projectile/integrate` hands on: the whole sampled flight. */
export interface FlightState {
  readonly launch: LaunchState['launch'];
  readonly medium: Medium;
  readonly dt: number;
  readonly samples: Samples;
  readonly impact: Body;
  readonly steps: number;
}

/** What `projectile/analyze` hands on: the figures of one flight. */
export interface FlightSummary {
  readonly angleDeg: number;
  readonly speed: number;
  /** Horizontal distance from launch to impact (m). */
  readonly range: number;
  /** Highest point above the ground (m). */
  readonly apexHeight: number;
  /** Time from launch to impact (s). */
  readonly flightTime: number;
  /** Speed at impact (m/s). */
  readonly impactSpeed: number;
  /** Angle of the velocity below the horizon at impact (degrees). */
  readonly impactAngleDeg: number;
}

/** What `projectile/collect` hands on: every flight of a sweep and the angle of longest range. */
export interface SweepSummary {
  readonly flights: readonly FlightSummary[];
  readonly bestAngleDeg: number;
  /** The best angle refined by a parabola through its neighbours. */
  readonly refinedAngleDeg: number;
  readonly bestRange: number;
}

/** Stage 1: the initial state from launch speed, angle and height. */
export const Launch = defineStage({
  name: 'projectile/launch',
  version: '1',
  description: 'Initial position and velocity from launch speed (m/s), angle (deg) and height (m)',
  isolation: 'inline',
  config: z.object({
    speed: z.number().positive(),
    angleDeg: z.number().gt(0).lte(90),
    height: z.number().nonnegative().default(0),
  }),
  process(_input: unknown, { config }) {
    const state: LaunchState = {
      launch: { speed: config.speed, angleDeg: config.angleDeg, height: config.height },
      body: launchBody(config.speed, config.angleDeg, config.height),
    };
    return { state };
  },
});

/** Stage 2: RK4 integration of dv/dt = g − (k/m)|v|v until impact. */
export const Integrate = defineStage({
  name: 'projectile/integrate',
  version: '1',
  description: 'RK4 integration with quadratic drag until impact (landing point interpolated)',
  config: z.object({
    /** Time step (s). */
    dt: z.number().positive().max(1).default(1e-3),
    /** Drag constant k = ½·ρ·C_d·A (kg/m); 0 for vacuum. */
    k: z.number().nonnegative().default(0),
    /** Mass (kg). */
    mass: z.number().positive().default(1),
    /** Gravitational acceleration (m/s²). */
    g: z.number().positive().default(STANDARD_GRAVITY),
    /** Give up (and fail the stage) after this many steps without impact. */
    maxSteps: z.number().int().positive().default(10_000_000),
  }),
  async process(input: LaunchState, ctx) {
    const { dt, k, mass, g, maxSteps } = ctx.config;
    const medium: Medium = { g, k, mass };
    const slices = flySlices(input.body, dt, medium, maxSteps);
    let flight: Flight | undefined;
    for (;;) {
      const next = slices.next();
      if (next.done === true) {
        flight = next.value;
        break;
      }
      // A synchronous loop would never see the abort: give the event loop a turn between slices.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (ctx.signal.aborted) {
        throw new CancelledError(`projectile/integrate was cancelled at step ${next.value}.`, {
          cause: ctx.signal.reason,
        });
      }
    }
    if (flight === undefined) {
      throw new StageExecutionError(
        'projectile/integrate',
        `The projectile did not land within maxSteps=${maxSteps} steps of dt=${dt} s (${maxSteps * dt} s of flight). Raise maxSteps or dt.`,
        { details: { dt, maxSteps } },
      );
    }
    const e0 = energy(input.body, medium);
    const e1 = energy(flight.impact, medium);
    const state: FlightState = {
      launch: input.launch,
      medium,
      dt,
      samples: flight.samples,
      impact: flight.impact,
      steps: flight.steps,
    };
    return {
      state,
      metrics: {
        steps: flight.steps,
        // The fraction of the launch energy that drag took away.
        energyLoss: (e0 - e1) / e0,
        // In vacuum energy is conserved, so any change is integration error.
        ...(k === 0 ? { energyDrift: maxEnergyDrift(flight.samples, medium) } : {}),
      },
    };
  },
});

function toCsv(s: Samples): string {
  const lines = ['t,x,y,vx,vy'];
  for (let i = 0; i < s.t.length; i++) {
    lines.push(`${s.t[i]},${s.x[i]},${s.y[i]},${s.vx[i]},${s.vy[i]}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Stage 3: range, apex, flight time and impact speed as metrics; the trajectory as a lazy artifact. */
export const Analyze = defineStage({
  name: 'projectile/analyze',
  version: '1',
  description: 'Range, apex height, flight time and impact speed; the trajectory as a CSV artifact',
  isolation: 'inline',
  config: z.object({
    /** Keep every n-th sample in the trajectory artifact (the impact point is always kept). */
    every: z.number().int().positive().default(1),
  }),
  process(input: FlightState, { config }) {
    const { impact, samples, launch } = input;
    const summary: FlightSummary = {
      angleDeg: launch.angleDeg,
      speed: launch.speed,
      range: impact.x,
      apexHeight: apexHeight(samples),
      flightTime: impact.t,
      impactSpeed: Math.hypot(impact.vx, impact.vy),
      impactAngleDeg: (Math.atan2(-impact.vy, impact.vx) * 180) / Math.PI,
    };
    const every = config.every;
    return {
      state: summary,
      metrics: {
        range: summary.range,
        apexHeight: summary.apexHeight,
        flightTime: summary.flightTime,
        impactSpeed: summary.impactSpeed,
        impactAngleDeg: summary.impactAngleDeg,
      },
      artifacts: {
        // Lazy: the CSV is only built when the run records artifacts.
        trajectory: () => toCsv(every === 1 ? samples : thin(samples, every)),
      },
    };
  },
});

function thin(s: Samples, every: number): Samples {
  const keep: number[] = [];
  for (let i = 0; i < s.t.length; i += every) keep.push(i);
  if (keep.at(-1) !== s.t.length - 1) keep.push(s.t.length - 1);
  const pick = (a: Float64Array) => Float64Array.from(keep, (i) => a[i]!);
  return { t: pick(s.t), x: pick(s.x), y: pick(s.y), vx: pick(s.vx), vy: pick(s.vy) };
}

function isSummary(value: unknown): value is FlightSummary {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as FlightSummary).range === 'number' &&
    typeof (value as FlightSummary).angleDeg === 'number'
  );
}

/** Fan-in: the flights of a sweep (one per parent) and the launch angle of longest range. */
export const Collect = defineStage({
  name: 'projectile/collect',
  version: '1',
  description: 'Fan-in of a launch-angle sweep: the angle of maximum range',
  isolation: 'inline',
  config: z.object({}),
  process(input: DagState | FlightSummary) {
    const parents = DagState.is(input) ? [...input.inputs.values()] : [input];
    const flights: FlightSummary[] = [];
    for (const parent of parents) {
      if (!isSummary(parent)) {
        throw new StageContractError(
          'projectile/collect expects the outputs of projectile/analyze nodes as inputs; wire its deps to the analyze nodes.',
        );
      }
      flights.push(parent);
    }
    flights.sort((a, b) => a.angleDeg - b.angleDeg);
    const best = bestAngle(
      flights.map((f) => f.angleDeg),
      flights.map((f) => f.range),
    );
    const state: SweepSummary = {
      flights,
      bestAngleDeg: best.angleDeg,
      refinedAngleDeg: best.refinedAngleDeg,
      bestRange: best.value,
    };
    return {
      state,
      metrics: {
        flights: flights.length,
        bestAngleDeg: best.angleDeg,
        refinedAngleDeg: best.refinedAngleDeg,
        bestRange: best.value,
      },
    };
  },
});
