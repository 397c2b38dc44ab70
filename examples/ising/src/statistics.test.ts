// The error analysis against series whose answers are known. Every series is drawn from a
// seeded stream, so each test is deterministic; the tolerances are still chosen as several
// standard deviations of the estimator, so that they would hold for almost any seed.
import { describe, expect, it } from 'vitest';
import { gaussian } from './critical.js';
import { Xoshiro128 } from './rng.js';
import { autocorrelationTime, binningAnalysis, jackknife, standardError } from './statistics.js';

const normals = (n: number, seed: number, sigma = 1): Float64Array => {
  const next = gaussian(Xoshiro128.fromSeed(seed));
  return Float64Array.from({ length: n }, () => sigma * next());
};

/**
 * An AR(1) process x_t = φ·x_{t−1} + ε_t with unit normal ε, started in its stationary
 * distribution. Its autocorrelation is ρ(t) = φ^t, so τ_int = ½ + Σ_{t≥1} φ^t = (1 + φ)/(2(1 − φ)),
 * and its variance is 1/(1 − φ²).
 */
function ar1(n: number, phi: number, seed: number): Float64Array {
  const eps = normals(n, seed);
  const x = new Float64Array(n);
  x[0] = eps[0]! / Math.sqrt(1 - phi * phi);
  for (let t = 1; t < n; t++) x[t] = phi * x[t - 1]! + eps[t]!;
  return x;
}

describe('binningAnalysis', () => {
  it('gives σ/√N at every level for independent Gaussian data, and τ_int ≈ ½', () => {
    const n = 1 << 16;
    const sigma = 2;
    const { levels, error, tau } = binningAnalysis(normals(n, 7, sigma), { minBins: 64 });
    const exact = sigma / Math.sqrt(n);
    expect(levels.map((l) => l.binSize)).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]);
    for (const { bins, error: e } of levels) {
      // An error estimated from B bins has a relative standard deviation of 1/√(2(B − 1)).
      expect(Math.abs(e / exact - 1)).toBeLessThan(4 / Math.sqrt(2 * (bins - 1)));
    }
    expect(Math.abs(error / exact - 1)).toBeLessThan(4 / Math.sqrt(2 * 63));
    // τ = ½(error/naive)², so its relative spread is twice the error's.
    expect(Math.abs(tau / 0.5 - 1)).toBeLessThan(8 / Math.sqrt(2 * 63));
  });

  it('rises to the true error √(2τ_int·var/N) of a correlated series, where the naive one is too small', () => {
    const n = 1 << 18;
    const phi = 0.9;
    const tauExact = (1 + phi) / (2 * (1 - phi)); // 9.5
    const exact = Math.sqrt((2 * tauExact) / (1 - phi * phi) / n);
    const { levels, error, tau } = binningAnalysis(ar1(n, phi, 3), { minBins: 128 });
    // The naive error (bins of one) is short by √(2τ_int) ≈ 4.4.
    expect(levels[0]!.error / exact).toBeCloseTo(1 / Math.sqrt(2 * tauExact), 1);
    // The last level has ≥ 128 bins of 2048 ≫ τ_int: relative spread 1/√254 ≈ 6 %; 4σ.
    const last = levels[levels.length - 1]!;
    expect(last.bins).toBeGreaterThanOrEqual(128);
    expect(Math.abs(error / exact - 1)).toBeLessThan(0.25);
    expect(Math.abs(tau / tauExact - 1)).toBeLessThan(0.5);
  });
});

describe('autocorrelationTime', () => {
  it('finds τ_int = (1 + φ)/(2(1 − φ)) of an AR(1) series', () => {
    for (const [phi, seed] of [
      [0.5, 1],
      [0.9, 2],
      [0.97, 3],
    ] as const) {
      const n = 1 << 18;
      const tauExact = (1 + phi) / (2 * (1 - phi));
      const got = autocorrelationTime(ar1(n, phi, seed));
      expect(got.converged).toBe(true);
      // Madras–Sokal: the relative standard deviation of τ_int is √(2(2W + 1)/N), here 1–5 %.
      const sd = Math.sqrt((2 * (2 * got.window + 1)) / n);
      expect(Math.abs(got.tau / tauExact - 1)).toBeLessThan(5 * sd);
      // The window is a few τ_int long: c = 6 by default.
      expect(got.window).toBeGreaterThanOrEqual(6 * got.tau - 1);
      // The error of the mean, √(2τ_int·var/N): half τ_int's relative spread plus the
      // variance's, √(4τ_int/N).
      const exactError = Math.sqrt((2 * tauExact) / (1 - phi * phi) / n);
      const errorSd = sd / 2 + Math.sqrt((4 * tauExact) / n);
      expect(Math.abs(got.errorOfMean / exactError - 1)).toBeLessThan(5 * errorSd);
    }
  });

  it('gives ½ for independent data, and says so when the series is too short for its τ', () => {
    const independent = autocorrelationTime(normals(1 << 14, 5));
    expect(independent.converged).toBe(true);
    expect(Math.abs(independent.tau - 0.5)).toBeLessThan(0.1);
    // 400 measurements of a process with τ_int ≈ 200: no window up to N/4 = 100 satisfies W ≥ 6τ.
    const tooShort = autocorrelationTime(ar1(400, 0.995, 9));
    expect(tooShort.converged).toBe(false);
    expect(autocorrelationTime([1, 1, 1, 1]).tau).toBe(0.5);
  });
});

describe('jackknife', () => {
  const values = Array.from(normals(50, 11, 3));
  const meanWithout = (drop: number) => {
    const kept = values.filter((_, i) => i !== drop);
    return kept.reduce((s, v) => s + v, 0) / kept.length;
  };

  it('of the mean equals the standard error s/√n, with no bias', () => {
    const j = jackknife(values.length, meanWithout);
    expect(j.value).toBeCloseTo(values.reduce((s, v) => s + v, 0) / values.length, 12);
    expect(j.error).toBeCloseTo(standardError(values), 12);
    expect(j.bias).toBeCloseTo(0, 12);
  });

  it('finds the bias −s²/n of the plug-in variance Σ(x − x̄)²/n', () => {
    const n = values.length;
    const variance = (drop: number) => {
      const kept = values.filter((_, i) => i !== drop);
      const mean = kept.reduce((s, v) => s + v, 0) / kept.length;
      return kept.reduce((s, v) => s + (v - mean) ** 2, 0) / kept.length;
    };
    const s2 = variance(-1) * (n / (n - 1));
    const j = jackknife(n, variance);
    expect(j.bias).toBeCloseTo(-s2 / n, 12);
    expect(j.value - j.bias).toBeCloseTo(s2, 12);
  });

  it('needs two blocks', () => {
    expect(() => jackknife(1, () => 0)).toThrow(expect.objectContaining({ code: 'PHYS_USAGE' }));
  });
});
