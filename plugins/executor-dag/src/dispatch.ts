import {
  ExecutionStatus,
  type GrantedResources,
  hashState,
  type Isolation,
  type NodeSpec,
  type ResourceRequirements,
  type SchedulerTask,
  type StageResult,
  type TaskOutcome,
} from '@phys/core';
import {
  attemptFailed,
  attemptSucceeded,
  failedAsync,
  isCurrent,
  onTimeout,
  outcomeError,
  toPhysError,
} from './attempts.js';
import { ISO_INLINE, ISO_THREAD } from './compile.js';
import type { StageOutput } from './completion.js';
import type { DagRun } from './dag-run.js';
import type { RemoteJob } from './local-scheduler.js';
import { NodeContext } from './node-context.js';
import type { AbortSource } from './public-types.js';
import { S_RUNNING } from './run-result.js';
import type { RunState } from './run-state.js';
import { AttemptAbort } from './thread-runner.js';

// How an attempt starts and where it runs: inline in this thread, on a worker thread or in a
// child process of the LocalScheduler, or as a task of any other Scheduler.

const ISOLATION_NAMES: readonly Isolation[] = ['inline', 'thread', 'process'];

/**
 * Counts a new attempt of node `i` and stamps its start (the clock reading also ends a node that
 * left its end owing); returns the attempt's number. The fast path does the same, written out.
 */
function beginAttempt(run: RunState, i: number): number {
  const attempt = (run.attempts[i] as number) + 1;
  run.attempts[i] = attempt;
  const now = run.clock();
  if (attempt === 1) {
    run.firstStart[i] = now;
    run.startSeq[run.startCount++] = i;
  }
  run.attemptStart[i] = now;
  return attempt;
}

/**
 * Starts an attempt of ready node `i` holding `grant`: the general path of the ready loop. With
 * `pipelined`, the grant was admitted beyond the free slots (LocalDispatch.tryPipeline).
 */
export function launch(run: DagRun, i: number, grant: GrantedResources, pipelined = false): void {
  const dag = run.dag;
  const node = dag.nodes[i] as NodeSpec;
  const stage = node.stage;
  run.move(i, S_RUNNING);
  run.running++;
  const attempt = beginAttempt(run, i);
  run.grants[i] = grant;
  const input = run.input(i);
  const local = run.local;
  // A scheduler that reports starts queues the task first: it starts running later (started()).
  const queued = local === undefined && run.scheduler.capabilities.reportsStart === true;
  if (queued) {
    run.inQueue.add(i);
    run.runningSince.set(i, -1);
  }
  if (run.observer !== undefined) {
    run.observer.nodeStart(run, i, attempt, input, run.attemptStart[i] as number, queued);
  }
  const iso = dag.isolation[i] as number;
  const timeout = node.timeoutSeconds;
  // Inline attempts without a timeout share the run's signal: no controller per node. A thread
  // attempt's abort goes to its pool (the stage gets its signal in the worker): a small object.
  let signal: AbortSource = run.runSignal;
  if (timeout !== undefined || iso !== ISO_INLINE || local === undefined) {
    if (iso === ISO_THREAD && local !== undefined) {
      const abort = new AttemptAbort();
      run.controllers.set(i, abort);
      signal = abort;
    } else {
      const ctrl = new AbortController();
      run.controllers.set(i, ctrl);
      signal = ctrl.signal;
    }
    if (timeout !== undefined) {
      run.timers.set(i, setTimeout(onTimeout, timeout * 1000, run, i, attempt));
    }
  }
  if (local === undefined) {
    submit(run, i, attempt, input, signal as AbortSignal, queued);
    return;
  }
  if (iso !== ISO_INLINE) {
    const job: RemoteJob = {
      runId: run.runId,
      nodeId: dag.ids[i] as string,
      attempt,
      stage: stage.ref,
      label: stage.label,
      policy: run.policyObject(),
      input,
      resources: grant,
      ...(run.artifactsDir === undefined ? {} : { artifactsDir: run.artifactsDir }),
      ...(node.point === undefined ? {} : { point: node.point }),
    };
    local.run(ISOLATION_NAMES[iso] as Isolation, job, signal, run.configFile, pipelined).then(
      (out) => {
        attemptSucceeded(run, i, attempt, out, undefined, undefined);
        run.pump();
      },
      (error: unknown) => failedAsync(run, i, attempt, error),
    );
    return;
  }
  const before = run.strict ? hashState(input) : undefined;
  let out: StageResult | Promise<StageResult>;
  try {
    out = stage.process(
      input,
      new NodeContext(
        run,
        stage.config,
        signal as AbortSignal,
        grant,
        dag.ids[i] as string,
        attempt,
        node.point,
      ),
    );
  } catch (error) {
    attemptFailed(run, i, attempt, toPhysError(run, i, error));
    return;
  }
  afterProcess(run, i, attempt, out, input, before);
}

/** Completes an inline attempt synchronously, or waits for the promise it returned. */
export function afterProcess(
  run: DagRun,
  i: number,
  attempt: number,
  out: StageResult | Promise<StageResult>,
  input: unknown,
  before: string | undefined,
): void {
  if (
    out !== null &&
    typeof out === 'object' &&
    typeof (out as Promise<StageResult>).then === 'function'
  ) {
    run.inlineAsync.add(i);
    (out as Promise<StageResult>).then(
      (result) => {
        run.inlineAsync.delete(i);
        attemptSucceeded(run, i, attempt, result, input, before);
        run.pump();
      },
      (error: unknown) => {
        run.inlineAsync.delete(i);
        attemptFailed(run, i, attempt, toPhysError(run, i, error));
        run.pump();
      },
    );
    return;
  }
  attemptSucceeded(run, i, attempt, out as StageResult, input, before);
}

/**
 * Attempt `attempt` of node `i`, queued in a scheduler that reports starts, started running: it
 * leaves the queue, and collectors hear of its start (with the time it waited since it was ready).
 */
function started(run: DagRun, i: number, attempt: number): void {
  if (!isCurrent(run, i, attempt) || !run.inQueue.delete(i)) return;
  const now = performance.now();
  run.runningSince.set(i, now);
  run.observer?.nodeRunning(run, i, attempt, now);
}

/** Runs an attempt as a task of a scheduler seen only through the Scheduler contract. */
function submit(
  run: DagRun,
  i: number,
  attempt: number,
  input: unknown,
  signal: AbortSignal,
  queued: boolean,
): void {
  const dag = run.dag;
  const node = dag.nodes[i] as NodeSpec;
  const task: SchedulerTask = {
    runId: run.runId,
    nodeId: dag.ids[i] as string,
    stage: node.stage.ref,
    resources: dag.resources[i] as ResourceRequirements,
    attempt,
    input,
    policy: run.policyObject(),
    signal,
    ...(node.timeoutSeconds === undefined ? {} : { timeoutSeconds: node.timeoutSeconds }),
    ...(node.point === undefined ? {} : { point: node.point }),
    ...(queued ? { onRunning: () => started(run, i, attempt) } : {}),
  };
  const scheduler = run.scheduler;
  scheduler
    .submit(task)
    .then((handle) => {
      if (!isCurrent(run, i, attempt)) {
        void scheduler.cancel(handle).catch(() => undefined);
        return undefined;
      }
      run.handles.set(i, handle);
      return scheduler.wait(handle);
    })
    .then(
      (outcome: TaskOutcome | undefined) => {
        if (outcome === undefined) return;
        if (outcome.status === ExecutionStatus.COMPLETED) {
          attemptSucceeded(run, i, attempt, outcome as StageOutput, undefined, undefined);
          run.pump();
        } else {
          failedAsync(run, i, attempt, outcomeError(outcome, dag.ids[i] as string));
        }
      },
      (error: unknown) => failedAsync(run, i, attempt, error),
    );
}
