import {
  CancelledError,
  deserializeError,
  ExecutionStatus,
  hashState,
  type NodeSpec,
  PhysError,
  type ResourceRequirements,
  retryDelaySeconds,
  StageContractError,
  StageExecutionError,
  shouldRetry,
  type TaskOutcome,
  TimeoutError,
} from '@phys/core';
import { ISO_INLINE } from './compile.js';
import { recordFailure, recordSuccess, type StageOutput } from './completion.js';
import type { DagRun } from './dag-run.js';
import { S_CANCELLED, S_DELAYED, S_FAILED, S_READY, S_RUNNING, S_TIMEOUT } from './run-result.js';

// How an attempt ends: its result checked, its slots, timer and controller given back, and on
// failure a retry after the backoff or the end of the node. Timer callbacks are module functions
// that get the run and the node as timer arguments: no closure per attempt.

/** Whether attempt `attempt` is still node `i`'s current one (a late result of an earlier one is ignored). */
export function isCurrent(run: DagRun, i: number, attempt: number): boolean {
  return run.status[i] === S_RUNNING && run.attempts[i] === attempt;
}

/**
 * Attempt `attempt` of node `i` returned `out`: it is checked against the stage contract (and,
 * in strict mode, for a mutated input) before the node is recorded as succeeded.
 */
export function attemptSucceeded(
  run: DagRun,
  i: number,
  attempt: number,
  out: StageOutput,
  input: unknown,
  before: string | undefined,
): void {
  if (!isCurrent(run, i, attempt)) return;
  if (typeof out !== 'object' || out === null || !('state' in out)) {
    const node = run.dag.nodes[i] as NodeSpec;
    attemptFailed(
      run,
      i,
      attempt,
      new StageContractError(
        `Stage '${node.stage.label}' (node '${node.id}') returned ${out === null ? 'null' : typeof out}; process() must return { state, metrics?, artifacts?, provenance? }.`,
        { details: { nodeId: node.id } },
      ),
    );
    return;
  }
  if (before !== undefined && hashState(input) !== before) {
    const node = run.dag.nodes[i] as NodeSpec;
    attemptFailed(
      run,
      i,
      attempt,
      new StageContractError(
        `Stage '${node.stage.label}' (node '${node.id}') mutated its input state. Stages must return new state instead of changing their input, which other nodes may share (detected by strict mode).`,
        { details: { nodeId: node.id } },
      ),
    );
    return;
  }
  const metrics = out.metrics;
  if (metrics !== undefined) {
    const bad = badMetric(metrics);
    if (bad !== undefined) {
      const node = run.dag.nodes[i] as NodeSpec;
      attemptFailed(
        run,
        i,
        attempt,
        new StageContractError(
          `Metric '${bad}' of stage '${node.stage.label}' (node '${node.id}') must be a scalar finite number, got ${describe(metrics[bad])}. Put arrays and other data in artifacts instead.`,
          { details: { nodeId: node.id, metric: bad } },
        ),
      );
      return;
    }
  }
  endAttempt(run, i);
  recordSuccess(run, i, out);
}

/** An attempt that ran outside the ready loop failed: record it, then fill the freed slots. */
export function failedAsync(run: DagRun, i: number, attempt: number, error: unknown): void {
  attemptFailed(run, i, attempt, toPhysError(run, i, error));
  run.pump();
}

/** Attempt `attempt` of node `i` failed: retry it (after its backoff) or end the node. */
export function attemptFailed(run: DagRun, i: number, attempt: number, error: PhysError): void {
  if (!isCurrent(run, i, attempt)) return;
  endAttempt(run, i);
  const node = run.dag.nodes[i] as NodeSpec;
  if (!run.stopping && shouldRetry(node.retry, attempt, error)) {
    run.observer?.retry(node, attempt + 1, error);
    run.logger.warn(`node '${node.id}' failed (attempt ${attempt}), retrying: ${error.message}`, {
      node: node.id,
      code: error.code,
    });
    const delay = retryDelaySeconds(node.retry as NonNullable<NodeSpec['retry']>, attempt);
    run.move(i, S_DELAYED);
    run.delayed++;
    if (delay <= 0) {
      requeue(run, i);
    } else {
      run.retryTimers.set(i, setTimeout(retryNow, delay * 1000, run, i));
    }
    return;
  }
  run.errors.set(i, error);
  const status =
    error.code === 'PHYS_TIMEOUT'
      ? S_TIMEOUT
      : error.code === 'PHYS_CANCELLED'
        ? S_CANCELLED
        : S_FAILED;
  if (status !== S_CANCELLED) run.observer?.error(node, error);
  recordFailure(run, i, status);
}

/** Ends the current attempt: returns its slots, clears its timer and controller. */
export function endAttempt(run: DagRun, i: number): void {
  run.running--;
  const grant = run.grants[i];
  run.grants[i] = undefined;
  if (run.local !== undefined && grant !== undefined) {
    run.local.release(grant, run.dag.resources[i] as ResourceRequirements);
  }
  // A task that ends while still in its scheduler's queue leaves it (see dispatch.ts).
  if (run.inQueue.size > 0) run.inQueue.delete(i);
  if (run.controllers.size > 0) {
    run.controllers.delete(i);
    const timer = run.timers.get(i);
    if (timer !== undefined) {
      clearTimeout(timer);
      run.timers.delete(i);
    }
    run.handles.delete(i);
  }
}

/** The timer of an attempt with `timeoutSeconds` (armed by dispatch.ts). */
export function onTimeout(run: DagRun, i: number, attempt: number): void {
  if (!isCurrent(run, i, attempt)) return;
  run.timers.delete(i);
  const node = run.dag.nodes[i] as NodeSpec;
  const error = new TimeoutError(
    `Node '${node.id}' exceeded its timeout of ${node.timeoutSeconds} s (attempt ${attempt}).`,
    { details: { nodeId: node.id, attempt, timeoutSeconds: node.timeoutSeconds } },
  );
  run.controllers.get(i)?.abort(error);
  const handle = run.handles.get(i);
  if (handle !== undefined) void run.scheduler.cancel(handle).catch(() => undefined);
  // Inline work cannot be stopped from outside: the attempt ends now and its late result is
  // ignored. Threads and processes are stopped by their runner, which then reports the timeout.
  if (run.local !== undefined && run.dag.isolation[i] === ISO_INLINE) {
    run.inlineAsync.delete(i);
    attemptFailed(run, i, attempt, error);
    run.pump();
  }
}

/** The backoff of node `i` is over. */
function retryNow(run: DagRun, i: number): void {
  run.retryTimers.delete(i);
  if (run.status[i] !== S_DELAYED || run.finished) return;
  requeue(run, i);
  run.pump();
}

function requeue(run: DagRun, i: number): void {
  run.delayed--;
  run.move(i, S_READY);
  if (run.readyAt !== undefined) run.readyAt[i] = performance.now();
  run.heap.push(i);
}

/** A PhysError as it is, anything else thrown by a stage as a StageExecutionError. */
export function toPhysError(run: DagRun, i: number, error: unknown): PhysError {
  if (PhysError.is(error)) return error;
  const node = run.dag.nodes[i] as NodeSpec;
  const message = error instanceof Error ? error.message : String(error);
  return new StageExecutionError(
    node.stage.label,
    `Stage '${node.stage.label}' (node '${node.id}') failed: ${message}`,
    { cause: error, details: { nodeId: node.id } },
  );
}

/** The error of a scheduler task that did not complete. */
export function outcomeError(outcome: TaskOutcome, nodeId: string): PhysError {
  if (outcome.error !== undefined) return deserializeError(outcome.error);
  if (outcome.status === ExecutionStatus.TIMEOUT)
    return new TimeoutError(`Node '${nodeId}' timed out.`);
  if (outcome.status === ExecutionStatus.CANCELLED)
    return new CancelledError(`Node '${nodeId}' was cancelled.`);
  return new PhysError(
    'PHYS_TASK_FAILED',
    `Node '${nodeId}' ended ${outcome.status} without an error.`,
  );
}

/** The first metric that is not a finite number, a boolean or a bigint that fits a number. */
function badMetric(metrics: Readonly<Record<string, unknown>>): string | undefined {
  for (const key in metrics) {
    const v = metrics[key];
    if (
      typeof v === 'number' ? !Number.isFinite(v) : typeof v !== 'boolean' && typeof v !== 'bigint'
    )
      return key;
    if (typeof v === 'bigint' && !Number.isFinite(Number(v))) return key;
  }
  return undefined;
}

function describe(value: unknown): string {
  return typeof value === 'object' && value !== null
    ? (value.constructor?.name ?? 'object')
    : String(value);
}
