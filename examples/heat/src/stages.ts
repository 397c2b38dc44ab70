import { DagState, defineStage, StageContractError } from '@phys/core';
import { z } from 'zod';
import {
  type ConvergenceFit,
  fitOrder,
  type HeatSolution,
  type Scheme,
  solveHeat,
} from './heat.js';

/** What `heat/convergence` hands on: one fit per scheme. */
export interface ConvergenceSummary {
  readonly fits: readonly ConvergenceFit[];
}

/** Stage 1: one solve of u_t = α u_xx on [0, 1] from sin(πx), and its error at tEnd. */
export const Solve = defineStage({
  name: 'heat/solve',
  version: '1',
  description:
    'FTCS or Crank–Nicolson solve of u_t = α·u_xx on [0, 1] (Dirichlet) from sin(πx); error against e^(−απ²t)·sin(πx)',
  isolation: 'inline',
  config: z
    .object({
      scheme: z.enum(['ftcs', 'crank-nicolson']).default('ftcs'),
      /** Intervals of the grid (dx = 1/nx). */
      nx: z.number().int().min(2).max(100_000),
      /** Diffusivity α. */
      alpha: z.number().positive().default(1),
      /** Final time. */
      tEnd: z.number().positive().default(0.125),
      /** FTCS mesh ratio r = α·dt/dx²: dt ∝ dx², stable up to 1/2. */
      r: z.number().positive().default(0.4),
      /** Crank–Nicolson time step per grid spacing: dt = dtPerDx·dx. */
      dtPerDx: z.number().positive().default(0.4),
    })
    .superRefine((c, ctx) => {
      if (c.scheme === 'ftcs' && c.r > 0.5) {
        ctx.addIssue({
          code: 'custom',
          path: ['r'],
          message: `FTCS is unstable for r = α·dt/dx² > 1/2 (got ${c.r}): lower r, or use scheme 'crank-nicolson'`,
        });
      }
    }),
  process(_input: unknown, { config }) {
    const solution = solveHeat(config);
    return {
      state: solution,
      metrics: {
        errorMax: solution.errorMax,
        errorL2: solution.errorL2,
        steps: solution.steps,
        dt: solution.dt,
      },
    };
  },
});

function isSolution(value: unknown): value is HeatSolution {
  const s = value as HeatSolution | null;
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof s.nx === 'number' &&
    typeof s.errorL2 === 'number' &&
    (s.scheme === 'ftcs' || s.scheme === 'crank-nicolson')
  );
}

/** Stage 2: fan-in of a resolution sweep; the observed order of each scheme. */
export const Convergence = defineStage({
  name: 'heat/convergence',
  version: '1',
  description:
    'Fan-in of a grid-resolution sweep: the observed order of accuracy of each scheme (log–log slope)',
  isolation: 'inline',
  config: z.object({}),
  process(input: DagState | HeatSolution) {
    const parents = DagState.is(input) ? [...input.inputs.values()] : [input];
    const byScheme = new Map<Scheme, HeatSolution[]>();
    for (const parent of parents) {
      if (!isSolution(parent)) {
        throw new StageContractError(
          'heat/convergence expects the outputs of heat/solve nodes as inputs; wire its deps to the solves (expandSweep with collect does).',
        );
      }
      const list = byScheme.get(parent.scheme) ?? [];
      list.push(parent);
      byScheme.set(parent.scheme, list);
    }
    const fits: ConvergenceFit[] = [];
    const metrics: Record<string, number> = {};
    for (const [scheme, solutions] of [...byScheme].sort(([a], [b]) => a.localeCompare(b))) {
      const sizes = new Set(solutions.map((s) => s.nx));
      if (sizes.size < 2 || sizes.size !== solutions.length) {
        throw new StageContractError(
          `heat/convergence needs at least two distinct resolutions per scheme, each once; ${scheme} has nx = ${solutions.map((s) => s.nx).join(', ')}. Sweep nx over distinct values.`,
        );
      }
      const fit = fitOrder(solutions);
      fits.push(fit);
      metrics[`${scheme}.orderL2`] = fit.orderL2;
      metrics[`${scheme}.orderMax`] = fit.orderMax;
      metrics[`${scheme}.finestErrorL2`] = fit.errorL2.at(-1)!;
    }
    const state: ConvergenceSummary = { fits };
    return { state, metrics, artifacts: { 'convergence.csv': csvOf(fits) } };
  },
});

function csvOf(fits: readonly ConvergenceFit[]): string {
  const lines = ['scheme,nx,errorMax,errorL2'];
  for (const fit of fits) {
    fit.nx.forEach((nx, k) => {
      lines.push(`${fit.scheme},${nx},${fit.errorMax[k]},${fit.errorL2[k]}`);
    });
  }
  return `${lines.join('\n')}\n`;
}
