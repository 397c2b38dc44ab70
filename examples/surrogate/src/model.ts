// A polynomial surrogate fitted by ridge regression. Inputs are mapped to [−1, 1] and expanded
// in products of Legendre polynomials P_i(a)·P_j(b) of total degree i + j ≤ d. Legendre rather
// than plain powers because they are nearly orthogonal on the square: the normal equations stay
// well conditioned at degree 8 where the monomial Gram matrix would lose most of its digits. The
// fit solves (ΦᵀΦ + λ·n·I) w = Φᵀy by Cholesky; λ only guards against rank deficiency.

import { UsageError } from '@phys/core';

/** One input of the model and the box it was trained on. */
export interface ModelInput {
  readonly name: string;
  readonly min: number;
  readonly max: number;
}

/** A trained model: everything needed to predict, as plain JSON. */
export interface PolynomialSurrogate {
  readonly format: 'phys-example-surrogate/1';
  readonly kind: 'legendre-ridge';
  readonly inputs: readonly ModelInput[];
  readonly output: string;
  /**
   * `log`: the polynomial models ln(output), and predictions are exponentiated (for positive
   * outputs that vary by factors, like a range under drag); `none`: the output itself.
   */
  readonly transform: 'none' | 'log';
  readonly degree: number;
  readonly lambda: number;
  /** Legendre degree of each input, per term. */
  readonly terms: readonly (readonly number[])[];
  readonly coefficients: readonly number[];
}

/** Every exponent tuple of `dims` inputs with total degree ≤ `degree`, lowest degree first. */
export function termsOf(dims: number, degree: number): number[][] {
  const out: number[][] = [];
  for (let total = 0; total <= degree; total++) {
    const build = (prefix: number[], left: number) => {
      if (prefix.length === dims - 1) {
        out.push([...prefix, left]);
        return;
      }
      for (let i = left; i >= 0; i--) build([...prefix, i], left - i);
    };
    build([], total);
  }
  return out;
}

/** P_0(a) … P_n(a) by Bonnet's recurrence (n + 1)P_{n+1} = (2n + 1)·a·P_n − n·P_{n−1}. */
function legendre(a: number, n: number, out: Float64Array): void {
  out[0] = 1;
  if (n >= 1) out[1] = a;
  for (let k = 1; k < n; k++) out[k + 1] = ((2 * k + 1) * a * out[k]! - k * out[k - 1]!) / (k + 1);
}

/** The feature row of one input point. */
function features(
  x: readonly number[],
  inputs: readonly ModelInput[],
  degree: number,
  terms: readonly (readonly number[])[],
): Float64Array {
  const polys = inputs.map((input, d) => {
    const a = (2 * (x[d]! - input.min)) / (input.max - input.min) - 1;
    const p = new Float64Array(degree + 1);
    legendre(a, degree, p);
    return p;
  });
  const row = new Float64Array(terms.length);
  terms.forEach((term, t) => {
    let v = 1;
    for (let d = 0; d < term.length; d++) v *= polys[d]![term[d]!]!;
    row[t] = v;
  });
  return row;
}

/** What {@link fitSurrogate} needs besides the data. */
export interface FitOptions {
  readonly inputs: readonly ModelInput[];
  readonly output: string;
  readonly transform: 'none' | 'log';
  readonly degree: number;
  readonly lambda: number;
}

/** Fits the model to points `xs` (one array of input values each) and targets `ys`. */
export function fitSurrogate(
  xs: readonly (readonly number[])[],
  ys: readonly number[],
  options: FitOptions,
): PolynomialSurrogate {
  const { inputs, degree, lambda, transform } = options;
  const terms = termsOf(inputs.length, degree);
  const p = terms.length;
  const n = xs.length;
  if (n !== ys.length || n < p) {
    throw new UsageError(
      `A degree-${degree} surrogate of ${inputs.length} inputs has ${p} coefficients and needs at least as many points with one target each; got ${n} points and ${ys.length} targets. Sample more points or lower the degree.`,
    );
  }
  // Normal equations A w = b with A = ΦᵀΦ + λ·n·I (symmetric positive definite), b = Φᵀy.
  const A = new Float64Array(p * p);
  const b = new Float64Array(p);
  for (let i = 0; i < n; i++) {
    const row = features(xs[i]!, inputs, degree, terms);
    const target = ys[i]!;
    if (transform === 'log' && !(target > 0)) {
      throw new UsageError(
        `A log-transformed surrogate needs positive targets; point ${i} has ${target}. Use transform 'none'.`,
      );
    }
    const y = transform === 'log' ? Math.log(target) : target;
    for (let r = 0; r < p; r++) {
      const fr = row[r]!;
      b[r]! += fr * y;
      for (let c = 0; c <= r; c++) A[r * p + c]! += fr * row[c]!;
    }
  }
  for (let r = 0; r < p; r++) A[r * p + r]! += lambda * n;
  const w = choleskySolve(A, b, p);
  return {
    format: 'phys-example-surrogate/1',
    kind: 'legendre-ridge',
    inputs: inputs.map((i) => ({ name: i.name, min: i.min, max: i.max })),
    output: options.output,
    transform,
    degree,
    lambda,
    terms,
    coefficients: Array.from(w),
  };
}

/** Solves A x = b for symmetric positive definite A (lower triangle used), in place. */
function choleskySolve(A: Float64Array, b: Float64Array, p: number): Float64Array {
  for (let j = 0; j < p; j++) {
    let d = A[j * p + j]!;
    for (let k = 0; k < j; k++) d -= A[j * p + k]! ** 2;
    if (!(d > 0)) {
      throw new UsageError(
        'The normal equations are singular: the points do not determine the surrogate. Sample more distinct points, lower the degree, or raise lambda.',
      );
    }
    const ljj = Math.sqrt(d);
    A[j * p + j] = ljj;
    for (let i = j + 1; i < p; i++) {
      let s = A[i * p + j]!;
      for (let k = 0; k < j; k++) s -= A[i * p + k]! * A[j * p + k]!;
      A[i * p + j] = s / ljj;
    }
  }
  const x = new Float64Array(b);
  for (let i = 0; i < p; i++) {
    let s = x[i]!;
    for (let k = 0; k < i; k++) s -= A[i * p + k]! * x[k]!;
    x[i] = s / A[i * p + i]!;
  }
  for (let i = p - 1; i >= 0; i--) {
    let s = x[i]!;
    for (let k = i + 1; k < p; k++) s -= A[k * p + i]! * x[k]!;
    x[i] = s / A[i * p + i]!;
  }
  return x;
}

/**
 * Predicts at one point. Deterministic: the same model and point give the same bits, whether the
 * model came from the run, from `state.bin` or from `model.json`.
 */
export function predict(model: PolynomialSurrogate, x: readonly number[]): number {
  if (x.length !== model.inputs.length) {
    throw new UsageError(
      `The surrogate takes ${model.inputs.length} inputs (${model.inputs.map((i) => i.name).join(', ')}), got ${x.length}.`,
    );
  }
  const row = features(x, model.inputs, model.degree, model.terms);
  let y = 0;
  for (let t = 0; t < row.length; t++) y += row[t]! * model.coefficients[t]!;
  return model.transform === 'log' ? Math.exp(y) : y;
}
