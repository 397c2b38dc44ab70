import { PhysError } from '@phys/core';
import { SequentialPipeline } from '@phys/runtime';
import { describe, expect, it } from 'vitest';
import {
  apexHeight,
  bestAngle,
  energy,
  fly,
  launchBody,
  type Medium,
  maxEnergyDrift,
} from '../src/physics.js';
import { Integrate, Launch, STANDARD_GRAVITY } from '../src/stages.js';

const g = STANDARD_GRAVITY;
const vacuum: Medium = { g, k: 0, mass: 1 };
// A baseball in sea-level air (see phys.config.ts).
const baseball: Medium = { g, k: 0.5 * 1.2 * 0.35 * Math.PI * 0.037 ** 2, mass: 0.145 };

function flight(speed: number, angleDeg: number, medium: Medium, dt = 1e-3) {
  const result = fly(launchBody(speed, angleDeg), dt, medium, 10_000_000);
  if (result === undefined) throw new Error('did not land');
  return result;
}

function relative(actual: number, expected: number): number {
  return Math.abs(actual - expected) / Math.abs(expected);
}

describe('projectile in vacuum (k = 0) against the closed form', () => {
  for (const angleDeg of [15, 30, 45, 60, 75]) {
    it(`θ = ${angleDeg}°: range v²·sin2θ/g, time 2v·sinθ/g, apex (v·sinθ)²/2g, impact speed v`, () => {
      const v = 30;
      const theta = (angleDeg * Math.PI) / 180;
      const f = flight(v, angleDeg, vacuum);
      expect(relative(f.impact.x, (v * v * Math.sin(2 * theta)) / g)).toBeLessThan(1e-6);
      expect(relative(f.impact.t, (2 * v * Math.sin(theta)) / g)).toBeLessThan(1e-6);
      expect(relative(apexHeight(f.samples), (v * Math.sin(theta)) ** 2 / (2 * g))).toBeLessThan(
        1e-9,
      );
      expect(relative(Math.hypot(f.impact.vx, f.impact.vy), v)).toBeLessThan(1e-6);
    });
  }

  it('conserves energy along the whole trajectory', () => {
    const f = flight(50, 40, vacuum, 1e-2);
    expect(f.samples.t.length).toBeGreaterThan(100);
    expect(maxEnergyDrift(f.samples, vacuum)).toBeLessThan(1e-12);
  });

  it('45° gives the longest range', () => {
    const angles = [35, 40, 45, 50, 55];
    const ranges = angles.map((a) => flight(30, a, vacuum).impact.x);
    const best = bestAngle(angles, ranges);
    expect(best.angleDeg).toBe(45);
    // Range ∝ sin 2θ is symmetric about 45°, so the parabola through 40/45/50 peaks there.
    expect(best.refinedAngleDeg).toBeCloseTo(45, 4);
  });
});

describe('projectile with quadratic drag', () => {
  it('flies less far and less high than in vacuum, and lands slower', () => {
    const air = flight(45, 35, baseball);
    const none = flight(45, 35, vacuum);
    expect(air.impact.x).toBeLessThan(0.8 * none.impact.x);
    expect(apexHeight(air.samples)).toBeLessThan(apexHeight(none.samples));
    expect(Math.hypot(air.impact.vx, air.impact.vy)).toBeLessThan(45);
  });

  it('loses energy at every step, never gains it', () => {
    const f = flight(45, 35, baseball);
    for (let i = 1; i < f.samples.t.length; i++) {
      const before = energy(
        { y: f.samples.y[i - 1]!, vx: f.samples.vx[i - 1]!, vy: f.samples.vy[i - 1]! },
        baseball,
      );
      const after = energy(
        { y: f.samples.y[i]!, vx: f.samples.vx[i]!, vy: f.samples.vy[i]! },
        baseball,
      );
      expect(after).toBeLessThan(before);
    }
  });

  it('converges as dt → 0: halving dt shrinks the change in range', () => {
    const r = [4e-2, 2e-2, 1e-2, 5e-3].map((dt) => flight(45, 35, baseball, dt).impact.x);
    const d1 = Math.abs(r[0]! - r[1]!);
    const d2 = Math.abs(r[1]! - r[2]!);
    const d3 = Math.abs(r[2]! - r[3]!);
    expect(d2).toBeLessThan(d1);
    expect(d3).toBeLessThan(d2);
    // The landing interpolation is second order: each halving cuts the change about 4×.
    expect(d3).toBeLessThan(d2 / 3);
    expect(relative(r[3]!, flight(45, 35, baseball, 1e-4).impact.x)).toBeLessThan(1e-5);
  });

  it('matches the closed-form apex of a vertical launch: (m/2k)·ln(1 + k·v²/(m·g))', () => {
    const v = 40;
    const f = flight(v, 90, baseball);
    const { k, mass } = baseball;
    const apex = (mass / (2 * k)) * Math.log(1 + (k * v * v) / (mass * g));
    expect(relative(apexHeight(f.samples), apex)).toBeLessThan(1e-8);
    expect(f.impact.x).toBe(0);
    // It comes down slower than it went up: below the terminal speed √(m·g/k).
    expect(Math.abs(f.impact.vy)).toBeLessThan(Math.sqrt((mass * g) / k));
  });

  it('has its longest range below 45°', () => {
    const angles = [30, 33, 36, 39, 42, 45, 48];
    const best = bestAngle(
      angles,
      angles.map((a) => flight(45, a, baseball).impact.x),
    );
    expect(best.angleDeg).toBeLessThan(45);
    expect(best.refinedAngleDeg).toBeLessThan(45);
    expect(best.refinedAngleDeg).toBeGreaterThan(30);
  });
});

describe('stage configs', () => {
  it('rejects an unknown key with its path instead of dropping it', () => {
    let error: unknown;
    try {
      Integrate({ dT: 0.01 } as never);
    } catch (e) {
      error = e;
    }
    expect(PhysError.is(error)).toBe(true);
    expect((error as PhysError).code).toBe('PHYS_STAGE_CONFIG_INVALID');
    expect((error as Error).message).toContain('dT');
  });

  it('reports every invalid value at once', () => {
    expect(() => Launch({ speed: -1, angleDeg: 120 })).toThrowError(/speed[\s\S]*angleDeg/);
  });

  it('applies defaults and freezes the config', () => {
    const stage = Integrate({ k: 0.01 });
    expect(stage.config).toEqual({ dt: 1e-3, k: 0.01, mass: 1, g, maxSteps: 10_000_000 });
    expect(Object.isFrozen(stage.config)).toBe(true);
  });

  it('fails the stage when the projectile does not land within maxSteps', async () => {
    const pipeline = new SequentialPipeline([
      Launch({ speed: 30, angleDeg: 45 }),
      Integrate({ dt: 1e-3, maxSteps: 100 }),
    ]);
    await expect(pipeline.run({})).rejects.toMatchObject({
      code: 'PHYS_STAGE_FAILED',
      message: expect.stringMatching(/did not land within maxSteps=100/),
    });
  });

  it('stops a long integration when the run is cancelled', async () => {
    const controller = new AbortController();
    // 1 km/s straight up with dt = 0.1 ms: two million steps if nothing stops it.
    const pipeline = new SequentialPipeline([
      Launch({ speed: 1000, angleDeg: 90 }),
      Integrate({ dt: 1e-4 }),
    ]);
    const run = pipeline.run(
      {},
      {
        signal: controller.signal,
        hooks: [
          {
            onStepStart: (e) => {
              if (e.step === 'projectile/integrate') setImmediate(() => controller.abort());
            },
          },
        ],
      },
    );
    await expect(run).rejects.toMatchObject({
      code: 'PHYS_CANCELLED',
      message: expect.stringMatching(/projectile\/integrate was cancelled at step \d+/),
    });
  });
});
