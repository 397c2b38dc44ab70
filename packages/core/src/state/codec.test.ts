import { describe, expect, it } from 'vitest';
import { PhysError, StateError } from '../errors.js';
import { decodeState, encodeState } from './codec.js';
import { hashState } from './hash.js';

function stateError(fn: () => unknown): StateError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(StateError);
    return error as StateError;
  }
  throw new Error('expected a StateError, but nothing was thrown');
}

function roundTrip<T>(value: T): T {
  return decodeState(encodeState(value)) as T;
}

/** Deterministic PRNG so a failing fuzz case can be reproduced. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function mixedValue() {
  return {
    name: 'run-42',
    unicode: 'héllo ✓ 𝔸',
    lone: 'a\uD800b',
    empty: '',
    long: 'x'.repeat(70_000),
    numbers: [0, -0, 1, -1, 2 ** 31, -(2 ** 31), 2 ** 53, 0.1, Number.NaN, Infinity, -Infinity],
    big: [0n, 1n, -1n, 2n ** 64n, -(2n ** 130n) + 7n],
    flags: [true, false, null, undefined],
    // biome-ignore lint/suspicious/noSparseArray: holes must come back as undefined
    holes: [1, , 3],
    when: new Date(1_700_000_000_123),
    invalidDate: new Date(Number.NaN),
    nested: { a: { b: { c: [{ d: 'deep' }] } } },
    fields: new Map<unknown, unknown>([
      ['E', new Float64Array([1.5, -0, Number.NaN])],
      [3, new Float32Array([1, 2])],
      [{ key: 'object' }, new Set(['z', 'a', 'm'])],
    ]),
    typed: [
      new Int8Array([-1, 2]),
      new Uint8Array([255]),
      new Uint8ClampedArray([7]),
      new Int16Array([-300]),
      new Uint16Array([65535]),
      new Int32Array([-(2 ** 31)]),
      new Uint32Array([2 ** 32 - 1]),
      new Float32Array([0.5]),
      new Float64Array(1000).fill(Math.PI),
      new BigInt64Array([-(2n ** 63n)]),
      new BigUint64Array([2n ** 64n - 1n]),
    ],
    buffer: new Uint8Array([1, 2, 3]).buffer,
    view: new DataView(new Uint8Array([9, 8, 7, 6]).buffer, 1, 2),
    nullProto: Object.assign(Object.create(null) as object, { k: 1 }),
    ['__proto__']: 'own key',
  };
}

describe('encodeState / decodeState', () => {
  it('round-trips a big mixed value exactly', () => {
    const value = mixedValue();
    const back = roundTrip(value);
    expect(back).toEqual(value);
    expect(hashState(back)).toBe(hashState(value));
    expect(Object.is(back.numbers[1], -0)).toBe(true);
    expect(back.numbers[8]).toBeNaN();
    expect(Object.hasOwn(back, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(back.lone).toBe('a\uD800b');
    expect(1 in back.holes).toBe(true);
    expect(back.holes[1]).toBeUndefined();
    expect(back.invalidDate.getTime()).toBeNaN();
    expect(back.typed.map((t) => t.constructor)).toEqual(value.typed.map((t) => t.constructor));
    expect(Object.is((back.fields.get('E') as Float64Array)[1], -0)).toBe(true);
  });

  it('keeps Map, Set and object insertion order', () => {
    const back = roundTrip({
      m: new Map([
        ['z', 1],
        ['a', 2],
      ]),
      s: new Set([3, 1, 2]),
      o: { z: 1, a: 2 },
    });
    expect([...back.m.keys()]).toEqual(['z', 'a']);
    expect([...back.s]).toEqual([3, 1, 2]);
    expect(Object.keys(back.o)).toEqual(['z', 'a']);
  });

  it('produces deterministic bytes starting with the magic and the version', () => {
    const a = encodeState(mixedValue());
    const b = encodeState(mixedValue());
    expect(Buffer.compare(a, b)).toBe(0);
    expect([...a.subarray(0, 5)]).toEqual([0x89, 0x50, 0x53, 0x54, 1]);
    expect(a).toBeInstanceOf(Uint8Array);
  });

  it('is compact for small values', () => {
    expect(encodeState(1).length).toBeLessThanOrEqual(18);
    expect(encodeState({ a: 1, b: 'x' }).length).toBeLessThanOrEqual(30);
  });

  it('returns typed arrays as views onto the input when aligned, copies with { copy: true }', () => {
    const value = { pad: 'abc', a: new Float64Array([1, 2, 3]), b: new Int16Array([4, 5]) };
    const bytes = encodeState(value);
    const view = decodeState(bytes) as typeof value;
    expect(view.a.buffer).toBe(bytes.buffer);
    expect(view.b.buffer).toBe(bytes.buffer);
    expect(view.a).toEqual(value.a);

    const copy = decodeState(bytes, { copy: true }) as typeof value;
    expect(copy.a.buffer).not.toBe(bytes.buffer);
    expect(copy.a).toEqual(value.a);
    copy.a[0] = 42;
    expect(view.a[0]).toBe(1);

    // Input at an odd offset: Float64 views are impossible, so the decoder copies instead.
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const odd = decodeState(shifted.subarray(1)) as typeof value;
    expect(odd.a.buffer).not.toBe(shifted.buffer);
    expect(odd.a).toEqual(value.a);
  });

  it('round-trips a 10,000,000-element Float64Array bit for bit', () => {
    const a = new Float64Array(10_000_000);
    for (let i = 0; i < a.length; i++) a[i] = Math.sin(i);
    const bytes = encodeState(a);
    expect(bytes.length).toBeLessThan(a.byteLength + 64);
    const back = decodeState(bytes) as Float64Array;
    expect(back).toBeInstanceOf(Float64Array);
    expect(
      Buffer.compare(
        Buffer.from(back.buffer, back.byteOffset, back.byteLength),
        Buffer.from(a.buffer),
      ),
    ).toBe(0);
  });

  it('encodes typed-array views by their contents only', () => {
    const big = new Float64Array([9, 1, 2, 9]);
    expect(roundTrip(big.subarray(1, 3))).toEqual(new Float64Array([1, 2]));
    expect(roundTrip(Buffer.from([1, 2]))).toEqual(new Uint8Array([1, 2]));
  });

  it('rejects unsupported values and cycles with the path', () => {
    const e = stateError(() => encodeState({ fields: { E: [0, 0, 0, Symbol('x')] } }));
    expect(e.code).toBe('PHYS_STATE_UNSUPPORTED');
    expect(e.message).toContain('state.fields.E[3]');
    expect(e.message).toContain('registerStateCodec');
    const cyclic: Record<string, unknown> = {};
    cyclic.me = [cyclic];
    expect(stateError(() => encodeState(cyclic)).message).toContain(
      'state.me[0] refers back to state,',
    );
  });

  it('rejects truncated input at every length', () => {
    const bytes = encodeState({
      a: [1, 'two', 3n],
      b: new Float64Array([1, 2]),
      c: new Map([[1, 2]]),
    });
    for (let n = 0; n < bytes.length; n++) {
      const e = stateError(() => decodeState(bytes.subarray(0, n)));
      expect(e.code).toBe('PHYS_STATE_CORRUPT');
      expect(e.message).toMatch(/truncated|magic/);
    }
  });

  it('rejects wrong magic, trailing bytes, unknown tags and non-byte input', () => {
    const bytes = encodeState({ a: 1 });
    const wrongMagic = bytes.slice();
    wrongMagic[1] = 0x51;
    expect(stateError(() => decodeState(wrongMagic)).message).toContain('magic');
    expect(stateError(() => decodeState(new TextEncoder().encode('{"a":1}'))).code).toBe(
      'PHYS_STATE_CORRUPT',
    );

    const longer = new Uint8Array(bytes.length + 3);
    longer.set(bytes);
    expect(stateError(() => decodeState(longer)).message).toContain('unexpected bytes');

    const badTag = bytes.slice();
    badTag[16] = 0xee;
    const e = stateError(() => decodeState(badTag));
    expect(e.code).toBe('PHYS_STATE_CORRUPT');
    expect(e.message).toContain('unknown value tag 0xee');

    expect(stateError(() => decodeState('abc' as unknown as Uint8Array)).code).toBe(
      'PHYS_STATE_CORRUPT',
    );
  });

  it('reports a newer format version as unsupported, not as corrupt', () => {
    const bytes = encodeState(1).slice();
    bytes[4] = 9;
    const e = stateError(() => decodeState(bytes));
    expect(e.code).toBe('PHYS_STATE_UNSUPPORTED');
    expect(e.message).toContain('version 9');
  });

  it('names the path of corruption inside the value', () => {
    const bytes = encodeState({ outer: { list: [1, 'abc'] } }).slice();
    const at = Buffer.from(bytes).indexOf('abc');
    bytes[at] = 0xff; // not valid UTF-8
    const e = stateError(() => decodeState(bytes));
    expect(e.code).toBe('PHYS_STATE_CORRUPT');
    expect(e.message).toContain('state.outer.list[1]');
    expect(e.message).toContain('UTF-8');
  });

  it('rejects huge claimed lengths without allocating them', () => {
    // Header + array tag + count 2^50: must fail on the count, not try to allocate.
    const bytes = new Uint8Array(16 + 1 + 8);
    bytes.set([0x89, 0x50, 0x53, 0x54, 1]);
    new DataView(bytes.buffer).setUint32(8, bytes.length, true);
    bytes[16] = 11;
    bytes.set([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02], 17);
    expect(stateError(() => decodeState(bytes)).message).toContain('claims');
  });

  it('reports input nested too deeply for the stack as corrupt', () => {
    const depth = 200_000;
    const bytes = new Uint8Array(16 + depth * 2 + 1);
    bytes.set([0x89, 0x50, 0x53, 0x54, 1]);
    new DataView(bytes.buffer).setUint32(8, bytes.length, true);
    for (let i = 0; i < depth; i++) bytes.set([11, 1], 16 + 2 * i); // [[[[...]]]]
    bytes[bytes.length - 1] = 1;
    const e = stateError(() => decodeState(bytes));
    expect(e.code).toBe('PHYS_STATE_CORRUPT');
    expect(e.message).toContain('nested too deeply');
  });

  it('survives random bit flips: a StateError or a value, never another error', () => {
    const rand = prng(20240607);
    const samples: unknown[] = [
      mixedValue(),
      { a: [1, 2, 3], b: 'text', c: new Map([['k', new Set([1n, -2n])]]) },
      new Float32Array([1, 2, 3, 4, 5]),
      [new Date(0), { x: null }, 'é', 2 ** 40, -7],
    ];
    let thrown = 0;
    let decoded = 0;
    for (const sample of samples) {
      const original = encodeState(sample);
      for (let round = 0; round < 300; round++) {
        const bytes = original.slice();
        const flips = 1 + Math.floor(rand() * 4);
        for (let f = 0; f < flips; f++) {
          const i = Math.floor(rand() * bytes.length);
          bytes[i] = (bytes[i] as number) ^ (1 << Math.floor(rand() * 8));
        }
        try {
          decodeState(bytes);
          decoded++;
        } catch (error) {
          if (!(error instanceof StateError) || !PhysError.is(error)) throw error;
          expect(['PHYS_STATE_CORRUPT', 'PHYS_STATE_UNSUPPORTED']).toContain(error.code);
          thrown++;
        }
      }
    }
    expect(thrown).toBeGreaterThan(0);
    expect(thrown + decoded).toBe(samples.length * 300);
  });
});
