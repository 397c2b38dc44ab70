import {
  DagState,
  type GrantedResources,
  type JobHandle,
  type NodeSpec,
  type NodeStatus,
  type PhysError,
} from '@phys/core';
import type { CompiledDag } from './compile.js';
import { IntHeap } from './int-heap.js';
import { type NodeExtras, STATUS_NAMES } from './run-result.js';

/**
 * The integer-indexed state of one run: per node a status, attempts, timings and output; the
 * number of nodes in each status; the ready heap; and what is in flight. The executor's modules
 * read and write its fields directly (no getters), so a hot loop pays a property load per
 * access, or nothing once it holds the field in a local.
 */
export class RunState {
  readonly dag: CompiledDag;
  /** What the roots receive. */
  readonly initial: unknown;

  // ---- per node, by index -----------------------------------------------------------------
  /** One of the S_* states of run-result.ts. */
  readonly status: Uint8Array;
  readonly attempts: Uint16Array;
  /** Dependencies that have not succeeded yet; the node is ready at 0. */
  readonly waiting: Int32Array;
  /** Dependents that have not taken the node's output yet; the output is dropped at 0. */
  readonly consumers: Int32Array;
  readonly outputs: unknown[];
  /** The slots of a running attempt (undefined on the fast path, which passes one grant along). */
  readonly grants: (GrantedResources | undefined)[];
  /** performance.now() of the first attempt's start, of the last attempt's start, of the end. */
  readonly firstStart: Float64Array;
  readonly attemptStart: Float64Array;
  readonly end: Float64Array;
  /**
   * When each node became ready, for the queue times of metrics; kept only when reported. A node
   * the fast path readied has 0 here: it became ready when its last dependency ended, the latest
   * of its dependencies' ends ({@link readyTime}).
   */
  readonly readyAt: Float64Array | undefined;
  readonly errors = new Map<number, PhysError>();
  /** Metrics, artifacts and provenance, for the nodes that produced any. */
  readonly extras = new Map<number, NodeExtras>();

  // ---- the order things happened in -----------------------------------------------------
  readonly startSeq: Int32Array;
  startCount = 0;
  readonly finishSeq: Int32Array;
  finishCount = 0;
  /** Nodes in each S_* state. */
  readonly counts = new Int32Array(12);
  /**
   * A node whose end time is the next clock reading (-1: none). While the fast path runs nodes
   * back to back, a node's end is stamped by the next clock reading (the next node's start, or
   * the end of the ready loop): one clock read per node instead of two.
   */
  endDebt = -1;
  /** True while the fast path runs a node in place (see fast-path.ts). */
  bursting = false;

  // ---- in flight --------------------------------------------------------------------------
  readonly heap: IntHeap;
  running = 0;
  /** Nodes waiting out a retry backoff. */
  delayed = 0;
  /** Cache lookups under way. */
  lookups = 0;
  /** Only attempts with a timeout or outside this thread get their own controller. */
  readonly controllers = new Map<number, { abort(reason?: unknown): void }>();
  readonly timers = new Map<number, NodeJS.Timeout>();
  readonly retryTimers = new Map<number, NodeJS.Timeout>();
  /** Inline attempts whose stage returned a promise: nothing can interrupt them. */
  readonly inlineAsync = new Set<number>();
  readonly handles = new Map<number, JobHandle>();
  /**
   * Attempts submitted to a scheduler that reports starts (`capabilities.reportsStart`) and not
   * started yet: waiting in its queue.
   */
  readonly inQueue = new Set<number>();
  /**
   * When the current attempts of nodes submitted to such a scheduler started running
   * (performance.now()), -1 until their scheduler says so.
   */
  readonly runningSince = new Map<number, number>();
  readonly #scratch: ([string[], unknown[]] | undefined)[] = [];

  constructor(dag: CompiledDag, initial: unknown, keepReadyTimes: boolean) {
    const n = dag.n;
    this.dag = dag;
    this.initial = initial;
    // Every per-node typed array carved out of one buffer: one allocation, not nine (or ten, with
    // the ready times collectors need).
    const buffer = new ArrayBuffer(n * ((keepReadyTimes ? 4 : 3) * 8 + 4 * 4 + 2 + 1) + 64);
    let at = 0;
    const carve = <T>(
      make: (b: ArrayBuffer, offset: number, length: number) => T,
      bytes: number,
    ): T => {
      const view = make(buffer, at, n);
      at += Math.ceil((n * bytes) / 8) * 8;
      return view;
    };
    this.firstStart = carve((b, o, l) => new Float64Array(b, o, l), 8);
    this.attemptStart = carve((b, o, l) => new Float64Array(b, o, l), 8);
    this.end = carve((b, o, l) => new Float64Array(b, o, l), 8);
    this.readyAt = keepReadyTimes ? carve((b, o, l) => new Float64Array(b, o, l), 8) : undefined;
    this.waiting = carve((b, o, l) => new Int32Array(b, o, l), 4);
    this.consumers = carve((b, o, l) => new Int32Array(b, o, l), 4);
    this.startSeq = carve((b, o, l) => new Int32Array(b, o, l), 4);
    this.finishSeq = carve((b, o, l) => new Int32Array(b, o, l), 4);
    this.attempts = carve((b, o, l) => new Uint16Array(b, o, l), 2);
    this.status = carve((b, o, l) => new Uint8Array(b, o, l), 1);
    this.outputs = new Array<unknown>(n);
    this.grants = new Array<GrantedResources | undefined>(n);
    this.heap = new IntHeap(Math.min(n, 1024));
  }

  /** Node `i` goes to state `to`, keeping the counts by state. */
  move(i: number, to: number): void {
    const counts = this.counts;
    const from = this.status[i] as number;
    counts[from] = (counts[from] as number) - 1;
    counts[to] = (counts[to] as number) + 1;
    this.status[i] = to;
  }

  /** Reads the clock, first settling the end time a node left owing. */
  clock(): number {
    const now = performance.now();
    const debt = this.endDebt;
    if (debt >= 0) {
      this.end[debt] = now;
      this.endDebt = -1;
    }
    return now;
  }

  /**
   * Node `i`'s input: the initial state, its one parent's output, or a DagState of its parents,
   * each under the name the node's `inputNames` gives it (a sweep copy's parents under their
   * declared ids), else under its id.
   */
  input(i: number): unknown {
    const dag = this.dag;
    const start = dag.depStart[i] as number;
    const end = dag.depStart[i + 1] as number;
    if (start === end) return this.initial;
    if (end - start === 1) return this.outputs[dag.depList[start] as number];
    // DagState copies the two arrays it is given, so one scratch pair of arrays per arity is
    // reused (and its outputs emptied again) instead of allocating two more arrays per node.
    const arity = end - start;
    let scratch = this.#scratch[arity];
    if (scratch === undefined) {
      scratch = [new Array<string>(arity).fill(''), new Array<unknown>(arity).fill(undefined)];
      this.#scratch[arity] = scratch;
    }
    // Index access, not destructuring: array destructuring runs the iterator protocol, which
    // costs more than the rest of this method until the JIT optimises it.
    const ids = scratch[0];
    const values = scratch[1];
    const outputs = this.outputs;
    const depList = dag.depList;
    const names = dag.ids;
    const renamed = (dag.nodes[i] as NodeSpec).inputNames;
    for (let e = start; e < end; e++) {
      const d = depList[e] as number;
      const id = names[d] as string;
      ids[e - start] =
        renamed !== undefined && Object.hasOwn(renamed, id) ? (renamed[id] as string) : id;
      values[e - start] = outputs[d];
    }
    const state = new DagState(ids, values);
    for (let k = 0; k < arity; k++) values[k] = undefined;
    return state;
  }

  /** The counts by public status name (several S_* states map onto QUEUED). */
  countsByStatus(): Partial<Record<NodeStatus, number>> {
    const out: Partial<Record<NodeStatus, number>> = {};
    const c = this.counts;
    for (let s = 0; s < c.length; s++) {
      const v = c[s] as number;
      if (v === 0) continue;
      const name = STATUS_NAMES[s] as NodeStatus;
      out[name] = (out[name] ?? 0) + v;
    }
    return out;
  }
}

/**
 * When node `i` became ready (performance.now(); 0 when ready times are not kept): its stamp in
 * `readyAt`, or for a node its dependencies' success readied on the fast path (which stamps
 * nothing), the latest of their ends.
 */
export function readyTime(run: RunState, i: number): number {
  const readyAt = run.readyAt;
  if (readyAt === undefined) return 0;
  const at = readyAt[i] as number;
  if (at > 0) return at;
  const { depStart, depList } = run.dag;
  const end = run.end;
  let ready = 0;
  for (let e = depStart[i] as number, stop = depStart[i + 1] as number; e < stop; e++) {
    const t = end[depList[e] as number] as number;
    if (t > ready) ready = t;
  }
  return ready;
}
