import { describe, expect, it } from 'vitest';
import { PhysError } from './errors.js';
import { asPolicy, deepFreeze, PolicyBag } from './policy.js';
import { hashState } from './state/hash.js';

describe('PolicyBag', () => {
  it('reads values, with a fallback for missing keys; dotted keys are plain strings', () => {
    const policy = new PolicyBag({ 'sampling.N': 8, solver: { tol: 1e-6 } });
    expect(policy.get('sampling.N')).toBe(8);
    expect(policy.get('sampling')).toBeUndefined();
    expect(policy.get('missing', 3)).toBe(3);
    expect(policy.get('sampling.N', 3)).toBe(8);
    expect(policy.has('solver')).toBe(true);
    expect(policy.size).toBe(2);
    expect([...policy.keys()]).toEqual(['sampling.N', 'solver']);
    expect(Object.fromEntries(policy)).toEqual({ 'sampling.N': 8, solver: { tol: 1e-6 } });
    expect(new PolicyBag(new Map([['a', 1]])).get('a')).toBe(1);
  });

  it('cannot be changed: setting properties throws and nested values are frozen', () => {
    const policy = new PolicyBag({ solver: { tol: 1e-6, steps: [1, 2] } });
    expect(() => {
      (policy as unknown as Record<string, unknown>).solver = {};
    }).toThrow(TypeError);
    const solver = policy.get<{ tol: number; steps: number[] }>('solver');
    expect(() => {
      if (solver) solver.tol = 1;
    }).toThrow(TypeError);
    expect(() => solver?.steps.push(3)).toThrow(TypeError);
    expect(policy.get('solver')).toEqual({ tol: 1e-6, steps: [1, 2] });
  });

  it('keeps a private copy: changing the input afterwards does not change the policy or its hash', () => {
    const input = { grid: { nx: 64 } };
    const policy = new PolicyBag(input);
    const before = policy.hash();
    input.grid.nx = 128;
    expect(policy.get('grid')).toEqual({ nx: 64 });
    expect(policy.hash()).toBe(before);
    expect(Object.isFrozen(input.grid)).toBe(false);
  });

  it('freezes Map and Set values so their entries cannot change either', () => {
    const policy = new PolicyBag({ table: new Map([['a', 1]]), tags: new Set(['x']) });
    const table = policy.get<Map<string, number>>('table');
    const tags = policy.get<Set<string>>('tags');
    expect(() => table?.set('b', 2)).toThrow(/frozen/);
    expect(() => table?.clear()).toThrow(PhysError);
    expect(() => tags?.add('y')).toThrow(/Set\.add\(\) on a frozen value/);
    expect(table?.get('a')).toBe(1);
    expect(tags?.has('x')).toBe(true);
  });

  it('hashes canonically: insertion order never matters, values do', () => {
    const a = new PolicyBag({ 'sampling.N': 8, seed: 1, solver: { tol: 1e-6, it: 10 } });
    const b = new PolicyBag({ solver: { it: 10, tol: 1e-6 }, seed: 1, 'sampling.N': 8 });
    expect(a.hash()).toBe(b.hash());
    expect(a.hash()).toMatch(/^[0-9a-f]{64}$/);
    expect(a.hash()).toBe(hashState(a.toJSON()));
    expect(
      new PolicyBag({ 'sampling.N': 9, seed: 1, solver: { tol: 1e-6, it: 10 } }).hash(),
    ).not.toBe(a.hash());
    expect(new PolicyBag({ n: 1 }).hash()).not.toBe(new PolicyBag({ n: '1' }).hash());
  });

  it('has one empty policy, hashed like any other', () => {
    expect(PolicyBag.empty.size).toBe(0);
    expect(new PolicyBag().hash()).toBe(PolicyBag.empty.hash());
    expect(new PolicyBag({}).hash()).toBe(hashState({}));
  });

  it('with() lays overrides over a copy and leaves the original alone', () => {
    const base = new PolicyBag({ N: 4, seed: 1 });
    const merged = base.with({ N: 8, extra: true });
    expect(merged.toJSON()).toEqual({ N: 8, seed: 1, extra: true });
    expect(base.toJSON()).toEqual({ N: 4, seed: 1 });
    expect(base.with(new PolicyBag({ seed: 2 })).get('seed')).toBe(2);
    expect(base.with(new Map([['seed', 3]])).get('seed')).toBe(3);
    expect(merged.hash()).toBe(new PolicyBag({ extra: true, seed: 1, N: 8 }).hash());
  });

  it('survives a cyclic value', () => {
    const node: Record<string, unknown> = { name: 'a' };
    node.self = node;
    const policy = new PolicyBag({ node });
    const copy = policy.get<Record<string, unknown>>('node');
    expect(copy?.self).toBe(copy);
    expect(Object.isFrozen(copy)).toBe(true);
  });
});

describe('asPolicy', () => {
  it('keeps undefined and PolicyBags, wraps records and maps', () => {
    const bag = new PolicyBag({ a: 1 });
    expect(asPolicy(undefined)).toBeUndefined();
    expect(asPolicy(bag)).toBe(bag);
    expect(asPolicy({ a: 1 })?.hash()).toBe(bag.hash());
    expect(asPolicy(new Map([['a', 1]]))?.hash()).toBe(bag.hash());
  });

  it('recognises a PolicyBag from another copy by its brand', () => {
    expect(PolicyBag.is(new PolicyBag())).toBe(true);
    expect(PolicyBag.is({ a: 1 })).toBe(false);
    expect(PolicyBag.is({ [Symbol.for('@phys/core:PolicyBag')]: true })).toBe(true);
  });
});

describe('deepFreeze', () => {
  it('freezes nested objects and arrays, also below an already frozen object', () => {
    const inner = { x: [1, { y: 2 }] };
    const value = { outer: Object.freeze({ inner }) };
    deepFreeze(value);
    expect(Object.isFrozen(value)).toBe(true);
    expect(Object.isFrozen(inner)).toBe(true);
    expect(Object.isFrozen(inner.x)).toBe(true);
    expect(Object.isFrozen(inner.x[1])).toBe(true);
  });

  it('leaves typed arrays writable (they cannot be frozen) and returns its argument', () => {
    const data = new Float64Array(4);
    const value = { data };
    expect(deepFreeze(value)).toBe(value);
    data[0] = 1;
    expect(data[0]).toBe(1);
    expect(deepFreeze(5)).toBe(5);
    expect(deepFreeze(null)).toBeNull();
  });
});
