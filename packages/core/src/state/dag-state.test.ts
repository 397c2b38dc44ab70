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
    expect(hashState(ab)).not.toBe(hashState(ab.inputs));
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
