import { type CacheEntry, CancelledError, type NodeSpec, type PhysError } from '@phys/core';
import type { DagRun } from './dag-run.js';
import {
  type NodeExtras,
  S_CACHED,
  S_COMPLETED,
  S_FAILED,
  S_PENDING,
  S_READY,
  S_SKIPPED,
  STATUS_NAMES,
} from './run-result.js';

// How a node ends. Every success, on the fast path or the general path, run or restored from the
// cache, goes through recordSuccess; every failure through recordFailure.

/** What a stage returned (or a cache entry holds): the state and what came with it. */
export type StageOutput = {
  readonly state: unknown;
  readonly metrics?: Readonly<Record<string, unknown>>;
  readonly artifacts?: Readonly<Record<string, unknown>>;
  readonly provenance?: Readonly<Record<string, unknown>>;
};

/**
 * Node `i` succeeded with `out`, already checked: the one completion step of the fast path and
 * the general path alike. It records the extras, puts the result in the cache, keeps the output
 * while a sink or a consumer needs it, updates the counts, end time and finish order, releases
 * the node's inputs, reports it to hooks, metrics and progress, settles its key's group, packages
 * its model, and makes ready every dependent whose last dependency this was. With `restored`,
 * the node was restored from the cache instead: it ends CACHED with those extras (its original
 * provenance) and nothing is stored.
 *
 * The fast path calls it for every node, mostly before the JIT has optimised anything, so it is
 * one function with its loops and counters written out (in the interpreter, every call and every
 * property load counts): a step a plain node does not need costs one `undefined` check, and
 * nothing is allocated for a node that returned only a state.
 */
export function recordSuccess(
  run: DagRun,
  i: number,
  out: StageOutput,
  restored?: NodeExtras,
): void {
  let status = S_CACHED;
  if (restored === undefined) {
    status = S_COMPLETED;
    const metrics = out.metrics;
    const artifacts = out.artifacts;
    const provenance = out.provenance;
    if (metrics !== undefined || artifacts !== undefined || provenance !== undefined) {
      run.extras.set(i, {
        ...(metrics === undefined ? {} : { metrics: metrics as Record<string, number> }),
        ...(artifacts === undefined ? {} : { artifacts }),
        ...(provenance === undefined ? {} : { provenance }),
      });
    }
    // Before the node ends: ending it hands the entry to the nodes waiting on its key.
    if (run.cache !== undefined) run.cache.store(i, out);
  } else {
    run.extras.set(i, restored);
  }
  const dag = run.dag;
  const outStart = dag.outStart;
  const consumers = run.consumers;
  const outputs = run.outputs;
  if (outStart[i] === outStart[i + 1] || (consumers[i] as number) > 0) outputs[i] = out.state;
  // run.move(i, status), written out.
  const states = run.status;
  const counts = run.counts;
  const from = states[i] as number;
  counts[from] = (counts[from] as number) - 1;
  counts[status] = (counts[status] as number) + 1;
  states[i] = status;
  if (run.bursting) {
    // The fast path's next clock reading (the next node's start) stamps the end: one clock
    // read per node instead of two (see RunState.endDebt).
    if (run.endDebt >= 0) run.clock();
    run.endDebt = i;
  } else {
    run.end[i] = run.clock();
  }
  run.finishSeq[run.finishCount++] = i;
  // releaseInputs(run, i), written out.
  const depList = dag.depList;
  for (let e = dag.depStart[i] as number, end = dag.depStart[i + 1] as number; e < end; e++) {
    const d = depList[e] as number;
    const left = (consumers[d] as number) - 1;
    consumers[d] = left;
    if (left === 0) outputs[d] = undefined;
  }
  // The fast path reports its nodes to collectors when it is done (fast-path.ts).
  if (run.observer !== undefined && !run.bursting) run.observer.nodeEnd(run, i, status, out);
  if (run.cache !== undefined) run.cache.settle(i, status);
  if (run.packaging !== undefined) {
    run.packaging.add(i, out, status === S_CACHED, {
      runId: run.runId,
      keys: run.cacheKeys,
      failed: (error) => recordPackagingFailure(run, i, error),
    });
  }
  const outList = dag.outList;
  const waiting = run.waiting;
  // Ready times, kept for collectors only: when this node ended. On the fast path its end is not
  // read yet, and nothing is written: a node readied there has 0, and its ready time is its last
  // dependency's end (RunState.readyAt).
  const readyAt = run.bursting ? undefined : run.readyAt;
  const heap = run.heap;
  // Once the run stops, nothing new starts: a node that still completes (a remote job that
  // finished before its cancel arrived) must not refill the ready heap, or the run would wait
  // for it forever. Its dependents stay PENDING and end CANCELLED.
  const stopped = run.stopping;
  let readied = 0;
  for (let e = outStart[i] as number, end = outStart[i + 1] as number; e < end; e++) {
    const w = outList[e] as number;
    const left = (waiting[w] as number) - 1;
    waiting[w] = left;
    if (left === 0 && states[w] === S_PENDING && !stopped) {
      states[w] = S_READY;
      readied++;
      if (readyAt !== undefined) readyAt[w] = run.end[i] as number;
      heap.push(w);
    }
  }
  if (readied > 0) {
    counts[S_PENDING] = (counts[S_PENDING] as number) - readied;
    counts[S_READY] = (counts[S_READY] as number) + readied;
  }
}

/** Node `i` is restored from the cache with `entry`, recorded as `extras`. */
export function recordCached(run: DagRun, i: number, entry: CacheEntry, extras: NodeExtras): void {
  recordSuccess(run, i, entry, extras);
}

/**
 * Node `i` ended FAILED, TIMEOUT or CANCELLED (its error already recorded): counts, end time and
 * finish order, inputs released, reports, its key's group told; then the first failure stops the
 * run (failFast) or skips what depends on it (continue).
 */
export function recordFailure(run: DagRun, i: number, status: number): void {
  run.move(i, status);
  run.end[i] = run.clock();
  run.finishSeq[run.finishCount++] = i;
  releaseInputs(run, i);
  if (run.observer !== undefined) run.observer.nodeEnd(run, i, status, undefined);
  if (run.cache !== undefined) run.cache.settle(i, status);
  if (run.stopping) return;
  run.firstError ??= run.errors.get(i);
  if (run.failFast) {
    const error = run.errors.get(i);
    run.stop(
      new CancelledError(
        `Cancelled because node '${run.dag.ids[i]}' ended ${STATUS_NAMES[status]} (failureMode 'failFast').`,
        error === undefined ? {} : { cause: error },
      ),
    );
  } else {
    skipDependents(run, i);
  }
}

/**
 * Node `i` ended COMPLETED or CACHED, but its model package could not be written. The user asked
 * for the package, so the node ends FAILED with `error` and the run fails as for any failed node:
 * failFast stops it, otherwise what depends on the node and has not started is skipped.
 * Dependents that already started with its output are left to finish.
 */
export function recordPackagingFailure(run: DagRun, i: number, error: PhysError): void {
  const status = run.status[i];
  if (status !== S_COMPLETED && status !== S_CACHED) return;
  run.errors.set(i, error);
  run.move(i, S_FAILED);
  if (run.observer !== undefined) {
    run.observer.error(run.dag.nodes[i] as NodeSpec, error);
    run.observer.progress(run, i);
  }
  if (!run.stopping) {
    run.firstError ??= error;
    if (run.failFast) {
      run.stop(
        new CancelledError(
          `Cancelled because the model package of node '${run.dag.ids[i]}' could not be written (failureMode 'failFast').`,
          { cause: error },
        ),
      );
    } else {
      skipDependents(run, i);
    }
  }
  run.pump();
}

/** failureMode 'continue': everything downstream of node `i` that has not started is SKIPPED. */
export function skipDependents(run: DagRun, i: number): void {
  const { outStart, outList } = run.dag;
  const stack = [i];
  while (stack.length > 0) {
    const v = stack.pop() as number;
    for (let e = outStart[v] as number, end = outStart[v + 1] as number; e < end; e++) {
      const w = outList[e] as number;
      if (run.status[w] !== S_PENDING) continue;
      run.move(w, S_SKIPPED);
      run.finishSeq[run.finishCount++] = w;
      releaseInputs(run, w);
      if (run.observer !== undefined) run.observer.nodeEnd(run, w, S_SKIPPED, undefined);
      stack.push(w);
    }
  }
}

/** Node `i` no longer needs its inputs: a parent whose last consumer this was drops its output. */
export function releaseInputs(run: DagRun, i: number): void {
  const { depStart, depList } = run.dag;
  const consumers = run.consumers;
  for (let e = depStart[i] as number, end = depStart[i + 1] as number; e < end; e++) {
    const d = depList[e] as number;
    const left = (consumers[d] as number) - 1;
    consumers[d] = left;
    if (left === 0) run.outputs[d] = undefined;
  }
}
