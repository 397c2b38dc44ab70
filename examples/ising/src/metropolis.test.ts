import { describe, expect, it } from 'vitest';
import { onsagerEnergy, onsagerMagnetization } from './critical.js';
import { IsingLattice, type IsingRun, simulate } from './metropolis.js';
import { Xoshiro128 } from './rng.js';

const run = (over: Partial<IsingRun>): IsingRun => ({
  L: 16,
  temperature: 2,
  thermalize: 500,
  sweeps: 5000,
  seed: 1,
  start: 'ordered',
  blocks: 20,
  ...over,
});

/**
 * Exact Boltzmann averages of a 4×4 periodic lattice by summing over all 2^16 configurations:
 * ⟨e⟩, ⟨|m|⟩ and C, the numbers a correct Metropolis chain must converge to.
 */
function exact4x4(T: number): { energy: number; absM: number; heatCapacity: number } {
  const L = 4;
  const N = 16;
  let z = 0;
  let sumE = 0;
  let sumE2 = 0;
  let sumM = 0;
  // Shift by the ground state energy so that the weights stay near 1.
  for (let bits = 0; bits < 1 << N; bits++) {
    const s = (i: number) => ((bits >> i) & 1 ? 1 : -1);
    let E = 0;
    let M = 0;
    for (let y = 0; y < L; y++) {
      for (let x = 0; x < L; x++) {
        const si = s(y * L + x);
        E -= si * (s(y * L + ((x + 1) % L)) + s(((y + 1) % L) * L + x));
        M += si;
      }
    }
    const w = Math.exp(-(E + 2 * N) / T);
    z += w;
    sumE += w * E;
    sumE2 += w * E * E;
    sumM += w * Math.abs(M);
  }
  const e = sumE / z;
  return {
    energy: e / N,
    absM: sumM / z / N,
    heatCapacity: (sumE2 / z - e * e) / (N * T * T),
  };
}

describe('IsingLattice', () => {
  it('keeps E and M equal to a full recount while it moves', () => {
    const lattice = new IsingLattice(8, 2.3, Xoshiro128.fromSeed(3), 'random');
    for (let k = 0; k < 50; k++) lattice.sweep();
    const { energy, magnetization } = lattice;
    lattice.recount();
    expect(energy).toBe(lattice.energy);
    expect(magnetization).toBe(lattice.magnetization);
    expect(lattice.attempted).toBe(50 * 64);
  });

  it('starts ordered at the ground state E = −2N, M = N', () => {
    const lattice = new IsingLattice(6, 1, Xoshiro128.fromSeed(1), 'ordered');
    expect(lattice.energy).toBe(-72);
    expect(lattice.magnetization).toBe(36);
  });

  it('refuses an odd lattice, which checkerboard updates cannot colour', () => {
    expect(() => new IsingLattice(5, 2, Xoshiro128.fromSeed(1), 'ordered')).toThrow(
      expect.objectContaining({ code: 'PHYS_USAGE', message: expect.stringContaining('even') }),
    );
  });
});

describe('simulate', () => {
  it.each([1.8, 2.5, 3.5])(
    'samples the Boltzmann distribution of a 4×4 lattice exactly (T = %s)',
    (T) => {
      const want = exact4x4(T);
      const got = simulate(
        run({ L: 4, temperature: T, thermalize: 1000, sweeps: 200_000, seed: 11 }),
      );
      // Five jackknife standard errors, plus a floor for the rare block-correlated estimate.
      expect(Math.abs(got.energy - want.energy)).toBeLessThan(5 * got.errors.energy + 1e-3);
      expect(Math.abs(got.absMagnetization - want.absM)).toBeLessThan(
        5 * got.errors.absMagnetization + 1e-3,
      );
      expect(Math.abs(got.heatCapacity - want.heatCapacity)).toBeLessThan(
        5 * got.errors.heatCapacity + 5e-3,
      );
    },
  );

  it("matches Onsager's infinite lattice far from T_c, where a 16×16 lattice is big enough", () => {
    const cold = simulate(run({ temperature: 1.6 }));
    expect(cold.absMagnetization).toBeCloseTo(onsagerMagnetization(1.6), 2);
    expect(cold.energy).toBeCloseTo(onsagerEnergy(1.6), 2);
    expect(cold.binder).toBeCloseTo(2 / 3, 2);
    const hot = simulate(run({ temperature: 3.2, start: 'random' }));
    expect(hot.energy).toBeCloseTo(onsagerEnergy(3.2), 2);
    expect(hot.absMagnetization).toBeLessThan(0.25);
    expect(hot.acceptance).toBeGreaterThan(cold.acceptance);
  });

  it('reports τ_int per run: about ½ far from T_c, tens of sweeps near it (critical slowing down)', () => {
    const hot = simulate(run({ temperature: 3.2, start: 'random', sweeps: 20_000 }));
    const near = simulate(run({ temperature: 2.3, sweeps: 20_000 }));
    expect(hot.autocorrelationTimes.energy).toBeLessThan(2);
    expect(hot.autocorrelationTimes.absMagnetization).toBeLessThan(3);
    expect(near.autocorrelationTimes.absMagnetization).toBeGreaterThan(
      5 * hot.autocorrelationTimes.absMagnetization,
    );
    // 20 blocks of 1000 sweeps span well over 10 τ_int at both temperatures.
    expect(hot.errorsReliable).toBe(true);
    expect(near.errorsReliable).toBe(true);
    // 20 blocks of 20 sweeps are no longer than τ_int of |m| near T_c: flagged, not hidden.
    const short = simulate(run({ temperature: 2.3, sweeps: 400 }));
    expect(short.errorsReliable).toBe(false);
  });

  it('is reproducible: the same seed gives identical numbers, another seed others', () => {
    const a = simulate(run({ L: 8, sweeps: 500, seed: 5 }));
    expect(simulate(run({ L: 8, sweeps: 500, seed: 5 }))).toEqual(a);
    expect(simulate(run({ L: 8, sweeps: 500, seed: 6 })).energy).not.toBe(a.energy);
  });
});
