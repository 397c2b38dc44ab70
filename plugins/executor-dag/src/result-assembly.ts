import { ExecutionStatus, type SerializedPhysError } from '@phys/core';
import { recordedOrder } from './compile.js';
import type { DagRun } from './dag-run.js';
import {
  type DagCacheSummary,
  DagRunResult,
  type NodeExtras,
  type RunRecord,
  S_CACHED,
  S_CANCELLED,
  S_COMPLETED,
  S_LOOKUP,
} from './run-result.js';

/**
 * Turns a run with nothing left in flight into its {@link DagRunResult}: nodes that never reached
 * a terminal status end CANCELLED, the run's status is decided, metrics and artifacts are
 * recorded in the recorded order, pending cache writes and model packages are awaited, the end
 * is reported to hooks and collectors, and the run's arrays become the result's
 * {@link RunRecord} (read lazily by DagRunResult, not copied).
 */
export async function assembleResult(run: DagRun): Promise<DagRunResult> {
  const dag = run.dag;
  const n = dag.n;
  const observer = run.observer;
  if (run.finishCount < n) {
    // Whatever never reached a terminal status was cancelled (failFast or a cancelled run).
    const reports = observer?.reportsLeftovers === true;
    for (let i = 0; i < n; i++) {
      const s = run.status[i] as number;
      // S_LOOKUP and S_IDLE: queued for, or waiting on, a cache lookup.
      if (s < S_COMPLETED || s >= S_LOOKUP) {
        run.move(i, S_CANCELLED);
        run.finishSeq[run.finishCount++] = i;
        if (reports) observer.nodeEnd(run, i, S_CANCELLED, undefined);
      }
    }
  }
  // A node whose model package fails ends FAILED (completion.ts): before the counts.
  const packages = await run.packaging?.settle();
  const counts = run.countsByStatus();
  const status: ExecutionStatus = run.cancelled
    ? ExecutionStatus.CANCELLED
    : (counts.FAILED ?? 0) + (counts.TIMEOUT ?? 0) + (counts.CANCELLED ?? 0) > 0 || run.stopping
      ? ExecutionStatus.FAILED
      : ExecutionStatus.COMPLETED;

  let orderIdx: Int32Array | undefined;
  // Nodes restored from the cache all carry provenance; only metrics and artifacts need the
  // recorded order (which costs a sort of the ids), so runs without any skip it.
  if (run.extras.size > 0 && recordsAny(run.extras)) {
    orderIdx = recordedOrder(dag);
    for (const i of orderIdx) {
      const extras = run.extras.get(i);
      if (extras === undefined || (extras.metrics === undefined && extras.artifacts === undefined))
        continue;
      try {
        await run.acc.consume(dag.ids[i] as string, {
          state: undefined,
          ...(extras.metrics === undefined ? {} : { metrics: extras.metrics }),
          ...(extras.artifacts === undefined ? {} : { artifacts: extras.artifacts as never }),
        });
      } catch (error) {
        run.logger.warn(`cannot record artifacts of node '${dag.ids[i]}': ${String(error)}`);
      }
    }
  }
  const writes = run.cache?.close();
  if (writes !== undefined) await writes;

  const outputs: Record<string, unknown> = {};
  const { outStart } = dag;
  for (let i = 0; i < n; i++) {
    if (outStart[i] !== outStart[i + 1]) continue;
    const s = run.status[i];
    if (s === S_COMPLETED || s === S_CACHED) outputs[dag.ids[i] as string] = run.outputs[i];
  }
  const durationSeconds = (performance.now() - run.t0) / 1000;
  const firstError = run.firstError;
  const error: SerializedPhysError | undefined =
    status === ExecutionStatus.COMPLETED || firstError === undefined
      ? undefined
      : firstError.toJSON();
  if (observer !== undefined) {
    await observer.runEnd(
      status,
      durationSeconds,
      status === ExecutionStatus.COMPLETED ? undefined : firstError,
      counts,
    );
  }
  const record: RunRecord = {
    dag,
    status: run.status,
    attempts: run.attempts,
    firstStartMs: run.firstStart,
    attemptStartMs: run.attemptStart,
    endMs: run.end,
    errors: run.errors,
    extras: run.extras,
    startSeq: run.startSeq,
    startCount: run.startCount,
    finishSeq: run.finishSeq,
    finishCount: run.finishCount,
    policyHash: run.policyHash,
    ...(packages === undefined ? {} : { packages }),
    notNeeded: run.demand?.notNeeded,
  };
  const counters = run.cacheCounters;
  return new DagRunResult({
    runId: run.runId,
    pipeline: run.pipeline,
    status,
    durationSeconds,
    outputs,
    metrics: run.accumulated?.metrics ?? {},
    artifacts: run.accumulated?.artifacts ?? {},
    counts,
    error,
    hookFailures: observer?.hookFailures ?? [],
    record,
    ...(orderIdx === undefined ? {} : { orderIdx }),
    ...(counters === undefined ? {} : { cache: { ...counters } satisfies DagCacheSummary }),
  });
}

function recordsAny(extras: ReadonlyMap<number, NodeExtras>): boolean {
  for (const e of extras.values()) {
    if (e.metrics !== undefined || e.artifacts !== undefined) return true;
  }
  return false;
}
