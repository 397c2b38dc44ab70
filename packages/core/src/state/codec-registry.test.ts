import { afterEach, describe, expect, it } from 'vitest';
import { StateError } from '../errors.js';
import { decodeState, encodeState } from './codec.js';
import { registerStateCodec, type StateCodec, unregisterStateCodec } from './codec-registry.js';
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

class Vec3 {
  constructor(
    readonly x: number,
    readonly y: number,
    readonly z: number,
  ) {}
  norm(): number {
    return Math.hypot(this.x, this.y, this.z);
  }
}

class Particle {
  constructor(
    readonly position: Vec3,
    readonly charge: number,
  ) {}
}

const vec3Codec: StateCodec<Vec3> = {
  tag: 'test/vec3',
  type: Vec3,
  encode: (v) => new Float64Array([v.x, v.y, v.z]),
  decode: (data) => {
    const a = data as Float64Array;
    return new Vec3(a[0] as number, a[1] as number, a[2] as number);
  },
};

const particleCodec: StateCodec<Particle> = {
  tag: 'test/particle',
  type: Particle,
  encode: (p) => ({ position: p.position, charge: p.charge }),
  decode: (data) => {
    const d = data as { position: Vec3; charge: number };
    return new Particle(d.position, d.charge);
  },
};

afterEach(() => {
  for (const tag of ['test/vec3', 'test/particle', 'test/other', 'test/failing']) {
    unregisterStateCodec(tag);
  }
});

describe('registerStateCodec', () => {
  it('makes class instances hashable, by tag and encoded form', () => {
    registerStateCodec(vec3Codec);
    const h = hashState(new Vec3(1, 2, 3));
    expect(hashState(new Vec3(1, 2, 3))).toBe(h);
    expect(hashState(new Vec3(1, 2, 4))).not.toBe(h);
    // The tag is part of the hash: the same encoded data as a plain value differs.
    expect(hashState(new Float64Array([1, 2, 3]))).not.toBe(h);
    expect(hashState({ v: new Vec3(1, 2, 3) })).toBe(hashState({ v: new Vec3(1, 2, 3) }));
  });

  it('round-trips registered classes to real instances, nested in each other and in Maps', () => {
    registerStateCodec(vec3Codec);
    registerStateCodec(particleCodec);
    const value = new Map([['p1', new Particle(new Vec3(3, 0, 4), -1)]]);
    const back = decodeState(encodeState(value)) as typeof value;
    const p = back.get('p1');
    expect(p).toBeInstanceOf(Particle);
    expect(p?.position).toBeInstanceOf(Vec3);
    expect(p?.position.norm()).toBe(5);
    expect(p?.charge).toBe(-1);
    expect(hashState(back)).toBe(hashState(value));
  });

  it('stores the registry on globalThis so every copy of the package shares it', () => {
    registerStateCodec(vec3Codec);
    const shared = (globalThis as unknown as Record<symbol, { byTag: Map<string, unknown> }>)[
      Symbol.for('@phys/core:stateCodecs')
    ];
    expect(shared?.byTag.get('test/vec3')).toBe(vec3Codec);
  });

  it('ignores registering the same codec twice', () => {
    registerStateCodec(vec3Codec);
    expect(() => registerStateCodec(vec3Codec)).not.toThrow();
    expect(() => registerStateCodec({ ...vec3Codec })).not.toThrow();
  });

  it('refuses a tag already used by another class, and a second tag for one class', () => {
    registerStateCodec(vec3Codec);
    class Other {}
    const e = stateError(() =>
      registerStateCodec({
        tag: 'test/vec3',
        type: Other,
        encode: () => 0,
        decode: () => new Other(),
      }),
    );
    expect(e.message).toContain("tag 'test/vec3' is already registered for class Vec3");
    expect(e.message).toContain('unregisterStateCodec');
    expect(
      stateError(() => registerStateCodec({ ...vec3Codec, tag: 'test/other' })).message,
    ).toContain("already registered under tag 'test/vec3'");
    expect(
      stateError(() => registerStateCodec({ ...vec3Codec, encode: () => 'different' })).message,
    ).toContain('different encode/decode');
  });

  it('refuses codecs for built-in types and malformed codecs', () => {
    expect(
      stateError(() =>
        registerStateCodec({
          tag: 'test/other',
          type: Map,
          encode: () => 0,
          decode: () => new Map(),
        }),
      ).message,
    ).toContain('built-in Map');
    expect(() =>
      registerStateCodec({ tag: '', type: Vec3, encode: () => 0, decode: () => new Vec3(0, 0, 0) }),
    ).toThrow(StateError);
  });

  it('only applies to the exact class, not to subclasses', () => {
    registerStateCodec(vec3Codec);
    class Vec3Named extends Vec3 {
      name = 'origin';
    }
    const e = stateError(() => hashState([new Vec3Named(0, 0, 0)]));
    expect(e.message).toContain('state[0] is an instance of class Vec3Named');
  });

  it('after unregistering, hashing and decoding say which codec is missing', () => {
    registerStateCodec(vec3Codec);
    const bytes = encodeState({ v: new Vec3(1, 2, 3) });
    expect(unregisterStateCodec('test/vec3')).toBe(true);
    expect(unregisterStateCodec('test/vec3')).toBe(false);
    expect(stateError(() => hashState(new Vec3(1, 2, 3))).message).toContain('class Vec3');
    const e = stateError(() => decodeState(bytes));
    expect(e.code).toBe('PHYS_STATE_UNSUPPORTED');
    expect(e.message).toContain('state.v (byte offset');
    expect(e.message).toContain("'test/vec3'");
  });

  it('wraps errors thrown by a codec, keeping the cause', () => {
    class Failing {}
    const boom = new Error('boom');
    registerStateCodec({
      tag: 'test/failing',
      type: Failing,
      encode: () => {
        throw boom;
      },
      decode: () => new Failing(),
    });
    const e = stateError(() => hashState({ f: new Failing() }));
    expect(e.code).toBe('PHYS_STATE_UNSUPPORTED');
    expect(e.message).toContain('state.f: boom');
    expect(e.cause).toBe(boom);

    registerStateCodec(vec3Codec);
    const bytes = encodeState(new Vec3(1, 2, 3));
    unregisterStateCodec('test/vec3');
    registerStateCodec({
      ...vec3Codec,
      decode: () => {
        throw boom;
      },
    });
    const d = stateError(() => decodeState(bytes));
    expect(d.code).toBe('PHYS_STATE_CORRUPT');
    expect(d.cause).toBe(boom);
  });

  it('detects an encode() that returns the instance itself', () => {
    class Selfish {}
    registerStateCodec({
      tag: 'test/other',
      type: Selfish,
      encode: (s) => ({ s }),
      decode: () => new Selfish(),
    });
    expect(stateError(() => hashState(new Selfish())).message).toContain('cycle');
  });
});
