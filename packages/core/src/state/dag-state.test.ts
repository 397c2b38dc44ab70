import { describe, expect, it } from 'vitest';
import { StateError } from '../errors.js';
import { decodeState, encodeState } from './codec.js';
import { DagState } from './dag-state.js';
import { hashState } from './hash.js';

describe('DagState', () => {
  it('keeps the inputs in the given (deps) order, from pairs or a record', () => {
    const fromPairs = new DagState([
      ['mesh', 1],
      ['solve', { x: 2 }],
    ]);
    expect([...fromPairs.keys()]).toEqual(['mesh', 'solve']);
    expect(fromPairs.size).toBe(2);
    expect(fromPairs.get('solve')).toEqual({ x: 2 });
    expect(fromPairs.has('mesh')).toBe(true);
    expect(fromPairs.get('missing')).toBeUndefined();
    expect([...fromPairs.inputs]).toEqual([
      ['mesh', 1],
      ['solve', { x: 2 }],
    ]);

    const fromRecord = new DagState({ b: 1, a: 2 });
    expect([...fromRecord.keys()]).toEqual(['b', 'a']);
    const fromMap = new DagState(new Map([['only', 'x']]));
    expect(fromMap.get('only')).toBe('x');
  });

  it('is a read-only map of parent id to output, in deps order', () => {
    const state = new DagState([
      ['b', 2],
      ['a', 1],
    ]);
    expect(state.inputs).toBe(state);
    expect(state.size).toBe(2);
    expect(state.get('a')).toBe(1);
    expect(state.get('c')).toBeUndefined();
    expect(state.has('b')).toBe(true);
    expect(state.has('c')).toBe(false);
    expect([...state.keys()]).toEqual(['b', 'a']);
    expect([...state.values()]).toEqual([2, 1]);
    expect([...state.entries()]).toEqual([
      ['b', 2],
      ['a', 1],
    ]);
    expect([...state]).toEqual([...state.entries()]);
    expect(new Map(state.inputs)).toEqual(
      new Map([
        ['b', 2],
        ['a', 1],
      ]),
    );
    const seen: string[] = [];
    state.forEach((value, id, map) => {
      expect(map).toBe(state);
      seen.push(`${id}=${String(value)}`);
    });
    expect(seen).toEqual(['b=2', 'a=1']);
    expect(Object.prototype.toString.call(state)).toBe('[object DagState]');
  });

  it('takes parent ids and outputs as two arrays, and owns copies of them', () => {
    const ids = ['x', 'y'];
    const outputs = [1, 2];
    const state = new DagState(ids, outputs);
    ids[0] = 'z';
    outputs[0] = 99;
    expect([...state.entries()]).toEqual([
      ['x', 1],
      ['y', 2],
    ]);
    expect(() => new DagState(['x'], [1, 2])).toThrow(/two arrays of the same length/);
    expect(() => new DagState(['x', 'x'], [1, 2])).toThrow(/parent id 'x' twice/);
    expect(() => new DagState([1 as unknown as string], [1])).toThrow(/must be strings/);
  });

  it('refuses a parent listed twice among many parents too', () => {
    const pairs = Array.from({ length: 40 }, (_, k): [string, unknown] => [`p${k}`, k]);
    expect(new DagState(pairs).get('p39')).toBe(39);
    pairs.push(['p7', 'again']);
    expect(() => new DagState(pairs)).toThrow(/parent id 'p7' twice/);
  });

  it('refuses a parent listed twice', () => {
    expect(
      () =>
        new DagState([
          ['a', 1],
          ['a', 2],
        ]),
    ).toThrow(StateError);
  });

  it('is recognised by brand, also when created by another copy of the package', () => {
    expect(DagState.is(new DagState([]))).toBe(true);
    expect(DagState.is(new Map())).toBe(false);
    expect(DagState.is(null)).toBe(false);
    const foreign = Object.create({ [Symbol.for('@phys/core:DagState')]: true }) as object;
    expect(DagState.is(foreign)).toBe(true);
  });

  it('hashes by parent ids and inputs, in deps order', () => {
    const ab = new DagState([
      ['a', new Float64Array([1])],
      ['b', { n: 2 }],
    ]);
    const ba = new DagState([
      ['b', { n: 2 }],
      ['a', new Float64Array([1])],
    ]);
    expect(hashState(ab)).toBe(
      hashState(
        new DagState([
          ['a', new Float64Array([1])],
          ['b', { n: 2 }],
        ]),
      ),
    );
    expect(hashState(ab)).not.toBe(hashState(ba));
    expect(hashState(ab)).not.toBe(
      hashState(
        new DagState([
          ['a', new Float64Array([1])],
          ['c', { n: 2 }],
        ]),
      ),
    );
    expect(hashState(ab)).not.toBe(hashState(new Map(ab.inputs)));
    expect(hashState(ab)).not.toBe(hashState({ a: new Float64Array([1]), b: { n: 2 } }));
  });

  it('round-trips through the codec as a DagState, order and contents intact', () => {
    const dag = new DagState([
      ['z-last-alphabetically', new Map([['k', new Int32Array([1, 2])]])],
      ['a', [1, 'two', 3n]],
    ]);
    const back = decodeState(encodeState({ input: dag })) as { input: DagState };
    expect(back.input).toBeInstanceOf(DagState);
    expect([...back.input.keys()]).toEqual(['z-last-alphabetically', 'a']);
    expect(back.input.get('a')).toEqual([1, 'two', 3n]);
    expect(back.input.get('z-last-alphabetically')).toEqual(
      new Map([['k', new Int32Array([1, 2])]]),
    );
    expect(hashState(back.input)).toBe(hashState(dag));
  });

  it('names the parent in error paths', () => {
    expect(() => hashState(new DagState([['solve', { f: () => 0 }]]))).toThrow(
      'state.get("solve").f is a function',
    );
  });
});
