import { describe, expect, it } from 'vitest';
import { fitOrder, type HeatProblem, slope, solveHeat } from './heat.js';

const problem = (over: Partial<HeatProblem>): HeatProblem => ({
  scheme: 'ftcs',
  nx: 16,
  alpha: 1,
  tEnd: 0.125,
  r: 0.4,
  dtPerDx: 0.4,
  ...over,
});

describe('solveHeat', () => {
  // sin(πx) is an eigenvector of both schemes: every step multiplies it by the scheme's
  // amplification factor for that mode, so the discrete solution is known in closed form.
  it('FTCS multiplies sin(πx_j) by G = 1 − 4r·sin²(π·dx/2) each step', () => {
    const s = solveHeat(problem({ nx: 20 }));
    const g = 1 - 4 * s.r * Math.sin((Math.PI * s.dx) / 2) ** 2;
    for (let j = 0; j <= s.nx; j++) {
      expect(s.u[j]).toBeCloseTo(g ** s.steps * Math.sin(Math.PI * s.x[j]!), 13);
    }
    expect(s.u[0]).toBe(0);
    expect(s.u[s.nx]).toBe(0);
  });

  it('Crank–Nicolson multiplies it by (1 − 2r·σ)/(1 + 2r·σ), σ = sin²(π·dx/2)', () => {
    const s = solveHeat(problem({ scheme: 'crank-nicolson', nx: 20 }));
    const sigma = Math.sin((Math.PI * s.dx) / 2) ** 2;
    const g = (1 - 2 * s.r * sigma) / (1 + 2 * s.r * sigma);
    for (let j = 0; j <= s.nx; j++) {
      expect(s.u[j]).toBeCloseTo(g ** s.steps * Math.sin(Math.PI * s.x[j]!), 13);
    }
  });

  it('takes whole steps that land on tEnd, never exceeding the asked time step', () => {
    const f = solveHeat(problem({ nx: 16 }));
    expect(f.steps).toBe(80); // 0.125·16²/0.4
    expect(f.r).toBeCloseTo(0.4, 14);
    const c = solveHeat(problem({ scheme: 'crank-nicolson', nx: 16 }));
    expect(c.steps).toBe(5); // 0.125·16/0.4
    const odd = solveHeat(problem({ nx: 10, tEnd: 0.1, r: 0.45 }));
    expect(odd.steps * odd.dt).toBeCloseTo(0.1, 14);
    expect(odd.r).toBeLessThanOrEqual(0.45);
  });

  it('refuses an unstable FTCS step, r > 1/2', () => {
    expect(() => solveHeat(problem({ r: 0.6 }))).toThrow(
      expect.objectContaining({ code: 'PHYS_USAGE', message: expect.stringContaining('unstable') }),
    );
  });
});

describe('observed order of accuracy', () => {
  const study = (over: Partial<HeatProblem>) =>
    fitOrder([16, 32, 64, 128].map((nx) => solveHeat(problem({ ...over, nx }))));

  it('is 2 for FTCS with dt ∝ dx² and for Crank–Nicolson with dt ∝ dx', () => {
    for (const fit of [study({}), study({ scheme: 'crank-nicolson' })]) {
      expect(fit.orderL2).toBeCloseTo(2, 1);
      expect(fit.orderMax).toBeCloseTo(2, 1);
      for (const p of fit.pairwiseL2) expect(Math.abs(p - 2)).toBeLessThan(0.05);
    }
  });

  it('is 4 for FTCS at r = 1/6, where the leading time and space errors cancel', () => {
    const fit = study({ r: 1 / 6 });
    expect(Math.abs(fit.orderL2 - 4)).toBeLessThan(0.1);
  });

  it('fits a slope by least squares', () => {
    expect(slope([0, 1, 2, 3], [1, 3, 5, 7])).toBeCloseTo(2, 14);
    expect(() => slope([1], [1])).toThrow(expect.objectContaining({ code: 'PHYS_USAGE' }));
  });
});
