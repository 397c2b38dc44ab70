// The heat equation on the unit interval with zero Dirichlet ends:
//
//   u_t = α u_xx,   0 < x < 1,   u(0, t) = u(1, t) = 0,   u(x, 0) = sin(πx)
//
// whose exact solution is u(x, t) = e^(−απ²t) sin(πx). Two finite-difference schemes on nx
// intervals (dx = 1/nx):
//
// - FTCS (forward Euler in time, centred second difference in space), explicit and stable for
//   r = α·dt/dx² ≤ 1/2. Its error is O(dt + dx²); with dt = r·dx²/α it is O(dx²). At r = 1/6 the
//   leading time and space errors cancel and the scheme is fourth order, a classic check.
// - Crank–Nicolson (the trapezoidal rule in time), unconditionally stable, O(dt² + dx²): with
//   dt ∝ dx it is second order too, with far fewer steps.

import { UsageError } from '@phys/core';

/** A time-stepping scheme. */
export type Scheme = 'ftcs' | 'crank-nicolson';

/** What one solve needs. */
export interface HeatProblem {
  readonly scheme: Scheme;
  /** Number of intervals; the grid has nx + 1 points, x_j = j/nx. */
  readonly nx: number;
  /** Diffusivity α. */
  readonly alpha: number;
  /** Final time. */
  readonly tEnd: number;
  /** FTCS: the time step is dt = r·dx²/α (rounded down so that whole steps reach tEnd). */
  readonly r: number;
  /** Crank–Nicolson: the time step is dt = dtPerDx·dx (rounded down likewise). */
  readonly dtPerDx: number;
}

/** A finished solve and its error against the exact solution at tEnd. */
export interface HeatSolution {
  readonly scheme: Scheme;
  readonly nx: number;
  readonly dx: number;
  readonly dt: number;
  readonly steps: number;
  /** The mesh ratio actually used, α·dt/dx². */
  readonly r: number;
  readonly x: Float64Array;
  readonly u: Float64Array;
  /** max_j |u_j − u(x_j, tEnd)|. */
  readonly errorMax: number;
  /** √(dx·Σ_j (u_j − u(x_j, tEnd))²), the discrete L2 norm. */
  readonly errorL2: number;
}

/** The exact solution e^(−απ²t)·sin(πx). */
export function exactSolution(x: number, t: number, alpha: number): number {
  return Math.exp(-alpha * Math.PI * Math.PI * t) * Math.sin(Math.PI * x);
}

/** Whole steps that reach `tEnd` with steps no longer than `dtMax`. */
function stepsFor(tEnd: number, dtMax: number): number {
  // 0.1·16²/0.4 is 64.00000000000001 in binary: do not let rounding add a step.
  return Math.max(1, Math.ceil(tEnd / dtMax - 1e-9));
}

/** Solves the problem and measures the error at tEnd. */
export function solveHeat(problem: HeatProblem): HeatSolution {
  const { scheme, nx, alpha, tEnd } = problem;
  if (!Number.isInteger(nx) || nx < 2) {
    throw new UsageError(`nx must be a whole number of intervals >= 2, got ${nx}.`);
  }
  const dx = 1 / nx;
  const dtMax = scheme === 'ftcs' ? (problem.r * dx * dx) / alpha : problem.dtPerDx * dx;
  const steps = stepsFor(tEnd, dtMax);
  const dt = tEnd / steps;
  const r = (alpha * dt) / (dx * dx);
  if (scheme === 'ftcs' && r > 0.5 + 1e-12) {
    throw new UsageError(
      `FTCS is unstable for r = α·dt/dx² = ${r} > 1/2; lower r (e.g. 0.4) or use crank-nicolson.`,
    );
  }
  const x = new Float64Array(nx + 1);
  let u: Float64Array = new Float64Array(nx + 1);
  for (let j = 0; j <= nx; j++) {
    x[j] = j * dx;
    u[j] = j === 0 || j === nx ? 0 : Math.sin(Math.PI * x[j]!);
  }
  if (scheme === 'ftcs') u = ftcs(u, r, steps);
  else crankNicolson(u, r, steps);

  let errorMax = 0;
  let sum = 0;
  for (let j = 1; j < nx; j++) {
    const e = u[j]! - exactSolution(x[j]!, tEnd, alpha);
    errorMax = Math.max(errorMax, Math.abs(e));
    sum += e * e;
  }
  return { scheme, nx, dx, dt, steps, r, x, u, errorMax, errorL2: Math.sqrt(dx * sum) };
}

/** `steps` explicit steps u_j ← u_j + r(u_{j−1} − 2u_j + u_{j+1}); the ends stay 0. */
function ftcs(start: Float64Array, r: number, steps: number): Float64Array {
  let u = start;
  let next: Float64Array = new Float64Array(u.length);
  const last = u.length - 1;
  for (let n = 0; n < steps; n++) {
    for (let j = 1; j < last; j++) next[j] = u[j]! + r * (u[j - 1]! - 2 * u[j]! + u[j + 1]!);
    [u, next] = [next, u];
  }
  return u;
}

/**
 * `steps` Crank–Nicolson steps, in place:
 * (1 + r)u_j^{n+1} − (r/2)(u_{j−1}^{n+1} + u_{j+1}^{n+1}) = (1 − r)u_j^n + (r/2)(u_{j−1}^n + u_{j+1}^n).
 * The tridiagonal matrix is the same every step, so its LU factors (Thomas algorithm) are
 * computed once.
 */
function crankNicolson(u: Float64Array, r: number, steps: number): void {
  const m = u.length - 2; // interior unknowns
  const a = -r / 2; // sub- and super-diagonal
  const b = 1 + r; // diagonal
  // Forward elimination factors: c'_i and the pivots.
  const cp = new Float64Array(m);
  const pivot = new Float64Array(m);
  pivot[0] = b;
  cp[0] = a / b;
  for (let i = 1; i < m; i++) {
    pivot[i] = b - a * cp[i - 1]!;
    cp[i] = a / pivot[i]!;
  }
  const rhs = new Float64Array(m);
  for (let n = 0; n < steps; n++) {
    for (let i = 0; i < m; i++) {
      const j = i + 1;
      rhs[i] = (1 - r) * u[j]! + (r / 2) * (u[j - 1]! + u[j + 1]!);
    }
    // Forward sweep, then back substitution; the boundary values are 0 and add nothing.
    rhs[0] = rhs[0]! / pivot[0]!;
    for (let i = 1; i < m; i++) rhs[i] = (rhs[i]! - a * rhs[i - 1]!) / pivot[i]!;
    for (let i = m - 2; i >= 0; i--) rhs[i] = rhs[i]! - cp[i]! * rhs[i + 1]!;
    for (let i = 0; i < m; i++) u[i + 1] = rhs[i]!;
  }
}

/** A convergence study of one scheme: errors by resolution and the fitted order. */
export interface ConvergenceFit {
  readonly scheme: Scheme;
  readonly nx: readonly number[];
  readonly errorMax: readonly number[];
  readonly errorL2: readonly number[];
  /** Least-squares slope of log(error) against log(dx), L2 norm. */
  readonly orderL2: number;
  /** The same in the max norm. */
  readonly orderMax: number;
  /** log2(e_k / e_{k+1}) between consecutive resolutions (L2), when nx doubles. */
  readonly pairwiseL2: readonly number[];
}

/** Least-squares slope of y against x. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2 || ys.length !== n) {
    throw new UsageError(
      `A slope needs at least two points and as many values as points, got ${n} and ${ys.length}.`,
    );
  }
  const mx = xs.reduce((s, v) => s + v, 0) / n;
  const my = ys.reduce((s, v) => s + v, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  return sxy / sxx;
}

/** Fits the observed order of one scheme from its solutions (any order of nx). */
export function fitOrder(solutions: readonly HeatSolution[]): ConvergenceFit {
  const sorted = [...solutions].sort((a, b) => a.nx - b.nx);
  const logDx = sorted.map((s) => Math.log(s.dx));
  const pairwiseL2: number[] = [];
  for (let k = 0; k + 1 < sorted.length; k++) {
    const coarse = sorted[k]!;
    const fine = sorted[k + 1]!;
    pairwiseL2.push(Math.log(coarse.errorL2 / fine.errorL2) / Math.log(coarse.dx / fine.dx));
  }
  return {
    scheme: sorted[0]!.scheme,
    nx: sorted.map((s) => s.nx),
    errorMax: sorted.map((s) => s.errorMax),
    errorL2: sorted.map((s) => s.errorL2),
    orderL2: slope(
      logDx,
      sorted.map((s) => Math.log(s.errorL2)),
    ),
    orderMax: slope(
      logDx,
      sorted.map((s) => Math.log(s.errorMax)),
    ),
    pairwiseL2,
  };
}
