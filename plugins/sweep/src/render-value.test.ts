import { describe, expect, it } from 'vitest';
import { renderPoint, renderValue } from './render-value.js';
import { seededRandom } from './samplers.js';

describe('renderValue', () => {
  it('renders numbers by their shortest round-trip form', () => {
    expect(renderValue(0.01)).toBe('0.01');
    expect(renderValue(0.1 + 0.2)).toBe('0.30000000000000004');
    expect(renderValue(1e-7)).toBe('1e-7');
    expect(renderValue(2)).toBe('2');
    expect(renderValue(1e21)).toBe('1e+21');
    expect(renderValue(-0)).toBe('-0');
    expect(renderValue(Number.NaN)).toBe('NaN');
    expect(renderValue(-Infinity)).toBe('-Infinity');
    expect(renderValue(12n)).toBe('12n');
  });

  it('quotes strings only when they could be read as something else', () => {
    expect(renderValue('adam')).toBe('adam');
    expect(renderValue('rk4.fast/v2')).toBe('rk4.fast/v2');
    expect(renderValue('1')).toBe('"1"');
    expect(renderValue('true')).toBe('"true"');
    expect(renderValue('NaN')).toBe('"NaN"');
    expect(renderValue('a,b')).toBe('"a,b"');
    expect(renderValue('x=1')).toBe('"x=1"');
    expect(renderValue('')).toBe('""');
    expect(renderValue('say "hi"')).toBe('"say \\"hi\\""');
  });

  it('renders arrays and objects (keys sorted)', () => {
    expect(renderValue([1, 'a', [true, null]])).toBe('[1,a,[true,null]]');
    expect(renderValue({ z: 1, a: 'b' })).toBe('{a:b,z:1}');
  });

  it('rejects values that are not data', () => {
    expect(() => renderValue(() => 1)).toThrow(/Cannot use a function as a sweep value/);
    expect(() => renderValue(new Date(0))).toThrow(/Cannot use a Date/);
    expect(() => renderValue(undefined)).toThrow(/PHYS_SWEEP_INVALID|sweep value/);
  });

  it('gives distinct values distinct renderings', () => {
    const values: unknown[] = [
      0,
      -0,
      1,
      -1,
      0.1,
      0.1 + 0.2,
      0.3,
      1e-7,
      1e21,
      Number.NaN,
      Infinity,
      -Infinity,
      1n,
      -1n,
      true,
      false,
      null,
      '0',
      '-0',
      '1',
      '1n',
      'true',
      'null',
      'NaN',
      'Infinity',
      'a',
      'A',
      'a b',
      'a,b',
      'a=b',
      'a]',
      '[a]',
      '"a"',
      "'a'",
      '',
      ' ',
      'a.b',
      'a:b',
      '{a:b}',
      'é',
      '\n',
      [],
      [[]],
      [1],
      ['1'],
      [1, 2],
      [[1], 2],
      [1, [2]],
      ['1,2'],
      ['a', 'b'],
      ['a,b'],
      {},
      { a: 1 },
      { a: '1' },
      { 'a:b': 'c' },
      { a: 'b:c' },
      { a: [1] },
      { a: 1, b: 2 },
      { 'a,b': 2 },
    ];
    const seen = new Map<string, unknown>();
    for (const v of values) {
      const text = renderValue(v);
      expect(
        seen.has(text),
        `${String(v)} collides with ${String(seen.get(text))} as ${text}`,
      ).toBe(false);
      seen.set(text, v);
    }
    // and whole points: pairs whose parts could run into each other
    const points = [
      { a: 'b,c=d' },
      { a: 'b', c: 'd' },
      { a: '1', b: 2 },
      { a: 1, b: 2 },
      { 'a,b': 1 },
      { a: [1, 2] },
      { a: '[1', b: '2]' },
    ];
    const rendered = points.map(renderPoint);
    expect(new Set(rendered).size).toBe(points.length);
  });

  it('never maps two distinct random values to one rendering', () => {
    const rand = seededRandom(7);
    const alphabet = [
      'a',
      'B',
      '1',
      '-',
      '.',
      ',',
      '=',
      '[',
      ']',
      '{',
      '}',
      ':',
      '"',
      ' ',
      'n',
      '_',
    ];
    const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;
    const value = (depth: number): unknown => {
      const r = rand();
      if (r < 0.3)
        return pick([0, -0, 1, -1, 0.5, 1e-7, 1e21, Number.NaN, Infinity, 2 ** 53, 0.1 + 0.2]);
      if (r < 0.65)
        return Array.from({ length: Math.floor(rand() * 5) }, () => pick(alphabet)).join('');
      if (r < 0.7) return pick([true, false, null, 0n, 12n]);
      if (depth > 2) return 'leaf';
      if (r < 0.85) return Array.from({ length: Math.floor(rand() * 3) }, () => value(depth + 1));
      const obj: Record<string, unknown> = {};
      for (let k = Math.floor(rand() * 3); k > 0; k--) obj[String(value(3))] = value(depth + 1);
      return obj;
    };
    // Identity of a value, independent of rendering: type-tagged, -0 and NaN kept apart.
    const identity = (v: unknown): string =>
      JSON.stringify(v, (_k, x: unknown) =>
        typeof x === 'bigint'
          ? `bigint:${x}`
          : typeof x === 'number'
            ? `number:${Object.is(x, -0) ? '-0' : String(x)}`
            : typeof x === 'string'
              ? `string:${x}`
              : x !== null && typeof x === 'object' && !Array.isArray(x)
                ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1)))
                : x,
      );
    const byText = new Map<string, string>();
    for (let i = 0; i < 5000; i++) {
      const v = value(0);
      const text = renderValue(v);
      const id = identity(v);
      const before = byText.get(text);
      if (before !== undefined) expect(before, text).toBe(id);
      byText.set(text, id);
    }
    expect(byText.size).toBeGreaterThan(1000);
  });

  it('sorts parameter names in a point', () => {
    expect(renderPoint({ lr: 0.01, bs: 32 })).toBe('bs=32,lr=0.01');
    expect(renderPoint({ 'train.lr': 0.1, 'load.n': 2 })).toBe('load.n=2,train.lr=0.1');
  });
});
