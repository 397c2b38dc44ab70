import { PhysError } from '@phys/core';

/**
 * A value a sweep can assign to a config key: JSON-like data (numbers, strings, booleans,
 * null, bigints, arrays and plain objects of them).
 * @public
 */
export type SweepValue =
  | number
  | string
  | boolean
  | null
  | bigint
  | readonly SweepValue[]
  | { readonly [key: string]: SweepValue };

// A bare string can be read back as nothing but a string: it starts like an identifier (so never
// like a number), holds no character the id grammar uses, and is no word the grammar reserves.
const BARE = /^[A-Za-z_][A-Za-z0-9_.\-/]*$/;
const RESERVED = new Set(['true', 'false', 'null', 'NaN', 'Infinity', 'undefined']);

/**
 * Renders a sweep value the way point ids show it: numbers by their shortest round-trip form
 * (`0.1`, `1e-7`, `0.30000000000000004`, `-0`, `NaN`), bigints with an `n`, strings bare when
 * they cannot be mistaken for anything else and JSON-quoted otherwise, arrays as `[a,b]` and
 * objects as `{k:v}` with sorted keys. Distinct values always render differently.
 * @public
 */
export function renderValue(value: unknown): string {
  return render(value, 0);
}

function render(value: unknown, depth: number): string {
  if (depth > 32) {
    throw new PhysError(
      'PHYS_SWEEP_INVALID',
      'A sweep value is nested more than 32 levels deep; sweep over scalars or small arrays instead.',
    );
  }
  switch (typeof value) {
    case 'number':
      // String() already gives the shortest round-trip form, except that it drops the sign of -0.
      return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint':
      return `${value}n`;
    case 'boolean':
      return String(value);
    case 'string':
      return BARE.test(value) && !RESERVED.has(value) ? value : JSON.stringify(value);
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) return `[${value.map((v) => render(v, depth + 1)).join(',')}]`;
      if (isPlainObject(value)) {
        const keys = Object.keys(value).sort();
        return `{${keys.map((k) => `${render(k, depth + 1)}:${render((value as Record<string, unknown>)[k], depth + 1)}`).join(',')}}`;
      }
      break;
    }
    default:
      break;
  }
  throw new PhysError(
    'PHYS_SWEEP_INVALID',
    `Cannot use ${describe(value)} as a sweep value; use numbers, strings, booleans, null, bigints, or arrays and plain objects of them.`,
  );
}

/** True for `{}` literals and `Object.create(null)` objects. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  if (typeof value === 'object' && value !== null) {
    return `a ${(value as object).constructor?.name ?? 'object'}`;
  }
  return typeof value === 'function' ? 'a function' : String(value);
}

/**
 * The bracketed part of a point id: `name=value` pairs sorted by name, joined by commas
 * (`bs=32,lr=0.01`). Names that are not bare words are quoted like string values.
 * @public
 */
export function renderPoint(params: Readonly<Record<string, unknown>>): string {
  return Object.keys(params)
    .sort()
    .map((name) => `${render(name, 0)}=${render(params[name], 0)}`)
    .join(',');
}
