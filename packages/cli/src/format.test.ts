import { DagState } from '@phys/core';
import { describe, expect, it } from 'vitest';
import { formatDuration, formatNumber, table, toJsonValue } from './format.js';

describe('formatNumber', () => {
  it('keeps integers whole and rounds the rest to 6 significant digits', () => {
    expect(formatNumber(42)).toBe('42');
    expect(formatNumber(123.456789)).toBe('123.457');
    expect(formatNumber(0.5)).toBe('0.5');
    expect(formatNumber(1.5e-7)).toBe('1.5000e-7');
    expect(formatNumber(Number.NaN)).toBe('NaN');
  });
});

describe('formatDuration', () => {
  it('picks a unit a person reads at a glance', () => {
    expect(formatDuration(0.0000425)).toBe('43 µs');
    expect(formatDuration(0.0123)).toBe('12.3 ms');
    expect(formatDuration(4.2134)).toBe('4.21 s');
    expect(formatDuration(123)).toBe('2m 03s');
  });
});

describe('table', () => {
  it('aligns columns, right-aligning where asked', () => {
    expect(
      table(
        [
          ['metric', 'value'],
          ['a.b', '1'],
          ['a.long', '123.5'],
        ],
        ['left', 'right'],
      ),
    ).toEqual(['metric  value', 'a.b         1', 'a.long  123.5']);
  });
});

describe('toJsonValue', () => {
  it('turns states into plain JSON, previewing large arrays', () => {
    const big = new Float64Array(5000).fill(1.5);
    const value = toJsonValue({
      small: new Float32Array([1, 2]),
      big,
      n: 10n,
      map: new Map([['k', new Set([1])]]),
      when: new Date(0),
      lazy: () => 'x',
      dag: new DagState([['a', 1]]),
      inf: Number.POSITIVE_INFINITY,
    });
    expect(value).toEqual({
      small: [1, 2],
      big: { dtype: 'Float64Array', shape: [5000], head: Array(16).fill(1.5) },
      n: '10',
      map: { k: [1] },
      when: '1970-01-01T00:00:00.000Z',
      lazy: '[lazy]',
      dag: { inputs: { a: 1 } },
      inf: 'Infinity',
    });
    expect(() => JSON.stringify(value)).not.toThrow();
  });

  it('marks cycles instead of recursing forever, but keeps shared values', () => {
    const shared = { v: 1 };
    const cyclic: Record<string, unknown> = { a: shared, b: shared };
    cyclic.self = cyclic;
    expect(toJsonValue(cyclic)).toEqual({ a: { v: 1 }, b: { v: 1 }, self: '[cycle]' });
  });
});
