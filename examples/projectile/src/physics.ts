// Point-mass projectile with quadratic air drag in a uniform gravity field:
//
//   dx/dt = v,   dv/dt = g − (k/m)·|v|·v,   g = (0, −g)
//
// k = ½·ρ·C_d·A (kg/m) bundles air density, drag coefficient and cross-section. The functions
// here are pure so the tests can check them against closed-form answers without a pipeline.

/** Position and velocity at time `t` (SI units, y up, launch point at x = 0). */
export interface Body {
  readonly t: number;
  readonly x: number;
  readonly y: number;
  readonly vx: number;
  readonly vy: number;
}

/** Parameters of the equations of motion. */
export interface Medium {
  /** Gravitational acceleration (m/s²). */
  readonly g: number;
  /** Drag constant k = ½·ρ·C_d·A (kg/m); 0 is vacuum. */
  readonly k: number;
  /** Mass (kg). */
  readonly mass: number;
}

/** Sampled trajectory from launch to impact, one entry per integration step. */
export interface Samples {
  readonly t: Float64Array;
  readonly x: Float64Array;
  readonly y: Float64Array;
  readonly vx: Float64Array;
  readonly vy: Float64Array;
}

/** A finished flight: the samples (the last one is the interpolated impact point). */
export interface Flight {
  readonly samples: Samples;
  readonly impact: Body;
  readonly steps: number;
}

/** The body launched from height `height` with `speed` at `angleDeg` above the horizon. */
export function launchBody(speed: number, angleDeg: number, height = 0): Body {
  const theta = (angleDeg * Math.PI) / 180;
  // cos(90°) is 6e-17, not 0: snap it so a vertical launch stays exactly vertical.
  const vx = angleDeg === 90 ? 0 : speed * Math.cos(theta);
  return { t: 0, x: 0, y: height, vx, vy: speed * Math.sin(theta) };
}

/** Kinetic plus potential energy (J). */
export function energy(body: Pick<Body, 'y' | 'vx' | 'vy'>, medium: Medium): number {
  return (
    0.5 * medium.mass * (body.vx * body.vx + body.vy * body.vy) + medium.mass * medium.g * body.y
  );
}

/** One classical Runge–Kutta step of size `dt`. */
export function rk4Step(b: Body, dt: number, medium: Medium): Body {
  const c = medium.k / medium.mass;
  const g = medium.g;
  const ax = (vx: number, vy: number) => -c * Math.sqrt(vx * vx + vy * vy) * vx;
  const ay = (vx: number, vy: number) => -g - c * Math.sqrt(vx * vx + vy * vy) * vy;

  const k1vx = ax(b.vx, b.vy);
  const k1vy = ay(b.vx, b.vy);
  const v2x = b.vx + 0.5 * dt * k1vx;
  const v2y = b.vy + 0.5 * dt * k1vy;
  const k2vx = ax(v2x, v2y);
  const k2vy = ay(v2x, v2y);
  const v3x = b.vx + 0.5 * dt * k2vx;
  const v3y = b.vy + 0.5 * dt * k2vy;
  const k3vx = ax(v3x, v3y);
  const k3vy = ay(v3x, v3y);
  const v4x = b.vx + dt * k3vx;
  const v4y = b.vy + dt * k3vy;
  const k4vx = ax(v4x, v4y);
  const k4vy = ay(v4x, v4y);

  return {
    t: b.t + dt,
    // dx/dt = v, so the position increments are the velocity stages.
    x: b.x + (dt / 6) * (b.vx + 2 * v2x + 2 * v3x + v4x),
    y: b.y + (dt / 6) * (b.vy + 2 * v2y + 2 * v3y + v4y),
    vx: b.vx + (dt / 6) * (k1vx + 2 * k2vx + 2 * k3vx + k4vx),
    vy: b.vy + (dt / 6) * (k1vy + 2 * k2vy + 2 * k3vy + k4vy),
  };
}

/** Steps between two points where a long integration may be paused or stopped. */
export const STEPS_PER_SLICE = 4096;

/**
 * Integrates from `start` until the body comes back down to y = 0, and places the impact by
 * linear interpolation between the last sample above ground and the first one below it.
 * Yields after every {@link STEPS_PER_SLICE} steps (so a caller can give the event loop a turn
 * or stop), and returns the flight, or undefined when it has not landed after `maxSteps` steps.
 */
export function* flySlices(
  start: Body,
  dt: number,
  medium: Medium,
  maxSteps: number,
): Generator<number, Flight | undefined, void> {
  const t: number[] = [start.t];
  const x: number[] = [start.x];
  const y: number[] = [start.y];
  const vx: number[] = [start.vx];
  const vy: number[] = [start.vy];
  let body = start;
  for (let step = 1; step <= maxSteps; step++) {
    if (step % STEPS_PER_SLICE === 0) yield step;
    const next = rk4Step(body, dt, medium);
    if (next.y < 0) {
      // Fraction of the step at which y crosses zero on the chord between the two samples.
      const f = body.y / (body.y - next.y);
      const impact: Body = {
        t: body.t + f * dt,
        x: body.x + f * (next.x - body.x),
        y: 0,
        vx: body.vx + f * (next.vx - body.vx),
        vy: body.vy + f * (next.vy - body.vy),
      };
      t.push(impact.t);
      x.push(impact.x);
      y.push(0);
      vx.push(impact.vx);
      vy.push(impact.vy);
      return {
        samples: {
          t: Float64Array.from(t),
          x: Float64Array.from(x),
          y: Float64Array.from(y),
          vx: Float64Array.from(vx),
          vy: Float64Array.from(vy),
        },
        impact,
        steps: step,
      };
    }
    body = next;
    t.push(body.t);
    x.push(body.x);
    y.push(body.y);
    vx.push(body.vx);
    vy.push(body.vy);
  }
  return undefined;
}

/** {@link flySlices} run to the end in one go. */
export function fly(start: Body, dt: number, medium: Medium, maxSteps: number): Flight | undefined {
  const slices = flySlices(start, dt, medium, maxSteps);
  for (;;) {
    const next = slices.next();
    if (next.done === true) return next.value;
  }
}

/**
 * Height of the apex. The highest sample is refined by the vertex of the parabola through it
 * and its two neighbours, which is exact in vacuum (y is quadratic in t) and O(dt³) with drag.
 */
export function apexHeight(samples: Samples): number {
  const y = samples.y;
  let best = 0;
  for (let i = 1; i < y.length; i++) if (y[i]! > y[best]!) best = i;
  if (best === 0 || best === y.length - 1) return y[best]!;
  const t0 = samples.t[best - 1]!;
  const t1 = samples.t[best]!;
  const t2 = samples.t[best + 1]!;
  const y0 = y[best - 1]!;
  const y1 = y[best]!;
  const y2 = y[best + 1]!;
  // Newton form of the interpolating parabola: y = y0 + d1·(t−t0) + d2·(t−t0)(t−t1).
  const d1 = (y1 - y0) / (t1 - t0);
  const d2 = ((y2 - y1) / (t2 - t1) - d1) / (t2 - t0);
  if (d2 >= 0) return y1;
  const tv = (t0 + t1) / 2 - d1 / (2 * d2);
  return y0 + d1 * (tv - t0) + d2 * (tv - t0) * (tv - t1);
}

/** Largest relative change of the total energy along the samples, |E − E₀| / E₀. */
export function maxEnergyDrift(samples: Samples, medium: Medium): number {
  const e0 = energy({ y: samples.y[0]!, vx: samples.vx[0]!, vy: samples.vy[0]! }, medium);
  let worst = 0;
  // The last sample is interpolated, not integrated: it says nothing about the integrator.
  for (let i = 1; i < samples.t.length - 1; i++) {
    const e = energy({ y: samples.y[i]!, vx: samples.vx[i]!, vy: samples.vy[i]! }, medium);
    worst = Math.max(worst, Math.abs(e - e0) / e0);
  }
  return worst;
}

/**
 * The argmax of `values` over `angles`, refined by the vertex of the parabola through the best
 * point and its neighbours (the range is smooth in the angle near its maximum).
 */
export function bestAngle(
  angles: readonly number[],
  values: readonly number[],
): { angleDeg: number; refinedAngleDeg: number; value: number } {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  const angleDeg = angles[best]!;
  const value = values[best]!;
  if (best === 0 || best === values.length - 1)
    return { angleDeg, refinedAngleDeg: angleDeg, value };
  const a0 = angles[best - 1]!;
  const a1 = angleDeg;
  const a2 = angles[best + 1]!;
  const r0 = values[best - 1]!;
  const r1 = value;
  const r2 = values[best + 1]!;
  const d1 = (r1 - r0) / (a1 - a0);
  const d2 = ((r2 - r1) / (a2 - a1) - d1) / (a2 - a0);
  const refinedAngleDeg = d2 < 0 ? (a0 + a1) / 2 - d1 / (2 * d2) : angleDeg;
  return { angleDeg, refinedAngleDeg, value };
}
