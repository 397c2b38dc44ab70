import { StateError } from '../errors.js';

// A registered symbol, not a private field: DagStates made by another installed copy of
// @phys/core must still be recognised by this copy's hasher and codec.
const DAG_STATE = Symbol.for('@phys/core:DagState');

/**
 * The input of a DAG node with several parents: each parent's output keyed by parent id, in deps order.
 * @public
 */
export class DagState {
  /**
   * Parent outputs in deps order. The order is part of the value: two DagStates with the same
   * entries in a different order hash differently, because deps order is meaningful to the node.
   */
  readonly inputs: ReadonlyMap<string, unknown>;

  /**
   * `inputs` as `[parentId, output]` pairs (kept in iteration order) or as a record (kept in
   * `Object.entries` order, which puts integer-like ids first; prefer pairs for such ids).
   */
  constructor(inputs: Iterable<readonly [string, unknown]> | Readonly<Record<string, unknown>>) {
    const map = new Map<string, unknown>();
    const entries: Iterable<readonly [string, unknown]> =
      Symbol.iterator in inputs
        ? (inputs as Iterable<readonly [string, unknown]>)
        : Object.entries(inputs);
    // Index loop for arrays: executors build one DagState per multi-parent node, and the
    // iterator protocol with destructuring costs more than the rest of the constructor.
    const list = Array.isArray(entries)
      ? (entries as readonly (readonly [string, unknown])[])
      : [...entries];
    for (let k = 0; k < list.length; k++) {
      const entry = list[k] as readonly [string, unknown];
      const id = entry[0];
      const value = entry[1];
      if (typeof id !== 'string') {
        throw new StateError(
          'PHYS_STATE_UNSUPPORTED',
          `DagState parent ids must be strings, got ${typeof id} (${String(id)}). Use the parent node ids from the DAG.`,
        );
      }
      if (map.has(id)) {
        throw new StateError(
          'PHYS_STATE_UNSUPPORTED',
          `DagState got parent id '${id}' twice. Each parent contributes exactly one input; list it once.`,
          { details: { id } },
        );
      }
      map.set(id, value);
    }
    this.inputs = map;
  }

  /** Number of parents. */
  get size(): number {
    return this.inputs.size;
  }

  /** The output of parent `id` (undefined if there is no such parent). */
  get(id: string): unknown {
    return this.inputs.get(id);
  }

  /** Whether `id` is one of the parents. */
  has(id: string): boolean {
    return this.inputs.has(id);
  }

  /** Parent ids in deps order. */
  keys(): IterableIterator<string> {
    return this.inputs.keys();
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
