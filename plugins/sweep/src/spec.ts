import type { PipelineStage } from '@phys/core';
import type { SweepValue } from './render-value.js';

/**
 * A numeric range. Grid and zip sweeps need `steps` (evenly spaced values, geometrically spaced
 * with `log`); random and Latin-hypercube sampling draw from it (log-uniformly with `log`).
 * @public
 */
export interface ParamRange {
  /** Smallest value. */
  readonly min: number;
  /** Largest value (included). */
  readonly max: number;
  /** Space values evenly in log(value) rather than value; needs `min > 0`. */
  readonly log?: boolean;
  /** Draw whole numbers only (random and LHS). */
  readonly integer?: boolean;
  /** Number of grid values from `min` to `max` inclusive (grid and zip; ignored when sampling). */
  readonly steps?: number;
}

/**
 * The values of one parameter: a list, `{ values }` (the same, spelled out), or a range.
 * @public
 */
export type ParamSpace =
  | readonly SweepValue[]
  | { readonly values: readonly SweepValue[] }
  | ParamRange;

/**
 * What to sweep on one node: config keys (dotted for nested keys, e.g. `optimizer.lr`) and their
 * values.
 * @public
 */
export interface SweepSpec {
  /** Id of the node whose stage config varies. */
  readonly node: string;
  /** Values by config key. */
  readonly params: Readonly<Record<string, ParamSpace>>;
}

/**
 * How points are made from the parameter spaces:
 * `grid` — every combination (Cartesian product; the last parameter in sorted order varies fastest);
 * `zip` — the i-th value of every parameter together (all lists must be equally long);
 * `random` — `samples` independent draws; `lhs` — a Latin hypercube of `samples` points, each
 * parameter's range cut into `samples` equal strata with one point in each.
 * @public
 */
export type SweepMode = 'grid' | 'zip' | 'random' | 'lhs';

/**
 * A node that fans in every point of the sweep. Its input is a `DagState` keyed by the ids of the
 * points' copies of the `from` nodes, in point order.
 * @public
 */
export interface SweepCollect {
  /** Id of the new node. */
  readonly id: string;
  /**
   * Its stage (default: `collectResults()`). When the stage's config schema declares `points`,
   * the sweep fills `points` (and `params`) in, so the stage knows every point's parameters and
   * the ids of its inputs.
   */
  readonly stage?: PipelineStage;
  /**
   * Original ids of the nodes whose per-point copies feed it (default: the last nodes of the
   * duplicated subgraph, those no other duplicated node depends on).
   */
  readonly from?: string | readonly string[];
}

/** Options shared by every mode. @public */
export interface SweepOptionsBase {
  /** Add a node that fans in every point (e.g. into a results table). */
  readonly collect?: SweepCollect;
  /**
   * The most points the sweep may have (default {@link DEFAULT_MAX_POINTS}, at most
   * {@link MAX_POINTS_CEILING}). Points are counted before anything is expanded: a grid's count
   * is the product of its axes' lengths, a zip's the length of its lists, a random or LHS
   * sweep's `samples`. Above it, the sweep fails with `PHYS_SWEEP_TOO_LARGE`.
   */
  readonly maxPoints?: number;
}

/**
 * Default of `maxPoints`: 100,000 points. A sweep of that size over a three-node DAG plans and
 * runs in about a minute in about 1 GB; ten times more does not fit in Node's default heap.
 * @public
 */
export const DEFAULT_MAX_POINTS = 100_000;

/**
 * The largest `maxPoints` accepted: one process cannot hold the ids of more points and their
 * node copies (V8 caps a `Set` at 2^24 entries). Split a larger study into several sweeps.
 * @public
 */
export const MAX_POINTS_CEILING = 10_000_000;

/** Options of a grid or zip sweep. @public */
export interface ListSweepOptions extends SweepOptionsBase {
  /** `grid` (default) or `zip`. */
  readonly mode?: 'grid' | 'zip';
}

/** Options of a random or Latin-hypercube sweep. @public */
export interface SampledSweepOptions extends SweepOptionsBase {
  /** `random` or `lhs`. */
  readonly mode: 'random' | 'lhs';
  /** Number of points to draw (identical draws are kept once). */
  readonly samples: number;
  /** The same seed gives the same points, on every machine. */
  readonly seed: number | string;
}

/** Options of {@link expandSweep}. @public */
export type SweepOptions = ListSweepOptions | SampledSweepOptions;
