// Locating the critical temperature on a finite lattice. The heat capacity of a finite lattice
// has a smooth, finite peak close to T_c (it diverges only as L → ∞); its position is
// T_c(L) ≈ T_c·(1 + a/L) with a small positive a, so on L = 16–32 the peak sits 0.02–0.06 above
// Onsager's 2.269. A scan samples C on a grid; the peak is refined by the vertex of the parabola
// through the highest sample and its two neighbours.

import { UsageError } from '@phys/core';
import { ONSAGER_TC } from './metropolis.js';
import { Xoshiro128 } from './rng.js';

/** A located peak of a sampled curve. */
export interface Peak {
  /** Grid point with the largest value. */
  readonly at: number;
  readonly value: number;
  /** Vertex of the parabola through the peak sample and its neighbours (`at` at an edge). */
  readonly refined: number;
  /** False when the largest sample is the first or last one: the true peak may lie outside. */
  readonly interior: boolean;
}

/**
 * The peak of `values` sampled at increasing `xs`, refined by a parabola through the largest
 * sample and its two neighbours. The vertex is kept inside the neighbours' interval.
 */
export function parabolicPeak(xs: readonly number[], values: readonly number[]): Peak {
  if (xs.length !== values.length || xs.length === 0) {
    throw new UsageError(
      `parabolicPeak needs as many values as grid points, and at least one, got ${xs.length} points and ${values.length} values.`,
    );
  }
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  const at = xs[best]!;
  const value = values[best]!;
  if (best === 0 || best === xs.length - 1) return { at, value, refined: at, interior: false };
  const x0 = xs[best - 1]!;
  const x2 = xs[best + 1]!;
  const y0 = values[best - 1]!;
  const y2 = values[best + 1]!;
  // Newton form y = y0 + d1·(x − x0) + d2·(x − x0)(x − x1); its vertex is where y' = 0.
  const d1 = (value - y0) / (at - x0);
  const d2 = ((y2 - value) / (x2 - at) - d1) / (x2 - x0);
  const vertex = d2 < 0 ? (x0 + at) / 2 - d1 / (2 * d2) : at;
  return { at, value, refined: Math.min(x2, Math.max(x0, vertex)), interior: true };
}

/**
 * Spontaneous magnetisation of the infinite lattice (Onsager–Yang):
 * m(T) = (1 − sinh(2/T)^−4)^(1/8) below T_c, 0 above.
 */
export function onsagerMagnetization(temperature: number): number {
  const s = Math.sinh(2 / temperature);
  const inside = 1 - s ** -4;
  return inside > 0 ? inside ** 0.125 : 0;
}

/**
 * Energy per spin of the infinite lattice (Onsager):
 * u = −coth(2β)·[1 + (2/π)(2·tanh²(2β) − 1)·K(k)],  k = 2·sinh(2β)/cosh²(2β),  β = 1/T,
 * with the complete elliptic integral K computed by the arithmetic–geometric mean.
 */
export function onsagerEnergy(temperature: number): number {
  const b2 = 2 / temperature;
  const k = (2 * Math.sinh(b2)) / Math.cosh(b2) ** 2;
  const t = Math.tanh(b2);
  // At T_c, K diverges (logarithmically) while 2·tanh²(2β) − 1 vanishes (linearly): the product
  // tends to 0, and u to −coth(2β_c) = −√2.
  const K = ellipticK(k);
  return -(1 / t) * (1 + (Number.isFinite(K) ? (2 / Math.PI) * (2 * t * t - 1) * K : 0));
}

/** K(k) = π / (2·AGM(1, √(1 − k²))); diverges (returns Infinity) at k = 1, i.e. at T_c. */
export function ellipticK(k: number): number {
  let a = 1;
  let g = Math.sqrt(Math.max(0, 1 - k * k));
  if (g === 0) return Number.POSITIVE_INFINITY;
  for (let i = 0; i < 64 && Math.abs(a - g) > 1e-16 * a; i++) {
    const next = (a + g) / 2;
    g = Math.sqrt(a * g);
    a = next;
  }
  return Math.PI / (2 * a);
}

/**
 * ln Z of the finite L×L periodic lattice (J = 1, no field) at temperature T, exactly, from
 * Kaufman's solution (B. Kaufman, Phys. Rev. 76, 1232 (1949); in the form of P. D. Beale,
 * Phys. Rev. Lett. 76, 78 (1996)):
 *
 *   Z = ½ (2 sinh 2K)^(N/2) (Z₁ + Z₂ + Z₃ + Z₄),   K = 1/T,  N = L²,
 *   Z₁ = Π_k 2 cosh(L γ_{2k+1}/2),  Z₂ = Π_k 2 sinh(L γ_{2k+1}/2),
 *   Z₃ = Π_k 2 cosh(L γ_{2k}/2),    Z₄ = Π_k 2 sinh(L γ_{2k}/2),    k = 0 … L − 1,
 *   cosh γ_l = cosh 2K · coth 2K − cos(π l / L),   γ₀ = 2K + ln tanh K (negative above T_c).
 *
 * The sum is taken in logarithms, so it neither overflows nor loses the small terms.
 */
export function exactLogPartition(L: number, temperature: number): number {
  const K = 1 / temperature;
  const base = Math.cosh(2 * K) / Math.tanh(2 * K);
  const gamma = (l: number) =>
    l === 0 ? 2 * K + Math.log(Math.tanh(K)) : Math.acosh(base - Math.cos((Math.PI * l) / L));
  // Each product as (sign, ln |product|); a sign of 0 is a product that vanished (a sinh
  // factor of γ₀ = 0, exactly at T_c).
  const products: { sign: number; log: number }[] = [];
  for (const [offset, useSinh] of [
    [1, false],
    [1, true],
    [0, false],
    [0, true],
  ] as const) {
    let sign = 1;
    let log = 0;
    for (let k = 0; k < L; k++) {
      const x = (L * gamma(2 * k + offset)) / 2;
      if (useSinh) {
        sign *= Math.sign(x);
        log += Math.LN2 + logSinh(Math.abs(x));
      } else {
        log += Math.LN2 + logCosh(x);
      }
    }
    if (sign !== 0) products.push({ sign, log });
  }
  const top = Math.max(...products.map((p) => p.log));
  let sum = 0;
  for (const { sign, log } of products) sum += sign * Math.exp(log - top);
  return Math.log(0.5) + ((L * L) / 2) * Math.log(2 * Math.sinh(2 * K)) + top + Math.log(sum);
}

const logCosh = (x: number): number => {
  const a = Math.abs(x);
  return a + Math.log1p(Math.exp(-2 * a)) - Math.LN2;
};
/** ln sinh(a) for a ≥ 0 (−∞ at 0). */
const logSinh = (a: number): number =>
  a === 0 ? Number.NEGATIVE_INFINITY : a + Math.log1p(-Math.exp(-2 * a)) - Math.LN2;

/**
 * Exact heat capacity per spin, in units of k_B, of the finite L×L periodic lattice:
 * C = K² ∂² ln Z / ∂K² / N, by a central difference of {@link exactLogPartition} in K.
 */
export function exactHeatCapacity(L: number, temperature: number): number {
  const K = 1 / temperature;
  const h = 1e-4 * K;
  const f = (k: number) => exactLogPartition(L, 1 / k);
  return ((K * K) / (L * L)) * ((f(K + h) - 2 * f(K) + f(K - h)) / (h * h));
}

/**
 * The temperature of the maximum of {@link exactHeatCapacity} on the L×L lattice: where the
 * peak of C of a simulation of that lattice should be, without statistical error. It lies
 * above T_c, by about 0.36·T_c/L for large L (Ferdinand and Fisher, 1969). Golden-section
 * search between T_c and 1.5·T_c, to 1e-6.
 */
export function exactHeatCapacityPeak(L: number): { temperature: number; heatCapacity: number } {
  const phi = (Math.sqrt(5) - 1) / 2;
  let a = ONSAGER_TC;
  let b = 1.5 * ONSAGER_TC;
  let x1 = b - phi * (b - a);
  let x2 = a + phi * (b - a);
  let f1 = exactHeatCapacity(L, x1);
  let f2 = exactHeatCapacity(L, x2);
  while (b - a > 1e-6) {
    if (f1 > f2) {
      b = x2;
      x2 = x1;
      f2 = f1;
      x1 = b - phi * (b - a);
      f1 = exactHeatCapacity(L, x1);
    } else {
      a = x1;
      x1 = x2;
      f1 = f2;
      x2 = a + phi * (b - a);
      f2 = exactHeatCapacity(L, x2);
    }
  }
  const temperature = (a + b) / 2;
  return { temperature, heatCapacity: exactHeatCapacity(L, temperature) };
}

/** A peak position with its statistical uncertainty, from {@link bootstrapPeak}. */
export interface PeakUncertainty {
  /** The refined peak of the data themselves ({@link parabolicPeak}). */
  readonly value: number;
  /** Standard deviation of the refined peak over the bootstrap samples. */
  readonly error: number;
  /** The 2.5 % and 97.5 % quantiles of the bootstrap samples: a 95 % interval. */
  readonly low: number;
  readonly high: number;
  readonly samples: number;
}

/**
 * The uncertainty of the peak position of `values ± errors` sampled at `xs` (a parametric
 * bootstrap): draws every value anew from a normal distribution with its mean and standard
 * error, refines the peak of each draw with {@link parabolicPeak}, and reports the spread of
 * the results. Values are drawn independently; when neighbouring points are positively
 * correlated (common random numbers), their differences are less noisy than that, so the
 * interval errs on the wide side.
 */
export function bootstrapPeak(
  xs: readonly number[],
  values: readonly number[],
  errors: readonly number[],
  options: { readonly samples?: number; readonly seed?: number } = {},
): PeakUncertainty {
  const samples = options.samples ?? 2000;
  if (errors.length !== values.length || !(samples >= 2)) {
    throw new UsageError(
      `bootstrapPeak needs one error per value and at least 2 samples, got ${values.length} values, ${errors.length} errors and ${samples} samples.`,
    );
  }
  const value = parabolicPeak(xs, values).refined;
  const normal = gaussian(Xoshiro128.fromSeed(options.seed ?? 1));
  const peaks = new Float64Array(samples);
  const draw = new Array<number>(values.length);
  for (let s = 0; s < samples; s++) {
    for (let i = 0; i < values.length; i++) draw[i] = values[i]! + errors[i]! * normal();
    peaks[s] = parabolicPeak(xs, draw).refined;
  }
  peaks.sort();
  let mean = 0;
  for (const p of peaks) mean += p;
  mean /= samples;
  let ss = 0;
  for (const p of peaks) ss += (p - mean) ** 2;
  const quantile = (q: number) => peaks[Math.min(samples - 1, Math.floor(q * samples))]!;
  return {
    value,
    error: Math.sqrt(ss / (samples - 1)),
    low: quantile(0.025),
    high: quantile(0.975),
    samples,
  };
}

/** Standard normal draws (Box–Muller) from a seeded stream. */
export function gaussian(rng: Xoshiro128): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const z = spare;
      spare = undefined;
      return z;
    }
    // 1 − u lies in (0, 1], so the logarithm is finite.
    const r = Math.sqrt(-2 * Math.log(1 - rng.nextDouble()));
    const angle = 2 * Math.PI * rng.nextDouble();
    spare = r * Math.sin(angle);
    return r * Math.cos(angle);
  };
}
