import { StateError } from '../errors.js';

// A registered symbol, not a private field: DagStates made by another installed copy of
// @phys/core must still be recognised by this copy's hasher and codec.
const DAG_STATE = Symbol.for('@phys/core:DagState');

const IDS = Symbol('ids');
const VALUES = Symbol('values');

// Above this many parents, duplicate ids are found with a Set instead of a pairwise scan.
const SCAN_LIMIT = 16;

/**
 * The input of a DAG node with several parents: each parent's output keyed by parent id, in deps order.
 *
 * A DagState is itself a read-only map from parent id to output (`get`, `has`, `size`, `keys`,
 * `values`, `entries`, `forEach`, iteration), and {@link DagState.inputs} returns the same view.
 * It keeps its entries in two small arrays rather than a `Map`: executors build one per
 * multi-parent node, nodes have a handful of parents, and a linear scan over a few ids beats
 * hashing them.
 * @public
 */
export class DagState implements ReadonlyMap<string, unknown> {
  // Symbol-keyed rather than private fields: a class with field declarations runs an extra
  // initializer call per instance, and an executor builds one DagState per multi-parent node.
  /** @internal */
  declare readonly [IDS]: string[];
  /** @internal */
  declare readonly [VALUES]: unknown[];

  /**
   * The parents as `[parentId, output]` pairs (kept in iteration order), as a record (kept in
   * `Object.entries` order, which puts integer-like ids first; prefer pairs for such ids), or as
   * two parallel arrays `(ids, outputs)` in deps order (what executors use: no pair per parent).
   */
  constructor(inputs: Iterable<readonly [string, unknown]> | Readonly<Record<string, unknown>>);
  constructor(ids: readonly string[], outputs: readonly unknown[]);
  constructor(
    inputs:
      | Iterable<readonly [string, unknown]>
      | Readonly<Record<string, unknown>>
      | readonly string[],
    outputs?: readonly unknown[],
  ) {
    if (outputs !== undefined) {
      const ids = inputs as readonly unknown[];
      if (!Array.isArray(ids) || !Array.isArray(outputs) || ids.length !== outputs.length) {
        throw new StateError(
          'PHYS_STATE_UNSUPPORTED',
          'new DagState(ids, outputs) needs two arrays of the same length: parent ids and their outputs, in deps order.',
        );
      }
      const own = ids.slice() as string[];
      checkIds(own);
      this[IDS] = own;
      this[VALUES] = outputs.slice();
      return;
    }
    const pairs = inputs as
      | Iterable<readonly [string, unknown]>
      | Readonly<Record<string, unknown>>;
    const entries: Iterable<readonly [string, unknown]> =
      Symbol.iterator in pairs
        ? (pairs as Iterable<readonly [string, unknown]>)
        : Object.entries(pairs);
    // Index loop for arrays: the iterator protocol with destructuring costs more than the rest
    // of the constructor.
    const list = Array.isArray(entries)
      ? (entries as readonly (readonly [string, unknown])[])
      : [...entries];
    const n = list.length;
    const ids = new Array<string>(n);
    const values = new Array<unknown>(n);
    for (let k = 0; k < n; k++) {
      const entry = list[k] as readonly [string, unknown];
      ids[k] = entry[0];
      values[k] = entry[1];
    }
    checkIds(ids);
    this[IDS] = ids;
    this[VALUES] = values;
  }

  /**
   * Parent outputs by parent id, in deps order: this DagState itself, as a read-only map. The
   * order is part of the value: two DagStates with the same entries in a different order hash
   * differently, because deps order is meaningful to the node.
   */
  get inputs(): ReadonlyMap<string, unknown> {
    return this;
  }

  /** Number of parents. */
  get size(): number {
    return this[IDS].length;
  }

  /** The output of parent `id` (undefined if there is no such parent). */
  get(id: string): unknown {
    const k = this[IDS].indexOf(id);
    return k < 0 ? undefined : this[VALUES][k];
  }

  /** Whether `id` is one of the parents. */
  has(id: string): boolean {
    return this[IDS].includes(id);
  }

  /** Parent ids in deps order. */
  keys(): MapIterator<string> {
    return this[IDS].values();
  }

  /** Parent outputs in deps order. */
  values(): MapIterator<unknown> {
    return this[VALUES].values();
  }

  /** `[parentId, output]` pairs in deps order. */
  entries(): MapIterator<[string, unknown]> {
    const values = this[VALUES];
    return this[IDS].map((id, k): [string, unknown] => [id, values[k]]).values();
  }

  [Symbol.iterator](): MapIterator<[string, unknown]> {
    return this.entries();
  }

  forEach(
    callback: (value: unknown, id: string, map: ReadonlyMap<string, unknown>) => void,
    thisArg?: unknown,
  ): void {
    const ids = this[IDS];
    const values = this[VALUES];
    for (let k = 0; k < ids.length; k++) callback.call(thisArg, values[k], ids[k] as string, this);
  }

  get [Symbol.toStringTag](): string {
    return 'DagState';
  }

  /** True for any DagState, also one created by another installed copy of `@phys/core`. */
  static is(value: unknown): value is DagState {
    return (
      typeof value === 'object' &&
      value !== null &&
      (value as Record<symbol, unknown>)[DAG_STATE] === true
    );
  }
}
Object.defineProperty(DagState.prototype, DAG_STATE, { value: true });

/** Parent ids must be strings, each listed once. */
function checkIds(ids: readonly unknown[]): void {
  const n = ids.length;
  const seen = n > SCAN_LIMIT ? new Set<unknown>() : undefined;
  for (let k = 0; k < n; k++) {
    const id = ids[k];
    if (typeof id !== 'string') {
      throw new StateError(
        'PHYS_STATE_UNSUPPORTED',
        `DagState parent ids must be strings, got ${typeof id} (${String(id)}). Use the parent node ids from the DAG.`,
      );
    }
    let repeated = false;
    if (seen === undefined) {
      for (let q = 0; q < k; q++) {
        if (ids[q] === id) {
          repeated = true;
          break;
        }
      }
    } else {
      repeated = seen.has(id);
      seen.add(id);
    }
    if (repeated) {
      throw new StateError(
        'PHYS_STATE_UNSUPPORTED',
        `DagState got parent id '${id}' twice. Each parent contributes exactly one input; list it once.`,
        { details: { id } },
      );
    }
  }
}
