import { PhysError } from './errors.js';
import { hashState } from './state/hash.js';

const POLICY = Symbol.for('@phys/core:PolicyBag');

/** Anything accepted where a policy is expected. @public */
export type PolicyLike =
  | PolicyBag
  | Readonly<Record<string, unknown>>
  | ReadonlyMap<string, unknown>;

/**
 * Run-wide knobs that stages may read (`policy.get('sampling.N')`). Immutable and hashable;
 * the framework never interprets keys. Dotted keys are plain strings.
 * @public
 */
export class PolicyBag implements Iterable<[string, unknown]> {
  readonly #data: ReadonlyMap<string, unknown>;
  #hash: string | undefined;

  constructor(data: Readonly<Record<string, unknown>> | ReadonlyMap<string, unknown> = {}) {
    const entries = data instanceof Map ? [...data.entries()] : Object.entries(data);
    this.#data = new Map(entries.map(([k, v]) => [k, deepFreeze(structuredClone(v))]));
    Object.freeze(this);
  }

  /** An empty policy bag. */
  static readonly empty: PolicyBag = new PolicyBag();

  /** True for a PolicyBag, also one from another installed copy of `@phys/core`. */
  static is(value: unknown): value is PolicyBag {
    return typeof value === 'object' && value !== null && POLICY in value;
  }

  get [POLICY](): true {
    return true;
  }

  /** The value under `key`, or `fallback` when absent. */
  get<T = unknown>(key: string, fallback?: T): T | undefined {
    return (this.#data.has(key) ? this.#data.get(key) : fallback) as T | undefined;
  }

  has(key: string): boolean {
    return this.#data.has(key);
  }

  get size(): number {
    return this.#data.size;
  }

  keys(): IterableIterator<string> {
    return this.#data.keys();
  }

  [Symbol.iterator](): Iterator<[string, unknown]> {
    return this.#data.entries();
  }

  /** A new bag with `overrides` laid over this one (this bag is unchanged). */
  with(overrides: PolicyLike): PolicyBag {
    const merged = new Map(this.#data);
    for (const [k, v] of entriesOf(overrides)) merged.set(k, v);
    return new PolicyBag(merged);
  }

  /** Canonical hash: insertion order never matters. */
  hash(): string {
    const hash = this.#hash ?? hashState(this.toJSON());
    this.#hash = hash;
    return hash;
  }

  toJSON(): Record<string, unknown> {
    return Object.fromEntries(this.#data);
  }
}

/** Normalises a policy-like value; `undefined` stays `undefined`. @public */
export function asPolicy(value: PolicyLike | undefined): PolicyBag | undefined {
  if (value === undefined) return undefined;
  if (PolicyBag.is(value)) return value;
  return new PolicyBag(value as Readonly<Record<string, unknown>>);
}

function entriesOf(value: PolicyLike): Iterable<[string, unknown]> {
  if (PolicyBag.is(value)) return value;
  if (value instanceof Map) return value.entries() as Iterable<[string, unknown]>;
  return Object.entries(value);
}

/**
 * Freezes a value and everything reachable from it. Maps and Sets also refuse `set`/`add`/`delete`/`clear`
 * (Object.freeze alone leaves their entries writable). Typed arrays cannot be frozen; they are left as is.
 * @public
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  // Most stage configs are flat records of numbers and strings: freeze those directly, without
  // the walk's bookkeeping (sweeps configure thousands of stages).
  if (isFlatRecord(value)) Object.freeze(value);
  else freezeInto(value, new Set());
  return value;
}

function isFlatRecord(value: object): boolean {
  if (ArrayBuffer.isView(value) || value instanceof Map || value instanceof Set) return false;
  for (const v of Object.values(value)) {
    if (typeof v === 'object' && v !== null) return false;
  }
  return true;
}

// An already-frozen object may still hold unfrozen children (a frozen default, a user's frozen
// input), and state may be cyclic: so walk everything once, tracking what was seen. A plain Set,
// not a WeakSet: it lives for one call, and weak collections cost the garbage collector extra.
function freezeInto(value: unknown, seen: Set<object>): void {
  if (typeof value !== 'object' || value === null || seen.has(value)) return;
  seen.add(value);
  if (ArrayBuffer.isView(value)) return;
  if (value instanceof Map) {
    for (const [k, v] of value) {
      freezeInto(k, seen);
      freezeInto(v, seen);
    }
    if (!Object.isFrozen(value)) lockCollection(value, ['set', 'delete', 'clear']);
  } else if (value instanceof Set) {
    for (const v of value) freezeInto(v, seen);
    if (!Object.isFrozen(value)) lockCollection(value, ['add', 'delete', 'clear']);
  } else {
    for (const key of Object.keys(value)) freezeInto((value as Record<string, unknown>)[key], seen);
  }
  Object.freeze(value);
}

function lockCollection(
  target: Map<unknown, unknown> | Set<unknown>,
  methods: readonly string[],
): void {
  const kind = target instanceof Map ? 'Map' : 'Set';
  for (const method of methods) {
    Object.defineProperty(target, method, {
      value: () => {
        throw new PhysError(
          'PHYS_FROZEN',
          `Cannot call ${kind}.${method}() on a frozen value (a stage config or policy). Build a new value instead, e.g. policy.with({...}) or a new stage config.`,
        );
      },
    });
  }
}
