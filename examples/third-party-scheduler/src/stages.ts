import { DagState, defineStage, StageContractError } from '@phys/core';
import { z } from 'zod';

/** Standard gravity (m/s²). */
export const STANDARD_GRAVITY = 9.80665;

/** What `pendulum/period` hands on. */
export interface PeriodState {
  readonly amplitudeDeg: number;
  /** The measured period (s). */
  readonly period: number;
  /** The small-angle period 2π√(L/g) (s). */
  readonly smallAngle: number;
}

/**
 * The period of a pendulum released from rest at `amplitudeDeg`: θ'' = −(g/L)·sin θ integrated
 * with RK4 until θ first crosses zero (a quarter period, by symmetry), located by linear
 * interpolation between the two steps around the crossing.
 */
export function pendulumPeriod(
  amplitudeDeg: number,
  length: number,
  g: number,
  dt: number,
): number {
  const k = g / length;
  const accel = (theta: number) => -k * Math.sin(theta);
  let theta = (amplitudeDeg * Math.PI) / 180;
  let omega = 0;
  let t = 0;
  while (true) {
    const k1t = omega;
    const k1w = accel(theta);
    const k2t = omega + 0.5 * dt * k1w;
    const k2w = accel(theta + 0.5 * dt * k1t);
    const k3t = omega + 0.5 * dt * k2w;
    const k3w = accel(theta + 0.5 * dt * k2t);
    const k4t = omega + dt * k3w;
    const k4w = accel(theta + dt * k3t);
    const next = theta + (dt / 6) * (k1t + 2 * k2t + 2 * k3t + k4t);
    omega += (dt / 6) * (k1w + 2 * k2w + 2 * k3w + k4w);
    if (next <= 0) return 4 * (t + (dt * theta) / (theta - next));
    theta = next;
    t += dt;
  }
}

/** `pendulum/period`: one amplitude of the sweep. */
export const Period = defineStage({
  name: 'pendulum/period',
  version: '1',
  description: 'Period of a simple pendulum at a given amplitude (RK4)',
  config: z.object({
    amplitudeDeg: z.number().gt(0).lt(180),
    length: z.number().positive().default(1),
    g: z.number().positive().default(STANDARD_GRAVITY),
    dt: z.number().positive().default(1e-4),
  }),
  process: (_state: unknown, { config }) => {
    const period = pendulumPeriod(config.amplitudeDeg, config.length, config.g, config.dt);
    const smallAngle = 2 * Math.PI * Math.sqrt(config.length / config.g);
    const state: PeriodState = { amplitudeDeg: config.amplitudeDeg, period, smallAngle };
    return { state, metrics: { period, ratio: period / smallAngle } };
  },
});

/** `pendulum/table`: the sweep's periods, sorted by amplitude. */
export const Table = defineStage({
  name: 'pendulum/table',
  version: '1',
  description: 'Collects the periods of the sweep into a table',
  config: z.object({}),
  process: (state: unknown) => {
    const rows = state instanceof DagState ? [...state.inputs.values()] : [state];
    for (const row of rows) {
      if (typeof (row as PeriodState | null)?.period !== 'number') {
        throw new StageContractError(
          'pendulum/table expects the outputs of pendulum/period nodes.',
        );
      }
    }
    const table = (rows as PeriodState[]).toSorted((a, b) => a.amplitudeDeg - b.amplitudeDeg);
    const last = table.at(-1) as PeriodState;
    return {
      state: table,
      metrics: { rows: table.length, maxRatio: last.period / last.smallAngle },
    };
  },
});
