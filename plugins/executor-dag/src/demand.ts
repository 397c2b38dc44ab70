import type { NodeSpec } from '@phys/core';
import { releaseInputs, skipDependents } from './completion.js';
import type { DagRun } from './dag-run.js';
import {
  S_CANCELLED,
  S_FAILED,
  S_IDLE,
  S_LOOKUP,
  S_PENDING,
  S_READY,
  S_SKIPPED,
  S_TIMEOUT,
} from './run-result.js';

// What a run with a cache needs. Its outputs (the nodes nothing depends on, and the nodes marked
// `modelArtifact`) are needed; so is every dependency of a node that runs. Everything else is only
// looked up: restored when the cache holds it (or when this run computes its key for another
// node), and otherwise SKIPPED as not needed, never run. So the nodes are looked up from the
// outputs towards the roots: a node is looked up once it is needed, or once none of its
// dependents can need it any more (each was restored, or is not needed itself); a node that is
// needed and missing runs, and makes its dependencies needed. Keys are derived from configs and
// the keys upstream before anything runs, so a result restored downstream is correct whether or
// not its ancestors ran.

/** Which nodes of a cached run are needed, and the order they are looked up in. */
export class Demand {
  /** 1: an output of the run, or a dependency of a node that runs (fixed once it is looked up). */
  readonly needed: Uint8Array;
  /** 1 for a node SKIPPED because nothing needed it (the result tells it from other skips). */
  readonly notNeeded: Uint8Array;
  /** Dependents that have not yet settled whether they need the node. */
  readonly #holds: Int32Array;
  /** 1 once a node settled what it needs of its dependencies: all of them, or none. */
  readonly #settled: Uint8Array;
  readonly #run: DagRun;

  constructor(run: DagRun) {
    const n = run.dag.n;
    this.#run = run;
    this.needed = new Uint8Array(n);
    this.notNeeded = new Uint8Array(n);
    this.#holds = new Int32Array(n);
    this.#settled = new Uint8Array(n);
  }

  /** Every node waits IDLE but the run's outputs, which are needed and looked up first. */
  start(): void {
    const run = this.#run;
    const { n, outStart, nodes } = run.dag;
    const holds = this.#holds;
    run.status.fill(S_IDLE);
    run.counts[S_IDLE] = n;
    for (let i = 0; i < n; i++) {
      const dependents = (outStart[i + 1] as number) - (outStart[i] as number);
      holds[i] = dependents;
      if (dependents === 0 || (nodes[i] as NodeSpec).modelArtifact === true) {
        this.needed[i] = 1;
        this.#queue(i);
      }
    }
  }

  /** Node `i` will not run (restored, or not needed): its dependencies may not be needed. */
  release(i: number): void {
    if (this.#settled[i] === 1) return;
    this.#settled[i] = 1;
    const run = this.#run;
    const { depStart, depList } = run.dag;
    const holds = this.#holds;
    const status = run.status;
    for (let e = depStart[i] as number, end = depStart[i + 1] as number; e < end; e++) {
      const d = depList[e] as number;
      const left = (holds[d] as number) - 1;
      holds[d] = left;
      if (left === 0 && status[d] === S_IDLE) this.#queue(d);
    }
  }

  /**
   * Node `i` (looked up) has no result to restore: it runs if it is needed, after its
   * dependencies, which become needed; otherwise it is SKIPPED as not needed.
   */
  missed(i: number): void {
    if (this.needed[i] === 0) {
      this.skipNotNeeded(i);
      return;
    }
    const run = this.#run;
    const { depStart, depList } = run.dag;
    const status = run.status;
    const start = depStart[i] as number;
    const end = depStart[i + 1] as number;
    for (let e = start; e < end; e++) {
      const s = status[depList[e] as number] as number;
      if (s === S_FAILED || s === S_TIMEOUT || s === S_CANCELLED || s === S_SKIPPED) {
        // failureMode 'continue': a dependency already failed or was skipped, so this node
        // cannot run; neither can what waits for it.
        this.release(i);
        run.move(i, S_SKIPPED);
        run.finishSeq[run.finishCount++] = i;
        releaseInputs(run, i);
        if (run.observer !== undefined) run.observer.nodeEnd(run, i, S_SKIPPED, undefined);
        run.cache?.settle(i, S_SKIPPED);
        skipDependents(run, i);
        return;
      }
    }
    this.#settled[i] = 1;
    const needed = this.needed;
    for (let e = start; e < end; e++) {
      const d = depList[e] as number;
      needed[d] = 1;
      if (status[d] === S_IDLE) this.#queue(d);
    }
    if (run.waiting[i] === 0) {
      run.move(i, S_READY);
      if (run.readyAt !== undefined) run.readyAt[i] = performance.now();
      run.heap.push(i);
    } else {
      run.move(i, S_PENDING);
    }
  }

  /** Node `i` ends SKIPPED: no node that runs and no output of the run needs its result. */
  skipNotNeeded(i: number): void {
    const run = this.#run;
    this.release(i);
    this.notNeeded[i] = 1;
    run.move(i, S_SKIPPED);
    run.finishSeq[run.finishCount++] = i;
    releaseInputs(run, i);
    if (run.observer !== undefined) run.observer.nodeEnd(run, i, S_SKIPPED, undefined);
  }

  /** Node `i` is to be looked up: the ready loop takes it (see DagRun.pump). */
  #queue(i: number): void {
    this.#run.move(i, S_LOOKUP);
    this.#run.heap.push(i);
  }
}
