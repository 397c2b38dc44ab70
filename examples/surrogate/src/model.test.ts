import { describe, expect, it } from 'vitest';
import { fly } from './flight.js';
import { fitSurrogate, predict, termsOf } from './model.js';

const square = [
  { name: 'a', min: -2, max: 3 },
  { name: 'b', min: 0, max: 1 },
];

describe('termsOf', () => {
  it('lists every exponent pair of total degree ≤ d once: (d + 1)(d + 2)/2 of them', () => {
    const terms = termsOf(2, 3);
    expect(terms).toHaveLength(10);
    expect(new Set(terms.map((t) => t.join(','))).size).toBe(10);
    expect(terms[0]).toEqual([0, 0]);
    expect(terms.every(([i, j]) => i! + j! <= 3)).toBe(true);
  });
});

describe('fitSurrogate', () => {
  it('reproduces a polynomial of its own degree exactly, inside and outside the samples', () => {
    const f = (a: number, b: number) => 1 + 2 * a - 0.5 * b + a * a * b - 0.25 * b ** 3;
    const xs: number[][] = [];
    for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) xs.push([-2 + i, j / 5]);
    const model = fitSurrogate(
      xs,
      xs.map(([a, b]) => f(a!, b!)),
      { inputs: square, output: 'f', transform: 'none', degree: 3, lambda: 0 },
    );
    for (const [a, b] of [
      [0.3, 0.7],
      [-1.9, 0.05],
      [2.5, 0.99],
    ] as const) {
      expect(predict(model, [a, b])).toBeCloseTo(f(a, b), 10);
    }
  });

  it('fits the logarithm when asked, for outputs that vary by factors', () => {
    const f = (a: number, b: number) => Math.exp(0.3 * a - b * b);
    const xs: number[][] = [];
    for (let i = 0; i <= 10; i++) for (let j = 0; j <= 10; j++) xs.push([-2 + i / 2, j / 10]);
    const model = fitSurrogate(
      xs,
      xs.map(([a, b]) => f(a!, b!)),
      { inputs: square, output: 'f', transform: 'log', degree: 2, lambda: 0 },
    );
    expect(predict(model, [1.1, 0.4]) / f(1.1, 0.4)).toBeCloseTo(1, 12);
  });

  it('says what is missing when there are fewer points than coefficients', () => {
    expect(() =>
      fitSurrogate([[0, 0]], [1], {
        inputs: square,
        output: 'f',
        transform: 'none',
        degree: 2,
        lambda: 0,
      }),
    ).toThrow(
      expect.objectContaining({
        code: 'PHYS_USAGE',
        message: expect.stringMatching(/6 coefficients/),
      }),
    );
  });
});

describe('fly', () => {
  const launch = { speed: 40, mass: 0.145, g: 9.80665, dt: 1e-3 };

  // The landing point is placed on the chord of the last step, which is off by about g·dt²/8.
  it('lands at v²·sin 2θ / g in vacuum', () => {
    for (const angle of [20, 45, 70]) {
      const exact = (40 * 40 * Math.sin((2 * angle * Math.PI) / 180)) / 9.80665;
      expect(Math.abs(fly(angle, 0, launch).range - exact) / exact).toBeLessThan(1e-7);
    }
  });

  it('flies shorter with more drag, and its best angle drops below 45°', () => {
    const ranges = [0, 0.0005, 0.001, 0.002].map((k) => fly(45, k, launch).range);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]).toBeLessThan(ranges[i - 1]!);
    expect(fly(40, 0.002, launch).range).toBeGreaterThan(fly(45, 0.002, launch).range);
  });
});
