import { describe, expect, it } from 'vitest';
import { ellipticK, onsagerEnergy, onsagerMagnetization, parabolicPeak } from './critical.js';
import { ONSAGER_TC } from './metropolis.js';

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
