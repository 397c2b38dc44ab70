// The cheap physics the surrogate learns: the range of a projectile with quadratic air drag,
//
//   dx/dt = v,   dv/dt = g − (k/m)·|v|·v,
//
// launched from the ground at speed v₀ and angle θ, integrated by classical RK4 until it comes
// back down; the landing point is interpolated on the last step. Range(θ, k) has no closed form
// when k > 0, is smooth in both arguments, and costs a few thousand RK4 steps: the kind of
// function one replaces by a surrogate when an optimiser or an uncertainty study needs it a
// million times.

import { StageExecutionError } from '@phys/core';

/** The fixed part of a flight. */
export interface Launch {
  /** Launch speed (m/s). */
  readonly speed: number;
  /** Mass (kg). */
  readonly mass: number;
  /** Gravitational acceleration (m/s²). */
  readonly g: number;
  /** RK4 time step (s). */
  readonly dt: number;
}

/** Where and when it lands. */
export interface Landing {
  /** Horizontal distance from launch to landing (m). */
  readonly range: number;
  /** Time of flight (s). */
  readonly flightTime: number;
}

/** Flies one projectile at `angleDeg` with drag constant `dragK` (kg/m). */
export function fly(angleDeg: number, dragK: number, launch: Launch): Landing {
  const { mass, g, dt } = launch;
  const theta = (angleDeg * Math.PI) / 180;
  const c = dragK / mass;
  const ax = (vx: number, vy: number) => -c * Math.hypot(vx, vy) * vx;
  const ay = (vx: number, vy: number) => -g - c * Math.hypot(vx, vy) * vy;
  let t = 0;
  let x = 0;
  let y = 0;
  let vx = launch.speed * Math.cos(theta);
  let vy = launch.speed * Math.sin(theta);
  // Drag only shortens a flight: twice the vacuum flight time bounds the steps.
  const maxSteps = Math.ceil((4 * launch.speed) / g / dt) + 10;
  for (let step = 0; step < maxSteps; step++) {
    const k1x = ax(vx, vy);
    const k1y = ay(vx, vy);
    const v2x = vx + 0.5 * dt * k1x;
    const v2y = vy + 0.5 * dt * k1y;
    const k2x = ax(v2x, v2y);
    const k2y = ay(v2x, v2y);
    const v3x = vx + 0.5 * dt * k2x;
    const v3y = vy + 0.5 * dt * k2y;
    const k3x = ax(v3x, v3y);
    const k3y = ay(v3x, v3y);
    const v4x = vx + dt * k3x;
    const v4y = vy + dt * k3y;
    const k4x = ax(v4x, v4y);
    const k4y = ay(v4x, v4y);
    const nx = x + (dt / 6) * (vx + 2 * v2x + 2 * v3x + v4x);
    const ny = y + (dt / 6) * (vy + 2 * v2y + 2 * v3y + v4y);
    vx += (dt / 6) * (k1x + 2 * k2x + 2 * k3x + k4x);
    vy += (dt / 6) * (k1y + 2 * k2y + 2 * k3y + k4y);
    if (ny < 0 && step > 0) {
      const f = y / (y - ny);
      return { range: x + f * (nx - x), flightTime: t + f * dt };
    }
    t += dt;
    x = nx;
    y = ny;
  }
  throw new StageExecutionError(
    'surrogate/flight',
    `The projectile at ${angleDeg}° did not land within ${maxSteps} steps of ${dt} s; check speed, g and dt.`,
  );
}
