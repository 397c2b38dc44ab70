// xoshiro128** (Blackman & Vigna, 2018): 128 bits of state, period 2^128 − 1, passes BigCrush,
// and needs only 32-bit integer arithmetic, which V8 does without allocating. Math.random cannot
// be seeded, and a Monte Carlo run that cannot be repeated cannot be cached or checked.

/** A seeded stream of uniform 32-bit integers and doubles. */
export class Xoshiro128 {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /**
   * A generator whose four state words come from `seed` through SplitMix32, so that nearby seeds
   * (1, 2, 3, ...) give unrelated streams and no seed gives the forbidden all-zero state.
   */
  static fromSeed(seed: number): Xoshiro128 {
    let x = seed >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    return new Xoshiro128([next(), next(), next(), next()]);
  }

  /** A generator with exactly this state (four 32-bit words, not all zero). */
  constructor(state: readonly [number, number, number, number]) {
    this.#a = state[0] >>> 0;
    this.#b = state[1] >>> 0;
    this.#c = state[2] >>> 0;
    this.#d = state[3] >>> 0;
    if ((this.#a | this.#b | this.#c | this.#d) === 0) this.#d = 1;
  }

  /** The next 32-bit output, as an unsigned integer in [0, 2^32). */
  nextUint32(): number {
    const b = this.#b;
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    this.#c ^= this.#a;
    this.#d ^= b;
    this.#b ^= this.#c;
    this.#a ^= this.#d;
    this.#c ^= t;
    this.#d = rotl(this.#d, 11);
    return result;
  }

  /** A double in [0, 1) with 32 random bits (ample for acceptance tests). */
  nextDouble(): number {
    return this.nextUint32() / 4294967296;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
