// The 2D Ising model on an L×L square lattice with periodic boundaries, J = 1, no field, k_B = 1:
//
//   E = −Σ_<ij> s_i s_j        s_i = ±1,   N = L² spins,   T_c = 2 / ln(1 + √2) ≈ 2.269185
//
// updated by single-spin Metropolis moves in checkerboard order: all sites of one colour, then
// all of the other. Sites of one colour have no bond between them, so a half-sweep is a set of
// independent moves and the order inside it does not matter (it is also the order a GPU or SIMD
// version would use). Checkerboard needs an even L: with an odd L the periodic lattice is not
// bipartite.

import { UsageError } from '@phys/core';
import { Xoshiro128 } from './rng.js';
import { autocorrelationTime, jackknife } from './statistics.js';

/** How one simulation runs. */
export interface IsingRun {
  /** Side of the lattice (even, ≥ 4). */
  readonly L: number;
  readonly temperature: number;
  /** Sweeps discarded before measuring (one sweep = one attempted flip per spin). */
  readonly thermalize: number;
  /** Sweeps measured, one measurement after each. */
  readonly sweeps: number;
  /** Seed of the random stream. */
  readonly seed: number;
  /** `ordered`: every spin up; `random`: a coin per spin (drawn from the same stream). */
  readonly start: 'ordered' | 'random';
  /** Blocks the measurements are grouped into for the jackknife errors of C, χ and U₄. */
  readonly blocks: number;
}

/** Averages of one simulation; per-spin quantities unless said otherwise. */
export interface IsingMeasurement {
  readonly L: number;
  readonly temperature: number;
  readonly sweeps: number;
  /** ⟨|m|⟩, m = M/N. */
  readonly absMagnetization: number;
  /** ⟨e⟩, e = E/N. */
  readonly energy: number;
  /** C = (⟨E²⟩ − ⟨E⟩²) / (N T²). */
  readonly heatCapacity: number;
  /** χ = N (⟨m²⟩ − ⟨|m|⟩²) / T, the finite-lattice susceptibility. */
  readonly susceptibility: number;
  /** U₄ = 1 − ⟨m⁴⟩ / (3⟨m²⟩²): 2/3 when ordered, → 0 when disordered. */
  readonly binder: number;
  /** Fraction of attempted flips that were accepted. */
  readonly acceptance: number;
  /**
   * Standard errors (one σ). ⟨|m|⟩ and ⟨e⟩: √(2τ_int·var/n) from their autocorrelation times;
   * C, χ and U₄: jackknife over the blocks.
   */
  readonly errors: {
    readonly absMagnetization: number;
    readonly energy: number;
    readonly heatCapacity: number;
    readonly susceptibility: number;
    readonly binder: number;
  };
  /**
   * Integrated autocorrelation times of the measured series, in sweeps: ½ for independent
   * measurements; `sweeps / (2τ_int)` measurements are effectively independent.
   */
  readonly autocorrelationTimes: {
    readonly absMagnetization: number;
    readonly energy: number;
  };
  /**
   * Whether the error bars can be trusted: both τ_int windows converged and a block is at least
   * {@link MIN_BLOCK_OVER_TAU} autocorrelation times long (else its means are not independent
   * and the jackknife errors come out too small). Measure more sweeps, or use fewer blocks.
   */
  readonly errorsReliable: boolean;
}

/** How many τ_int a jackknife block must span for {@link IsingMeasurement.errorsReliable}. */
export const MIN_BLOCK_OVER_TAU = 10;

/** The exact critical temperature of the infinite square lattice (Onsager, 1944). */
export const ONSAGER_TC = 2 / Math.log(1 + Math.SQRT2);

/** A lattice of spins with its energy and magnetisation kept up to date by every move. */
export class IsingLattice {
  readonly L: number;
  readonly N: number;
  readonly spins: Int8Array;
  /** Total energy E = −Σ_<ij> s_i s_j. */
  energy: number;
  /** Total magnetisation M = Σ s_i. */
  magnetization: number;
  /** Moves accepted and attempted since the start. */
  accepted = 0;
  attempted = 0;
  readonly #rng: Xoshiro128;
  // Acceptance thresholds on a uint32 draw, indexed by (s_i·Σneighbours + 4) / 2: the moves that
  // raise the energy by 4 and 8 are accepted with e^(−4/T) and e^(−8/T); the others always.
  readonly #threshold = new Float64Array(5);

  constructor(L: number, temperature: number, rng: Xoshiro128, start: 'ordered' | 'random') {
    if (!Number.isInteger(L) || L < 4 || L % 2 !== 0) {
      throw new UsageError(
        `L must be an even whole number >= 4 for checkerboard updates, got ${L}; pick an even L such as 16 or 32.`,
      );
    }
    this.L = L;
    this.N = L * L;
    this.#rng = rng;
    this.spins = new Int8Array(this.N).fill(1);
    if (start === 'random') {
      for (let i = 0; i < this.N; i++) this.spins[i] = rng.nextUint32() < 2147483648 ? 1 : -1;
    }
    this.energy = 0;
    this.magnetization = 0;
    this.recount();
    this.setTemperature(temperature);
  }

  /** Changes the temperature of later moves (the spins are kept). */
  setTemperature(temperature: number): void {
    if (!(temperature > 0) || !Number.isFinite(temperature)) {
      throw new UsageError(
        `The temperature must be a positive finite number (in units of J/k_B), got ${temperature}.`,
      );
    }
    const t = this.#threshold;
    t[0] = t[1] = t[2] = Number.POSITIVE_INFINITY;
    t[3] = Math.exp(-4 / temperature) * 4294967296;
    t[4] = Math.exp(-8 / temperature) * 4294967296;
  }

  /** Recomputes E and M from the spins (they are otherwise updated move by move). */
  recount(): void {
    const { L, spins } = this;
    let e = 0;
    let m = 0;
    for (let y = 0; y < L; y++) {
      const row = y * L;
      const down = ((y + 1) % L) * L;
      for (let x = 0; x < L; x++) {
        const s = spins[row + x]!;
        // Each bond once: to the right and below.
        e -= s * (spins[row + ((x + 1) % L)]! + spins[down + x]!);
        m += s;
      }
    }
    this.energy = e;
    this.magnetization = m;
  }

  /** One sweep: a Metropolis move at every site, even sites (x + y even) first. */
  sweep(): void {
    this.#halfSweep(0);
    this.#halfSweep(1);
  }

  #halfSweep(parity: 0 | 1): void {
    const { L, spins } = this;
    const rng = this.#rng;
    const threshold = this.#threshold;
    let dE = 0;
    let dM = 0;
    let accepted = 0;
    for (let y = 0; y < L; y++) {
      const row = y * L;
      const up = (y === 0 ? L - 1 : y - 1) * L;
      const down = (y === L - 1 ? 0 : y + 1) * L;
      for (let x = (y + parity) & 1; x < L; x += 2) {
        const i = row + x;
        const s = spins[i]!;
        const sum =
          spins[up + x]! +
          spins[down + x]! +
          spins[row + (x === 0 ? L - 1 : x - 1)]! +
          spins[row + (x === L - 1 ? 0 : x + 1)]!;
        const k = (s * sum + 4) >> 1;
        // Moves that lower or keep the energy need no draw.
        if (k <= 2 || rng.nextUint32() < threshold[k]!) {
          spins[i] = -s;
          dE += 2 * s * sum;
          dM -= 2 * s;
          accepted++;
        }
      }
    }
    this.energy += dE;
    this.magnetization += dM;
    this.accepted += accepted;
    this.attempted += this.N >> 1;
  }
}

/** Sweeps between two points where a long simulation hands control back to its caller. */
export const SWEEPS_PER_SLICE = 256;

/**
 * Runs one simulation: thermalises, then measures after every sweep. Yields the number of sweeps
 * done every {@link SWEEPS_PER_SLICE} sweeps, so that a caller can give the event loop a turn or
 * stop, and returns the averages.
 */
export function* simulateSlices(run: IsingRun): Generator<number, IsingMeasurement, void> {
  const { L, temperature, thermalize, sweeps, blocks } = run;
  if (!Number.isInteger(sweeps) || sweeps < blocks || blocks < 2) {
    throw new UsageError(
      `Need blocks >= 2 and at least one measured sweep per block, got ${sweeps} sweeps and ${blocks} blocks; raise sweeps or lower blocks.`,
    );
  }
  const lattice = new IsingLattice(L, temperature, Xoshiro128.fromSeed(run.seed), run.start);
  const N = lattice.N;
  let done = 0;
  for (let s = 0; s < thermalize; s++) {
    lattice.sweep();
    if (++done % SWEEPS_PER_SLICE === 0) yield done;
  }
  const acceptedBefore = lattice.accepted;
  const attemptedBefore = lattice.attempted;

  // The time series of e and |m|, for their autocorrelation times, and per-block sums of e, e²,
  // |m|, m², m⁴ for the jackknife. Energies are summed as deviations from the first
  // measurement, so ⟨e²⟩ − ⟨e⟩² does not lose its digits to cancellation.
  const energies = new Float64Array(sweeps);
  const magnetizations = new Float64Array(sweeps);
  const count = new Float64Array(blocks);
  const se = new Float64Array(blocks);
  const se2 = new Float64Array(blocks);
  const sm = new Float64Array(blocks);
  const sm2 = new Float64Array(blocks);
  const sm4 = new Float64Array(blocks);
  let e0 = Number.NaN;
  for (let s = 0; s < sweeps; s++) {
    lattice.sweep();
    const e = lattice.energy / N;
    if (s === 0) e0 = e;
    const de = e - e0;
    const m = Math.abs(lattice.magnetization) / N;
    energies[s] = e;
    magnetizations[s] = m;
    const m2 = m * m;
    const b = Math.floor((s * blocks) / sweeps);
    count[b]!++;
    se[b]! += de;
    se2[b]! += de * de;
    sm[b]! += m;
    sm2[b]! += m2;
    sm4[b]! += m2 * m2;
    if (++done % SWEEPS_PER_SLICE === 0) yield done;
  }

  const T = temperature;
  const estimate = (drop: number) => {
    let n = 0;
    let e = 0;
    let e2 = 0;
    let am = 0;
    let m2 = 0;
    let m4 = 0;
    for (let b = 0; b < blocks; b++) {
      if (b === drop) continue;
      n += count[b]!;
      e += se[b]!;
      e2 += se2[b]!;
      am += sm[b]!;
      m2 += sm2[b]!;
      m4 += sm4[b]!;
    }
    e /= n;
    e2 /= n;
    am /= n;
    m2 /= n;
    m4 /= n;
    return {
      energy: e0 + e,
      heatCapacity: (N * (e2 - e * e)) / (T * T),
      absMagnetization: am,
      susceptibility: (N * (m2 - am * am)) / T,
      binder: 1 - m4 / (3 * m2 * m2),
    };
  };
  const all = estimate(-1);
  const jack = (key: 'heatCapacity' | 'susceptibility' | 'binder') =>
    jackknife(blocks, (drop) => estimate(drop)[key]).error;
  const tauE = autocorrelationTime(energies);
  const tauM = autocorrelationTime(magnetizations);
  const blockLength = sweeps / blocks;
  return {
    L,
    temperature: T,
    sweeps,
    ...all,
    acceptance: (lattice.accepted - acceptedBefore) / (lattice.attempted - attemptedBefore),
    errors: {
      absMagnetization: tauM.errorOfMean,
      energy: tauE.errorOfMean,
      heatCapacity: jack('heatCapacity'),
      susceptibility: jack('susceptibility'),
      binder: jack('binder'),
    },
    autocorrelationTimes: { absMagnetization: tauM.tau, energy: tauE.tau },
    errorsReliable:
      tauE.converged &&
      tauM.converged &&
      blockLength >= MIN_BLOCK_OVER_TAU * Math.max(tauE.tau, tauM.tau),
  };
}

/** {@link simulateSlices} run to the end in one go. */
export function simulate(run: IsingRun): IsingMeasurement {
  const slices = simulateSlices(run);
  for (;;) {
    const next = slices.next();
    if (next.done === true) return next.value;
  }
}
