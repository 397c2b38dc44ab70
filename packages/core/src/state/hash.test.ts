import { describe, expect, it } from 'vitest';
import { StateError } from '../errors.js';
import { DagState } from './dag-state.js';
import { hashDagInputs, hashState, hashStateBytes } from './hash.js';

function stateError(fn: () => unknown): StateError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(StateError);
    return error as StateError;
  }
  throw new Error('expected a StateError, but nothing was thrown');
}

describe('hashState', () => {
  it('returns a stable 64-character hex SHA-256 and the matching raw digest', () => {
    const h = hashState({ a: 1 });
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(hashState({ a: 1 })).toBe(h);
    expect(Buffer.from(hashStateBytes({ a: 1 })).toString('hex')).toBe(h);
    expect(hashStateBytes({ a: 1 })).toHaveLength(32);
  });

  it('ignores object key insertion order, at every depth', () => {
    const a = { x: 1, y: { p: [1, 2], q: 'z' }, z: null };
    const b = { z: null, y: { q: 'z', p: [1, 2] }, x: 1 };
    expect(hashState(a)).toBe(hashState(b));
    expect(hashState(Object.assign(Object.create(null), { y: 2, x: 1 }))).toBe(
      hashState({ x: 1, y: 2 }),
    );
  });

  it('ignores Map and Set insertion order, including object keys', () => {
    expect(
      hashState(
        new Map<unknown, unknown>([
          ['a', 1],
          [2, 'b'],
          [{ k: 1 }, [1]],
        ]),
      ),
    ).toBe(
      hashState(
        new Map<unknown, unknown>([
          [{ k: 1 }, [1]],
          [2, 'b'],
          ['a', 1],
        ]),
      ),
    );
    expect(hashState(new Set([1, 'x', 3n, { a: 1 }]))).toBe(
      hashState(new Set([{ a: 1 }, 3n, 'x', 1])),
    );
  });

  it('orders primitive Map keys and Set elements of mixed types canonically', () => {
    const keys: unknown[] = [
      'b',
      'a',
      2,
      -1,
      Number.NaN,
      0,
      10n,
      -3n,
      true,
      false,
      null,
      undefined,
    ];
    const reversed = [...keys].reverse();
    expect(hashState(new Map(keys.map((k, i) => [k, i])))).not.toBe(
      hashState(new Map(reversed.map((k, i) => [k, i]))),
    );
    expect(hashState(new Map(keys.map((k) => [k, String(k)])))).toBe(
      hashState(new Map(reversed.map((k) => [k, String(k)]))),
    );
    expect(hashState(new Set(keys))).toBe(hashState(new Set(reversed)));
    // A Set mixing objects and primitives takes the digest path and is still order-free.
    expect(hashState(new Set([...keys, [1]]))).toBe(hashState(new Set([[1], ...reversed])));
    expect(hashState(new Set([...keys, [1]]))).not.toBe(hashState(new Set([...keys, [2]])));
  });

  it('still tells different contents apart', () => {
    const distinct: unknown[] = [
      { a: 1 },
      { a: 2 },
      { a: undefined },
      {},
      [1, 2],
      [2, 1],
      ['ab'],
      ['a', 'b'],
      new Map([[1, 2]]),
      new Map([[2, 1]]),
      new Set([1, 2]),
      new Set([1]),
      [new Set([1, 2])],
      [[1, 2]],
      new Map([['a', 1]]),
      { a: 1, b: 2 },
      { ab: 1 },
      { a: 'b' },
      [],
      '',
      null,
      undefined,
      false,
      true,
      0,
    ];
    const hashes = distinct.map(hashState);
    expect(new Set(hashes).size).toBe(distinct.length);
  });

  it('distinguishes number, bigint and string, and -0, NaN and infinities', () => {
    const values: unknown[] = [1, 1n, '1', 0, -0, 0n, Number.NaN, Infinity, -Infinity, -1n, '-1'];
    expect(new Set(values.map(hashState)).size).toBe(values.length);
  });

  it('gives every NaN the same hash, including NaNs with other bit patterns', () => {
    const payloadNaN = new Float64Array(new BigUint64Array([0x7ff8_0000_0000_0001n]).buffer)[0];
    expect(payloadNaN).toBeNaN();
    expect(hashState(Number.NaN)).toBe(hashState(0 / 0));
    expect(hashState(payloadNaN)).toBe(hashState(Number.NaN));
    expect(hashState([Number.NaN])).toBe(hashState([Number.parseFloat('x')]));
  });

  it('hashes typed arrays by element type and raw bytes', () => {
    expect(hashState(new Float32Array([1, 2, 3]))).not.toBe(hashState(new Float64Array([1, 2, 3])));
    expect(hashState(new Int32Array([1]))).not.toBe(hashState([1]));
    expect(hashState(new Int32Array([1]))).not.toBe(hashState(new Uint32Array([1])));
    expect(hashState(new Uint8Array([1, 2]))).not.toBe(hashState(new Uint8ClampedArray([1, 2])));
    expect(hashState(new Uint8Array(8))).not.toBe(hashState(new Float64Array(1)));
    expect(hashState(new Uint8Array([1, 2, 3]))).not.toBe(hashState(new Uint8Array([1, 2, 4])));
    const bytes = new Uint8Array([1, 2, 3, 4]);
    expect(hashState(bytes)).not.toBe(hashState(bytes.buffer));
    expect(hashState(bytes)).not.toBe(hashState(new DataView(bytes.buffer)));
    expect(hashState(bytes.buffer)).not.toBe(hashState(new DataView(bytes.buffer)));
    expect(hashState(new BigInt64Array([1n, -1n]))).toBe(hashState(new BigInt64Array([1n, -1n])));
  });

  it('hashes a view by its contents, not by the buffer around it', () => {
    const big = new Float64Array([9, 1, 2, 3, 9]);
    expect(hashState(big.subarray(1, 4))).toBe(hashState(new Float64Array([1, 2, 3])));
    expect(hashState(new DataView(big.buffer, 8, 24))).toBe(
      hashState(new DataView(new Float64Array([1, 2, 3]).buffer)),
    );
    // A Buffer is a Uint8Array as far as state is concerned.
    expect(hashState(Buffer.from([1, 2, 3]))).toBe(hashState(new Uint8Array([1, 2, 3])));
  });

  it('detects one changed element in a 10,000,000-element Float64Array', () => {
    const n = 10_000_000;
    const a = new Float64Array(n);
    for (let i = 0; i < n; i++) a[i] = i * 0.5;
    const h = hashState(a);
    expect(hashState(a.slice())).toBe(h);
    a[7_654_321] = (a[7_654_321] as number) + 1e-9;
    expect(hashState(a)).not.toBe(h);
    a[7_654_321] = 7_654_321 * 0.5;
    expect(hashState(a)).toBe(h);
  });

  it('sees changes inside typed arrays nested in objects, arrays and Maps', () => {
    const make = (x: number) => ({
      fields: new Map([
        ['E', [new Float64Array([1, 2, x])]],
        ['B', [new Float64Array(3)]],
      ]),
      meta: { grid: new Int32Array([4, 4]) },
    });
    expect(hashState(make(3))).toBe(hashState(make(3)));
    expect(hashState(make(3))).not.toBe(hashState(make(4)));
    const f32 = { fields: new Map([['E', new Float32Array([1, 2, 3])]]) };
    const f64 = { fields: new Map([['E', new Float64Array([1, 2, 3])]]) };
    expect(hashState(f32)).not.toBe(hashState(f64));
  });

  it('hashes Dates by time value, bigints of any size and every kind of string', () => {
    expect(hashState(new Date(1000))).toBe(hashState(new Date(1000)));
    expect(hashState(new Date(1000))).not.toBe(hashState(new Date(1001)));
    expect(hashState(new Date(1000))).not.toBe(hashState(1000));
    expect(hashState(new Date(Number.NaN))).toBe(hashState(new Date('not a date')));
    expect(hashState(2n ** 200n)).not.toBe(hashState(2n ** 200n + 1n));
    expect(hashState(2n ** 200n)).not.toBe(hashState(-(2n ** 200n)));
    expect(hashState(0n)).not.toBe(hashState(-1n));
    // A lone surrogate must not collapse into U+FFFD, as a UTF-8 round trip would do.
    expect(hashState('\uD800')).not.toBe(hashState('\uFFFD'));
    expect(hashState('héllo wörld ✓')).toBe(hashState('héllo wörld ✓'));
    const long = 'é∑'.repeat(100_000);
    expect(hashState(long)).toBe(hashState(`${long}`));
    expect(hashState(long)).not.toBe(hashState(`${long}x`));
  });

  it('treats array holes as undefined and shared (non-cyclic) references as copies', () => {
    // biome-ignore lint/suspicious/noSparseArray: the hole is the point of the test
    expect(hashState([, 1])).toBe(hashState([undefined, 1]));
    const shared = { a: 1 };
    expect(hashState({ p: shared, q: shared })).toBe(hashState({ p: { a: 1 }, q: { a: 1 } }));
  });

  it('rejects unsupported values with the path and what to do', () => {
    const e = stateError(() => hashState({ fields: { E: [1, 2, 3, () => 0] } }));
    expect(e.code).toBe('PHYS_STATE_UNSUPPORTED');
    expect(e.message).toContain('state.fields.E[3]');
    expect(e.message).toContain('function');
    expect(e.message).toContain('registerStateCodec');

    class Particle {
      x = 1;
    }
    const cases: [unknown, string, string][] = [
      [{ s: Symbol('x') }, 'state.s', 'symbol'],
      [{ p: Promise.resolve(1) }, 'state.p', 'Promise'],
      [[new WeakMap()], 'state[0]', 'WeakMap'],
      [{ 'odd key': new Particle() }, 'state["odd key"]', 'class Particle'],
      [new Map([['k', () => 0]]), 'state.get("k")', 'function'],
      [new Set([1, new Number(2)]), 'state<Set element #1>', 'boxed Number'],
      [new Map([[new WeakSet(), 1]]), 'state<Map key #0>', 'WeakSet'],
      [{ sab: new SharedArrayBuffer(8) }, 'state.sab', 'SharedArrayBuffer'],
    ];
    for (const [value, path, what] of cases) {
      const err = stateError(() => hashState(value));
      expect(err.code).toBe('PHYS_STATE_UNSUPPORTED');
      expect(err.message).toContain(`${path} is`);
      expect(err.message).toContain(what);
    }
  });

  it('detects cycles and names both ends', () => {
    const a: Record<string, unknown> = { x: 1 };
    a.self = a;
    const e = stateError(() => hashState(a));
    expect(e.code).toBe('PHYS_STATE_UNSUPPORTED');
    expect(e.message).toContain('state.self refers back to state,');
    expect(e.message).toContain('cycle');

    const inner: unknown[] = [];
    const outer = { list: [1, { m: new Map([['back', inner]]) }] };
    inner.push(outer.list);
    expect(stateError(() => hashState(outer)).message).toContain(
      'state.list[1].m.get("back")[0] refers back to state.list',
    );

    // A cycle far below the root is reported where it closes, not somewhere down the loop.
    const root: Record<string, unknown> = {};
    let node = root;
    for (let i = 0; i < 50; i++) {
      const next: Record<string, unknown> = {};
      node.n = next;
      node = next;
    }
    node.back = (root.n as Record<string, unknown>).n;
    const deep = stateError(() => hashState(root));
    expect(deep.message).toMatch(/\.n\.back refers back to state\.n\.n,/);
  });

  it('reports values nested too deeply for the stack as a StateError', () => {
    let v: unknown[] = [];
    for (let i = 0; i < 100_000; i++) v = [v];
    const e = stateError(() => hashState(v));
    expect(e.code).toBe('PHYS_STATE_UNSUPPORTED');
    expect(e.message).toContain('nested too deeply');
  });

  it('can be called again after a failure', () => {
    stateError(() => hashState({ f: () => 0 }));
    expect(hashState({ a: 1 })).toBe(hashState({ a: 1 }));
  });
});

describe('hashDagInputs', () => {
  it('equals hashState of the DagState, from the inputs’ hashes alone', () => {
    const x = new Float64Array([1, 2, 3]);
    const y = { n: 1 };
    const dag = new DagState([
      ['solve', x],
      ['mesh', y],
    ]);
    expect(
      hashDagInputs([
        ['solve', hashState(x)],
        ['mesh', hashState(y)],
      ]),
    ).toBe(hashState(dag));
  });

  it('rejects malformed hashes and duplicate ids', () => {
    expect(stateError(() => hashDagInputs([['a', 'nope']])).message).toContain("parent 'a'");
    const h = hashState(1);
    expect(
      stateError(() =>
        hashDagInputs([
          ['a', h],
          ['a', h],
        ]),
      ).message,
    ).toContain('listed twice');
  });
});
