import { type DagState, defineStage } from '@phys/core';
import { z } from 'zod';

const g = 9.81;

/** One flight's result. */
export interface Flight {
  readonly angleDeg: number;
  readonly range: number;
  readonly flightTime: number;
  /** The Slurm job that computed it (absent when the node ran on this machine). */
  readonly slurmJob?: string;
}

/**
 * `sweep/flight`: a projectile launched at `angleDeg` with quadratic air drag (k = ½·ρ·C_d·A),
 * integrated with semi-implicit Euler steps of `dt` until it falls back to the ground.
 */
export const FlightStage = defineStage({
  name: 'sweep/flight',
  version: '1',
  description: 'Range of a projectile with quadratic drag, for one launch angle',
  config: z.object({
    angleDeg: z.number().min(0).max(90),
    speed: z.number().positive(),
    k: z.number().min(0),
    mass: z.number().positive(),
    dt: z.number().positive().default(1e-3),
  }),
  process: (_state: unknown, ctx) => {
    const { angleDeg, speed, k, mass, dt } = ctx.config;
    const theta = (angleDeg * Math.PI) / 180;
    let x = 0;
    let y = 0;
    let vx = speed * Math.cos(theta);
    let vy = speed * Math.sin(theta);
    let t = 0;
    for (;;) {
      const v = Math.hypot(vx, vy);
      vx -= (k / mass) * v * vx * dt;
      vy -= (g + (k / mass) * v * vy) * dt;
      const nx = x + vx * dt;
      const ny = y + vy * dt;
      t += dt;
      if (ny < 0) {
        // Land where the last step crosses the ground, not at the step's end.
        const f = y / (y - ny);
        x += f * (nx - x);
        t -= (1 - f) * dt;
        break;
      }
      x = nx;
      y = ny;
    }
    const job = process.env.SLURM_ARRAY_JOB_ID ?? process.env.SLURM_JOB_ID;
    const flight: Flight = {
      angleDeg,
      range: x,
      flightTime: t,
      ...(job === undefined ? {} : { slurmJob: job }),
    };
    return { state: flight, metrics: { range: x, flightTime: t } };
  },
});

/** `sweep/best`: the launch angle of longest range among the flights it depends on. */
export const BestStage = defineStage({
  name: 'sweep/best',
  version: '1',
  description: 'The launch angle of longest range',
  config: z.object({}),
  process: (state: DagState) => {
    const flights = [...state.inputs.values()] as Flight[];
    const best = flights.reduce((a, b) => (b.range > a.range ? b : a));
    return {
      state: {
        bestAngleDeg: best.angleDeg,
        bestRange: best.range,
        slurmJobs: [
          ...new Set(flights.flatMap((f) => (f.slurmJob === undefined ? [] : [f.slurmJob]))),
        ],
      },
      metrics: { bestAngleDeg: best.angleDeg, bestRange: best.range, flights: flights.length },
    };
  },
});
