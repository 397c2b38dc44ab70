import type { ConfigIssue } from '@phys/core';
import { isPlainObject, type SweepValue } from './render-value.js';
import type { ParamRange, ParamSpace, SweepMode } from './spec.js';

/**
 * A parameter space in checked form. A grid or zip range is turned into its values, unless it
 * has more steps than the sweep may have points: it then stays a range, for the point count to
 * refuse it without allocating them.
 */
export type Space =
  | { readonly kind: 'values'; readonly values: readonly SweepValue[] }
  | { readonly kind: 'range'; readonly range: ParamRange };

// Evenly spaced grid values are rounded to 15 significant digits, so that a grid from 1.5 to 3
// reads 1.6 and not 1.6000000000000001: the difference is far below any physical tolerance.
const GRID_DIGITS = 15;

/**
 * Checks one parameter space for `mode`; problems are pushed to `issues` under `path`.
 * Returns undefined when the space is unusable. A grid or zip range of more than `maxValues`
 * steps is returned as a range, not expanded.
 */
export function checkSpace(
  space: ParamSpace,
  mode: SweepMode,
  path: string,
  issues: ConfigIssue[],
  maxValues: number,
): Space | undefined {
  const sampled = mode === 'random' || mode === 'lhs';
  let values: readonly SweepValue[] | undefined;
  if (Array.isArray(space)) values = space as readonly SweepValue[];
  else if (isPlainObject(space) && 'values' in space) {
    const v = (space as { values: unknown }).values;
    if (!Array.isArray(v)) {
      issues.push({ path, message: '`values` must be an array of values' });
      return undefined;
    }
    values = v as readonly SweepValue[];
  }
  if (values !== undefined) {
    if (values.length === 0) {
      issues.push({ path, message: 'has no values; give at least one' });
      return undefined;
    }
    return { kind: 'values', values };
  }
  if (!isPlainObject(space) || !('min' in space) || !('max' in space)) {
    issues.push({
      path,
      message:
        'expected a list of values, { values: [...] }, or a range { min, max, steps? , log? }',
    });
    return undefined;
  }
  const range = space as ParamRange;
  const before = issues.length;
  if (!Number.isFinite(range.min) || !Number.isFinite(range.max)) {
    issues.push({ path, message: '`min` and `max` must be finite numbers' });
  } else if (range.min > range.max) {
    issues.push({ path, message: `\`min\` (${range.min}) is greater than \`max\` (${range.max})` });
  } else if (range.log === true && range.min <= 0) {
    issues.push({ path, message: `a log range needs \`min\` > 0, got ${range.min}` });
  }
  if (range.integer === true && !(Number.isInteger(range.min) && Number.isInteger(range.max))) {
    issues.push({ path, message: 'an integer range needs whole-number `min` and `max`' });
  }
  if (range.steps !== undefined && !(Number.isInteger(range.steps) && range.steps >= 1)) {
    issues.push({ path, message: `\`steps\` must be a whole number >= 1, got ${range.steps}` });
  }
  if (!sampled && range.steps === undefined) {
    issues.push({
      path,
      message: `a range needs \`steps\` in ${mode} mode (how many values from min to max), or use mode 'random' or 'lhs' to sample it`,
    });
  }
  if (issues.length > before) return undefined;
  if (!sampled && (range.steps as number) <= maxValues) {
    return { kind: 'values', values: gridValues(range) };
  }
  return { kind: 'range', range };
}

/**
 * How many values a space gives a grid or zip: its values, or the steps of a range left
 * unexpanded (an upper bound: whole-number ranges drop repeated values).
 */
export function sizeOf(space: Space): number {
  return space.kind === 'values' ? space.values.length : (space.range.steps ?? 1);
}

/**
 * How many points a sweep makes before duplicates are dropped: the product of the axes' sizes
 * (grid), their common size (zip), or `samples` (random, lhs). A bigint, so that no product
 * overflows; computed without expanding anything.
 */
export function countPoints(sizes: readonly number[], mode: SweepMode, samples: number): bigint {
  if (mode === 'random' || mode === 'lhs') return BigInt(samples);
  if (mode === 'zip') return BigInt(sizes[0] ?? 0);
  return sizes.reduce((n, size) => n * BigInt(size), 1n);
}

/** `steps` values from min to max inclusive, evenly spaced (geometrically with `log`). */
export function gridValues(range: ParamRange): number[] {
  const steps = range.steps ?? 1;
  if (steps === 1) return [range.min];
  const out: number[] = [];
  for (let k = 0; k < steps; k++) {
    const t = k / (steps - 1);
    let v: number;
    if (k === 0) v = range.min;
    else if (k === steps - 1) v = range.max;
    else if (range.log === true) v = Math.exp(lerp(Math.log(range.min), Math.log(range.max), t));
    else v = lerp(range.min, range.max, t);
    if (range.integer === true) v = Math.round(v);
    out.push(k === 0 || k === steps - 1 ? v : Number(v.toPrecision(GRID_DIGITS)));
  }
  return range.integer === true ? [...new Set(out)] : out;
}

function lerp(a: number, b: number, t: number): number {
  return a + (b - a) * t;
}

/**
 * Every combination of the dimensions' values, one at a time; the last dimension varies
 * fastest. Nothing but the current point is held, so the caller decides what to keep.
 */
export function* gridPoints(
  spaces: readonly (readonly SweepValue[])[],
): Generator<SweepValue[], void, undefined> {
  if (spaces.some((values) => values.length === 0)) return;
  // An odometer over the dimensions' indices.
  const at = spaces.map(() => 0);
  for (;;) {
    yield spaces.map((values, d) => values[at[d] as number] as SweepValue);
    let d = spaces.length - 1;
    while (d >= 0 && (at[d] as number) + 1 === (spaces[d] as readonly SweepValue[]).length) {
      at[d] = 0;
      d--;
    }
    if (d < 0) return;
    at[d] = (at[d] as number) + 1;
  }
}

/** The i-th value of every dimension together, one at a time; the caller checked the lengths. */
export function* zipPoints(
  spaces: readonly (readonly SweepValue[])[],
): Generator<SweepValue[], void, undefined> {
  const n = spaces[0]?.length ?? 0;
  for (let i = 0; i < n; i++) yield spaces.map((values) => values[i] as SweepValue);
}

/**
 * `samples` points drawn independently (`random`) or as a Latin hypercube (`lhs`): each
 * dimension's unit interval is cut into `samples` strata, a random permutation assigns one
 * stratum to each point, and the point lies uniformly within it.
 */
export function* sampledPoints(
  spaces: readonly Space[],
  mode: 'random' | 'lhs',
  samples: number,
  seed: number | string,
): Generator<SweepValue[], void, undefined> {
  const rand = seededRandom(seed);
  const units: number[][] = spaces.map(() => new Array<number>(samples));
  for (let d = 0; d < spaces.length; d++) {
    const column = units[d] as number[];
    if (mode === 'random') {
      for (let s = 0; s < samples; s++) column[s] = rand();
    } else {
      const strata = Array.from({ length: samples }, (_, s) => s);
      for (let s = samples - 1; s > 0; s--) {
        const j = Math.floor(rand() * (s + 1));
        [strata[s], strata[j]] = [strata[j] as number, strata[s] as number];
      }
      for (let s = 0; s < samples; s++) column[s] = ((strata[s] as number) + rand()) / samples;
    }
  }
  for (let s = 0; s < samples; s++) {
    yield spaces.map((space, d) => fromUnit(space, (units[d] as number[])[s] as number));
  }
}

/** Maps u in [0, 1) onto a space. */
function fromUnit(space: Space, u: number): SweepValue {
  if (space.kind === 'values') {
    const { values } = space;
    return values[Math.min(values.length - 1, Math.floor(u * values.length))] as SweepValue;
  }
  const { min, max, log, integer } = space.range;
  if (integer === true) {
    // Whole numbers min..max each get an equal share of [0, 1) (of log space with `log`).
    const v =
      log === true
        ? Math.floor(Math.exp(lerp(Math.log(min), Math.log(max + 1), u)))
        : Math.floor(lerp(min, max + 1, u));
    return Math.min(max, Math.max(min, v));
  }
  const v = log === true ? Math.exp(lerp(Math.log(min), Math.log(max), u)) : lerp(min, max, u);
  return Math.min(max, Math.max(min, v));
}

/**
 * A small seeded generator (sfc32, seeded through splitmix32 from an FNV-1a hash of the seed):
 * pure 32-bit integer arithmetic, so a seed draws the same numbers on every platform.
 */
export function seededRandom(seed: number | string): () => number {
  const text = typeof seed === 'number' ? `n:${String(seed)}` : `s:${seed}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  let x = h >>> 0;
  const split = (): number => {
    x = (x + 0x9e3779b9) | 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split();
  let b = split();
  let c = split();
  let d = split();
  const next = (): number => {
    a |= 0;
    b |= 0;
    c |= 0;
    d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  // The first outputs of sfc32 still carry the seed's structure; discard them.
  for (let i = 0; i < 12; i++) next();
  return next;
}
