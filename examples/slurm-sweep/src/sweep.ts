import { type NodeSpec, resources } from '@phys/core';
import { BestStage, FlightStage } from './stages.js';

/** A baseball (145 g, 7.4 cm across, C_d ≈ 0.35) in sea-level air. */
export const BASEBALL = { mass: 0.145, k: 0.5 * 1.2 * 0.35 * Math.PI * 0.037 ** 2 } as const;

/**
 * One `flight-<angle>` node per launch angle, all independent, then `best`. On Slurm the flights
 * are ready together and go out as one job array; `best` follows as one job.
 */
export function sweepNodes(angles: readonly number[], speed: number): NodeSpec[] {
  const flights: NodeSpec[] = angles.map((angleDeg) => ({
    id: `flight-${angleDeg}`,
    stage: FlightStage({ angleDeg, speed, ...BASEBALL }),
    // What each Slurm job asks for: one core, a little memory, five minutes.
    resources: resources({ cpu: 1, memory: '256Mi', wallTime: '5m' }),
  }));
  return [...flights, { id: 'best', stage: BestStage({}), deps: flights.map((f) => f.id) }];
}

/** The angles the example sweeps: 10° to 60° in steps of 2°. */
export const ANGLES: readonly number[] = Array.from({ length: 26 }, (_, i) => 10 + 2 * i);
