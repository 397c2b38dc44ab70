import { describe, expect, it } from 'vitest';
import {
  bootstrapPeak,
  ellipticK,
  exactHeatCapacity,
  exactHeatCapacityPeak,
  exactLogPartition,
  gaussian,
  onsagerEnergy,
  onsagerMagnetization,
  parabolicPeak,
} from './critical.js';
import { ONSAGER_TC } from './metropolis.js';
import { Xoshiro128 } from './rng.js';

/** ln Z and C per spin of the 4×4 periodic lattice, by summing over all 2^16 states. */
function enumerate4x4(T: number): { logZ: number; heatCapacity: number } {
  const L = 4;
  const N = 16;
  let z = 0;
  let sumE = 0;
  let sumE2 = 0;
  for (let bits = 0; bits < 1 << N; bits++) {
    const s = (i: number) => ((bits >> i) & 1 ? 1 : -1);
    let E = 0;
    for (let y = 0; y < L; y++) {
      for (let x = 0; x < L; x++) {
        E -= s(y * L + x) * (s(y * L + ((x + 1) % L)) + s(((y + 1) % L) * L + x));
      }
    }
    // Weights relative to the ground state E = −2N, so that they stay near 1.
    const w = Math.exp(-(E + 2 * N) / T);
    z += w;
    sumE += w * E;
    sumE2 += w * E * E;
  }
  const e = sumE / z;
  return { logZ: Math.log(z) + (2 * N) / T, heatCapacity: (sumE2 / z - e * e) / (N * T * T) };
}

describe('parabolicPeak', () => {
  it('recovers the vertex of a sampled parabola between grid points', () => {
    const xs = [1, 1.5, 2, 2.5, 3, 3.5];
    const ys = xs.map((x) => 4 - 3 * (x - 2.31) ** 2);
    const peak = parabolicPeak(xs, ys);
    expect(peak.at).toBe(2.5);
    expect(peak.refined).toBeCloseTo(2.31, 12);
    expect(peak.interior).toBe(true);
  });

  it('reports a peak at the edge of the scan as such, unrefined', () => {
    const peak = parabolicPeak([1, 2, 3], [1, 2, 3]);
    expect(peak).toEqual({ at: 3, value: 3, refined: 3, interior: false });
  });

  it('rejects values that do not match the grid', () => {
    expect(() => parabolicPeak([1, 2], [1])).toThrow(
      expect.objectContaining({ code: 'PHYS_USAGE' }),
    );
  });
});

describe("Onsager's exact results", () => {
  it('K(k) by the arithmetic–geometric mean', () => {
    expect(ellipticK(0)).toBeCloseTo(Math.PI / 2, 15);
    // K(1/√2) = Γ(1/4)² / (4√π).
    expect(ellipticK(Math.SQRT1_2)).toBeCloseTo(1.854074677301372, 14);
    expect(ellipticK(1)).toBe(Number.POSITIVE_INFINITY);
  });

  it('the energy per spin is −√2 at T_c, −2 when frozen and → 0 when hot', () => {
    expect(onsagerEnergy(ONSAGER_TC)).toBeCloseTo(-Math.SQRT2, 12);
    expect(onsagerEnergy(ONSAGER_TC * (1 - 1e-6))).toBeCloseTo(-Math.SQRT2, 4);
    expect(onsagerEnergy(ONSAGER_TC * (1 + 1e-6))).toBeCloseTo(-Math.SQRT2, 4);
    expect(onsagerEnergy(0.2)).toBeCloseTo(-2, 12);
    expect(Math.abs(onsagerEnergy(1000))).toBeLessThan(0.01);
  });

  it('the spontaneous magnetisation is 1 when frozen and vanishes at T_c', () => {
    expect(onsagerMagnetization(0.25)).toBeCloseTo(1, 12);
    expect(onsagerMagnetization(ONSAGER_TC * 0.999)).toBeGreaterThan(0);
    expect(onsagerMagnetization(ONSAGER_TC * 1.001)).toBe(0);
    // Near T_c, m ∝ (T_c − T)^(1/8): halving the distance scales m by 2^(−1/8).
    const ratio =
      onsagerMagnetization(ONSAGER_TC * (1 - 1e-6)) / onsagerMagnetization(ONSAGER_TC * (1 - 2e-6));
    expect(ratio).toBeCloseTo(2 ** -0.125, 5);
  });
});

describe("Kaufman's exact solution of the finite lattice", () => {
  it.each([1, 1.8, ONSAGER_TC, 2.5, 3.5, 10])(
    'gives ln Z and C of the 4×4 lattice as the sum over all 2^16 states does (T = %s)',
    (T) => {
      const want = enumerate4x4(T);
      expect(exactLogPartition(4, T)).toBeCloseTo(want.logZ, 10);
      // C by a central difference in K: about 1e-6 relative.
      expect(exactHeatCapacity(4, T) / want.heatCapacity).toBeCloseTo(1, 5);
    },
  );

  it('tends to Onsager’s infinite lattice: the energy of a 256×256 lattice', () => {
    const L = 256;
    for (const T of [1.6, 2, 2.5, 3.2]) {
      const K = 1 / T;
      const h = 1e-5;
      // u = −∂ ln Z / ∂K / N.
      const u =
        -(exactLogPartition(L, 1 / (K + h)) - exactLogPartition(L, 1 / (K - h))) / (2 * h) / L ** 2;
      expect(u).toBeCloseTo(onsagerEnergy(T), 7);
    }
  });

  it('puts the peak of C above T_c, closer with L, by 0.3603·T_c/L for large L (Ferdinand–Fisher)', () => {
    const shifts = [8, 16, 32, 64, 128].map((L) => {
      const peak = exactHeatCapacityPeak(L);
      expect(peak.heatCapacity).toBeCloseTo(exactHeatCapacity(L, peak.temperature), 12);
      return (peak.temperature / ONSAGER_TC - 1) * L;
    });
    // (T_max/T_c − 1)·L: 0.33, 0.34, 0.35, 0.354, 0.357, approaching 0.3603 from below.
    for (let k = 1; k < shifts.length; k++) expect(shifts[k]).toBeGreaterThan(shifts[k - 1]!);
    expect(shifts[shifts.length - 1]).toBeGreaterThan(0.35);
    expect(shifts[shifts.length - 1]).toBeLessThan(0.3603);
    expect(exactHeatCapacityPeak(32).temperature).toBeCloseTo(2.2939, 4);
  });
});

describe('bootstrapPeak', () => {
  // The scan of the tests (L = 16, T = 1.6 … 3.2 in steps of 0.1), with exact values of C.
  const xs = Array.from({ length: 17 }, (_, k) => Number((1.6 + k / 10).toFixed(1)));
  const truth = xs.map((T) => exactHeatCapacity(16, T));
  const errors = truth.map((c) => 0.02 * c);
  const exactPeak = exactHeatCapacityPeak(16).temperature;

  it('has no spread without errors, and is reproducible for a seed', () => {
    const zero = bootstrapPeak(
      xs,
      truth,
      xs.map(() => 0),
    );
    expect(zero).toMatchObject({ low: zero.value, high: zero.value });
    expect(zero.error).toBeLessThan(1e-12);
    expect(zero.value).toBe(parabolicPeak(xs, truth).refined);
    expect(bootstrapPeak(xs, truth, errors, { seed: 4 })).toEqual(
      bootstrapPeak(xs, truth, errors, { seed: 4 }),
    );
  });

  it('gives 95 % intervals that contain the exact peak in 95 % of simulated scans', () => {
    // 400 scans with independent normal errors of 2 % around the exact C: the share of intervals
    // that contain the exact peak estimates the coverage with a standard deviation of about
    // √(0.95·0.05/400) ≈ 1.1 %. The spread of the estimates themselves is the true error, which
    // the bootstrap's standard deviations should match (each from one scan, so they scatter).
    const noise = gaussian(Xoshiro128.fromSeed(7));
    const estimates: number[] = [];
    const spreads: number[] = [];
    let covered = 0;
    const scans = 400;
    for (let r = 0; r < scans; r++) {
      const values = truth.map((c, i) => c + errors[i]! * noise());
      const peak = bootstrapPeak(xs, values, errors, { samples: 400, seed: r + 1 });
      estimates.push(peak.value);
      spreads.push(peak.error);
      if (peak.low <= exactPeak && exactPeak <= peak.high) covered++;
    }
    expect(covered / scans).toBeGreaterThan(0.9);
    expect(covered / scans).toBeLessThan(0.99);
    const mean = estimates.reduce((s, v) => s + v, 0) / scans;
    const trueSpread = Math.sqrt(estimates.reduce((s, v) => s + (v - mean) ** 2, 0) / (scans - 1));
    const typical = spreads.sort((a, b) => a - b)[scans / 2]!;
    expect(typical / trueSpread).toBeGreaterThan(0.75);
    expect(typical / trueSpread).toBeLessThan(1.33);
  });

  it('rejects errors that do not match the values', () => {
    expect(() => bootstrapPeak(xs, truth, [0.1])).toThrow(
      expect.objectContaining({ code: 'PHYS_USAGE' }),
    );
  });
});
