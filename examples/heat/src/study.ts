import type { NodeSpec } from '@phys/core';
import { planSweep, type SweepPlan } from '@phys/sweep';
import type { Scheme } from './heat.js';
import { Convergence, Solve } from './stages.js';

/** A grid-refinement study. */
export interface StudyOptions {
  /** Resolutions, coarse to fine; each one doubles the last for clean pairwise orders. */
  readonly nx: readonly number[];
  readonly schemes: readonly Scheme[];
  /** FTCS mesh ratio (dt = r·dx²/α). */
  readonly r?: number;
  readonly tEnd?: number;
}

/** The study `phys run heat-convergence` runs: both schemes on 16, 32, 64 and 128 intervals. */
export const CONVERGENCE_STUDY: StudyOptions = {
  nx: [16, 32, 64, 128],
  schemes: ['ftcs', 'crank-nicolson'],
};

/** The node a study sweeps. */
export function solveNode(options: StudyOptions): NodeSpec {
  return {
    id: 'solve',
    stage: Solve(
      {
        nx: options.nx[0] ?? 16,
        ...(options.r === undefined ? {} : { r: options.r }),
        ...(options.tEnd === undefined ? {} : { tEnd: options.tEnd }),
      },
      { label: 'solve' },
    ),
  };
}

/**
 * The study as a DAG: one `solve[nx=…,scheme=…]` node per resolution and scheme, and a
 * `convergence` node that fits the order of each scheme.
 */
export function planStudy(options: StudyOptions): SweepPlan {
  return planSweep(
    [solveNode(options)],
    { node: 'solve', params: { scheme: [...options.schemes], nx: [...options.nx] } },
    { mode: 'grid', collect: { id: 'convergence', stage: Convergence({}) } },
  );
}
