// Error analysis of a Monte Carlo time series. Successive measurements of a Markov chain are
// correlated, so the naive standard error σ/√N of a mean is too small by √(2τ_int), where
//
//   τ_int = ½ + Σ_{t≥1} ρ(t)          (ρ: the normalised autocorrelation function)
//
// is the integrated autocorrelation time, in units of the spacing of the series (here: sweeps).
// N/(2τ_int) is the number of effectively independent measurements. Three standard tools:
//
// - the autocorrelation function with Sokal's automatic window gives τ_int directly;
// - binning (blocking) averages the series in bins of 1, 2, 4, ... measurements: once a bin is
//   much longer than τ_int, the bin means are independent and the naive error of their mean
//   reaches a plateau, the true error;
// - the jackknife carries the errors of such bins through non-linear functions of averages
//   (C and χ are variances, not averages).
//
// References: A. D. Sokal, "Monte Carlo methods in statistical mechanics" (Cargèse lectures,
// 1996); H. Flyvbjerg and H. G. Petersen, J. Chem. Phys. 91, 461 (1989); B. Efron, "The
// jackknife, the bootstrap and other resampling plans" (1982).

import { UsageError } from '@phys/core';

/** The integrated autocorrelation time of a series, and how it was estimated. */
export interface AutocorrelationTime {
  /** τ_int = ½ + Σ_{t=1}^{W} ρ(t), in units of the series' spacing (½ for independent data). */
  readonly tau: number;
  /** The summation window W: the smallest W with W ≥ c·τ_int(W) (Sokal). */
  readonly window: number;
  /** False when no window up to N/4 satisfied the rule: the series is too short for its τ_int. */
  readonly converged: boolean;
  /** Standard error of the mean, √(2τ_int·var/N). */
  readonly errorOfMean: number;
}

/**
 * τ_int of `series` from its autocorrelation function (computed by FFT, so O(N log N)), summed
 * up to Sokal's self-consistent window W ≥ c·τ_int(W). `c` = 6 keeps the truncation bias below
 * e^(−6) ≈ 0.25 % for an exponentially decaying ρ; the statistical error of τ_int is then about
 * τ_int·√(2(2W + 1)/N) (Madras and Sokal, 1988).
 */
export function autocorrelationTime(
  series: ArrayLike<number>,
  options: { readonly c?: number } = {},
): AutocorrelationTime {
  const c = options.c ?? 6;
  const n = series.length;
  if (n < 2) {
    throw new UsageError(
      `autocorrelationTime needs at least 2 measurements, got ${n}; measure more sweeps.`,
    );
  }
  const rho = autocorrelation(series, Math.floor(n / 4));
  const variance = rho.variance;
  if (variance === 0) return { tau: 0.5, window: 0, converged: true, errorOfMean: 0 };
  let tau = 0.5;
  let window = 0;
  let converged = false;
  for (let t = 1; t < rho.values.length; t++) {
    tau += rho.values[t]!;
    window = t;
    if (t >= c * tau) {
      converged = true;
      break;
    }
  }
  // A noisy ρ can sum below ½ for nearly independent data; τ_int ≥ ½ by its definition there.
  tau = Math.max(tau, 0.5);
  return { tau, window, converged, errorOfMean: Math.sqrt((2 * tau * variance) / n) };
}

/**
 * The normalised autocorrelation function ρ(0..maxLag) of `series` (ρ(0) = 1) and its variance
 * (divided by N). Computed as |FFT|² of the zero-padded, mean-free series.
 */
export function autocorrelation(
  series: ArrayLike<number>,
  maxLag: number,
): { readonly values: Float64Array; readonly variance: number } {
  const n = series.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += series[i]!;
  mean /= n;
  let size = 1;
  while (size < 2 * n) size *= 2;
  const re = new Float64Array(size);
  const im = new Float64Array(size);
  for (let i = 0; i < n; i++) re[i] = series[i]! - mean;
  fft(re, im, false);
  for (let k = 0; k < size; k++) {
    re[k] = re[k]! * re[k]! + im[k]! * im[k]!;
    im[k] = 0;
  }
  fft(re, im, true);
  // re[t] is now Σ_i x_i x_{i+t} (zero padding keeps the sum from wrapping around).
  const c0 = re[0]!;
  const lags = Math.min(maxLag, n - 1);
  const values = new Float64Array(lags + 1);
  for (let t = 0; t <= lags; t++) values[t] = c0 === 0 ? (t === 0 ? 1 : 0) : re[t]! / c0;
  return { values, variance: c0 / n };
}

/** One level of a binning analysis. */
export interface BinningLevel {
  /** Measurements per bin (1, 2, 4, ...). */
  readonly binSize: number;
  /** Number of bins (a last, incomplete bin is dropped). */
  readonly bins: number;
  /** Naive standard error of the mean of the bin means: √(var(bin means)/(bins − 1)·…). */
  readonly error: number;
}

/** The result of {@link binningAnalysis}. */
export interface Binning {
  /** Every level with at least `minBins` bins, bin sizes doubling. */
  readonly levels: readonly BinningLevel[];
  /** The error of the mean at the last level: the plateau when bins are much longer than τ_int. */
  readonly error: number;
  /** τ_int = ½·(error / naive error)², from the same two numbers. */
  readonly tau: number;
}

/**
 * Binning analysis of the mean of `series` (Flyvbjerg and Petersen): bins of 1, 2, 4, ...
 * measurements while at least `minBins` (default 32) bins remain. With B bins the error
 * estimate of a level has a relative statistical error of about 1/√(2(B − 1)).
 */
export function binningAnalysis(
  series: ArrayLike<number>,
  options: { readonly minBins?: number } = {},
): Binning {
  const minBins = options.minBins ?? 32;
  if (!(minBins >= 2) || series.length < minBins) {
    throw new UsageError(
      `binningAnalysis needs at least minBins (${minBins}, at least 2) measurements, got ${series.length}.`,
    );
  }
  let values = Float64Array.from(series as ArrayLike<number>);
  let binSize = 1;
  const levels: BinningLevel[] = [];
  while (values.length >= minBins) {
    levels.push({ binSize, bins: values.length, error: standardError(values) });
    const half = new Float64Array(values.length >> 1);
    for (let i = 0; i < half.length; i++) half[i] = (values[2 * i]! + values[2 * i + 1]!) / 2;
    values = half;
    binSize *= 2;
  }
  const naive = levels[0]!.error;
  const error = levels[levels.length - 1]!.error;
  return { levels, error, tau: naive === 0 ? 0.5 : 0.5 * (error / naive) ** 2 };
}

/** The standard error of the mean of independent values: s/√n with the (n − 1) variance. */
export function standardError(values: ArrayLike<number>): number {
  const n = values.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += values[i]!;
  mean /= n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (values[i]! - mean) ** 2;
  return Math.sqrt(ss / (n - 1) / n);
}

/** A jackknife estimate: the full-sample value, its standard error and its bias estimate. */
export interface Jackknife {
  readonly value: number;
  readonly error: number;
  /** (B − 1)·(mean of the leave-one-out values − value); subtract it to remove O(1/N) bias. */
  readonly bias: number;
}

/**
 * The jackknife over `blocks` blocks: `estimate(drop)` computes the quantity from every block
 * but `drop` (and from all blocks for `drop = -1`). The error is
 * √((B − 1)/B · Σ_b (θ_b − θ̄)²); for a plain mean it equals the standard error of the block
 * means. Blocks must be much longer than τ_int for their means to be independent.
 */
export function jackknife(blocks: number, estimate: (drop: number) => number): Jackknife {
  if (!Number.isInteger(blocks) || blocks < 2) {
    throw new UsageError(`The jackknife needs at least 2 blocks, got ${blocks}.`);
  }
  const value = estimate(-1);
  const partial = Array.from({ length: blocks }, (_, b) => estimate(b));
  const mean = partial.reduce((s, v) => s + v, 0) / blocks;
  let ss = 0;
  for (const v of partial) ss += (v - mean) ** 2;
  return {
    value,
    error: Math.sqrt(((blocks - 1) / blocks) * ss),
    bias: (blocks - 1) * (mean - value),
  };
}

/** In-place iterative radix-2 FFT of (re, im); the inverse includes the 1/n. */
function fft(re: Float64Array, im: Float64Array, inverse: boolean): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const angle = ((inverse ? 2 : -2) * Math.PI) / len;
    const wr = Math.cos(angle);
    const wi = Math.sin(angle);
    for (let i = 0; i < n; i += len) {
      let cr = 1;
      let ci = 0;
      for (let k = 0; k < len / 2; k++) {
        const a = i + k;
        const b = a + len / 2;
        const tr = re[b]! * cr - im[b]! * ci;
        const ti = re[b]! * ci + im[b]! * cr;
        re[b] = re[a]! - tr;
        im[b] = im[a]! - ti;
        re[a] = re[a]! + tr;
        im[a] = im[a]! + ti;
        const nr = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = nr;
      }
    }
  }
  if (inverse) {
    for (let i = 0; i < n; i++) {
      re[i] = re[i]! / n;
      im[i] = im[i]! / n;
    }
  }
}
