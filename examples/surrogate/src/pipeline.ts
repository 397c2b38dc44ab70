import type { NodeSpec } from '@phys/core';
import { planSweep } from '@phys/sweep';
import { DOMAIN, Fit, Flight } from './stages.js';

/** How the training flights are drawn. */
export interface SurrogateOptions {
  /** Flights in the Latin hypercube (a fifth of them are held out). */
  readonly samples: number;
  readonly seed: number;
  /** Total degree of the polynomial. */
  readonly degree: number;
}

/** What `phys run surrogate` uses. */
export const SURROGATE: SurrogateOptions = { samples: 120, seed: 7, degree: 7 };

/**
 * The DAG: `samples` flights on a Latin hypercube over (angle, drag) — every angle stratum and
 * every drag stratum hit once — and a `fit` node, marked `modelArtifact`, that fans them in.
 */
export function surrogateNodes(options: SurrogateOptions): NodeSpec[] {
  const plan = planSweep(
    [{ id: 'flight', stage: Flight({ angleDeg: 45, dragK: 0 }, { label: 'flight' }) }],
    { node: 'flight', params: { angleDeg: DOMAIN.angleDeg, dragK: DOMAIN.dragK } },
    {
      mode: 'lhs',
      samples: options.samples,
      seed: options.seed,
      collect: { id: 'fit', stage: Fit({ degree: options.degree }, { label: 'fit' }) },
    },
  );
  // The executor hands the fit node's result to the packager (the ml-packager plugin).
  return plan.nodes.map((node) => (node.id === 'fit' ? { ...node, modelArtifact: true } : node));
}
