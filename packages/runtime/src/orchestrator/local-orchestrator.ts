import { randomUUID } from 'node:crypto';
import {
  CancelledError,
  type ConfigIssue,
  deserializeError,
  ExecutionStatus,
  formatIssues,
  type Logger,
  type NamedPipeline,
  type NodeStatus,
  type Orchestrator,
  type OrchestratorRetryPolicy,
  PhysError,
  type RunEvent,
  type RunFilter,
  type RunNodeRecord,
  type RunPage,
  type RunPipelineOptions,
  type RunRecord,
  retryDelaySeconds,
  retryPolicyIssues,
  type SerializedPhysError,
  type SubmissionResult,
  serializeError,
  shouldRetry,
  TimeoutError,
  UsageError,
  type WaitOptions,
} from '@phys/core';
import type { PhysRuntime } from '../runtime.js';
import { closestNames, didYouMean } from '../suggest.js';
import { executeRun, type RunLogLine, type RunOutcome } from './execute-run.js';
import { MemoryRunStore } from './memory-run-store.js';
import type { NewRunEvent, RunStore } from './run-store.js';
import { runNotFound } from './store-support.js';
import { assertTransition, isRunTerminal } from './transitions.js';

/** Options of {@link LocalOrchestrator}. @public */
export interface LocalOrchestratorOptions {
  /** Where runs and their events are kept (default: a {@link MemoryRunStore}). */
  readonly store?: RunStore;
  /**
   * How many runs execute at once (default 1: runs share the process's worker pool, so one at a
   * time keeps each as fast as `phys run`; a server raises it). Queued runs wait, higher
   * `priority` first, first come first served within a priority.
   */
  readonly maxConcurrentRuns?: number;
  /** Run-level retry of every run that brings none of its own (default: no retry). */
  readonly retryPolicy?: OrchestratorRetryPolicy;
  /** Default: the runtime's logger. */
  readonly logger?: Logger;
}

/**
 * What {@link LocalOrchestrator.execute} receives besides the pipeline and the run id.
 * @public
 */
export interface ExecuteContext {
  /** The attempt (1-based). */
  readonly attempt: number;
  /** Laid over the config's and the pipeline's policy. */
  readonly params: Readonly<Record<string, unknown>>;
  /** Aborted when the run is cancelled or the orchestrator closes. */
  readonly signal: AbortSignal;
  /** Tell the orchestrator of a node's (or stage's) status change. */
  readonly onNode: (node: string, status: NodeStatus) => void;
  /** Tell the orchestrator of a log line of the run. */
  readonly onLog: (line: RunLogLine) => void;
}

/** What {@link LocalOrchestrator.submit} returns. @public */
export interface SubmittedRun {
  /** The run, as {@link LocalOrchestrator.runPipeline} returns it. */
  readonly submission: SubmissionResult;
  /** Whether this submission created the run (`false`: the run id existed already). */
  readonly created: boolean;
}

/** What {@link LocalOrchestrator.recover} did, by job id. @public */
export interface RecoveryReport {
  /** Runs that were RUNNING and start again as a new attempt. */
  readonly resumed: readonly string[];
  /** Runs that were RUNNING with no attempt left: now FAILED with `PHYS_SERVER_RESTARTED`. */
  readonly failed: readonly string[];
  /** Runs that were QUEUED and are queued again. */
  readonly queued: readonly string[];
}

const RUN_ID = /^[A-Za-z0-9._-]{1,128}$/;

interface QueuedRun {
  readonly jobId: string;
  readonly priority: number;
  /** Queue order: the tie-break within a priority. */
  readonly order: number;
  readonly pipeline: NamedPipeline;
  readonly params: Readonly<Record<string, unknown>>;
  readonly retryPolicy: OrchestratorRetryPolicy | undefined;
  /** The attempt that ran last (0 when the run never started). */
  readonly attempt: number;
  /** The status the store holds: QUEUED, or RUNNING for a run resumed after a restart. */
  readonly status: ExecutionStatus;
  /** When the run first started (a resumed run keeps it). */
  readonly startedAt: string | undefined;
}

interface ActiveRun {
  readonly controller: AbortController;
  /** Settles once the run has written its last record. */
  settled: Promise<void>;
  cancelRequested: boolean;
}

/** Sleeps `seconds`, or less when `signal` aborts. */
function sleep(seconds: number, signal: AbortSignal): Promise<void> {
  if (seconds <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, seconds * 1000);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** The problems of `value` as JSON (functions, undefined, non-finite numbers, bigints, ...). */
function jsonIssues(value: unknown, path: string, issues: ConfigIssue[], depth = 0): void {
  if (depth > 64) {
    issues.push({ path, message: 'is nested too deeply (more than 64 levels)' });
    return;
  }
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) issues.push({ path, message: `${value} is not a JSON number` });
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      jsonIssues(v, `${path}.${i}`, issues, depth + 1);
    });
    return;
  }
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const [k, v] of Object.entries(value)) {
      jsonIssues(v, path === '' ? k : `${path}.${k}`, issues, depth + 1);
    }
    return;
  }
  const what = typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value;
  issues.push({ path, message: `must be a JSON value (got ${what})` });
}

/** JSON with sorted keys: equal values give equal text. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

function nowIso(): string {
  return new Date().toISOString();
}

function secondsBetween(from: string | undefined, to: string): number {
  return from === undefined ? 0 : Math.max(0, (Date.parse(to) - Date.parse(from)) / 1000);
}

/**
 * Runs whole pipelines in this process: the default `orchestrator` of a runtime
 * (`runtime.orchestrator`), and what `phys serve` runs over its durable store.
 *
 * `runPipeline` writes the run to the store as QUEUED before it returns; a queue starts at most
 * `maxConcurrentRuns` at once (higher priority first, FIFO within one); a run moves QUEUED →
 * RUNNING → COMPLETED | FAILED | CANCELLED | TIMEOUT and never back, every change written to the
 * store (with a `status` event) before anyone hears of it. A failed attempt is retried as the
 * run's retry policy says, under the same run id, so finished nodes come back from the cache.
 *
 * A custom orchestrator extends this class and overrides {@link LocalOrchestrator.execute}.
 * @public
 */
export class LocalOrchestrator implements Orchestrator {
  /** `local`. */
  readonly name: string = 'local';
  /** The runtime whose config, plugins and executor the runs use. */
  protected readonly runtime: PhysRuntime;
  readonly #store: RunStore;
  readonly #ownStore: boolean;
  readonly #maxConcurrentRuns: number;
  readonly #retryPolicy: OrchestratorRetryPolicy | undefined;
  readonly #logger: Logger;
  /** Runs waiting for a slot, in start order (see #enqueue). */
  #queue: QueuedRun[] = [];
  #order = 0;
  readonly #active = new Map<string, ActiveRun>();
  readonly #cancelling = new Map<string, Promise<boolean>>();
  readonly #listeners = new Map<string, Set<() => void>>();
  #closing = false;
  #closed: Promise<void> | undefined;

  constructor(runtime: PhysRuntime, options: LocalOrchestratorOptions = {}) {
    const max = options.maxConcurrentRuns ?? 1;
    if (!Number.isInteger(max) || max < 1) {
      throw new UsageError(
        `maxConcurrentRuns must be a whole number ≥ 1 (runs executing at once), got ${String(max)}.`,
      );
    }
    if (options.retryPolicy !== undefined) checkRetryPolicy(options.retryPolicy, 'retryPolicy');
    this.runtime = runtime;
    this.#store = options.store ?? new MemoryRunStore();
    this.#ownStore = options.store === undefined;
    this.#maxConcurrentRuns = max;
    this.#retryPolicy = options.retryPolicy;
    this.#logger = (options.logger ?? runtime.logger).child({ orchestrator: 'local' });
  }

  /** The store the runs are kept in. */
  get store(): RunStore {
    return this.#store;
  }

  /** How many runs execute at once. */
  get maxConcurrentRuns(): number {
    return this.#maxConcurrentRuns;
  }

  /** Runs waiting for a slot, and runs executing. */
  get load(): { readonly queued: number; readonly running: number } {
    return { queued: this.#queue.length, running: this.#active.size };
  }

  /** {@inheritDoc @phys/core#Orchestrator.runPipeline} */
  async runPipeline(
    pipeline: string | NamedPipeline,
    options: RunPipelineOptions = {},
  ): Promise<SubmissionResult> {
    return (await this.submit(pipeline, options)).submission;
  }

  /**
   * {@link LocalOrchestrator.runPipeline}, telling besides whether this call created the run
   * (`false`: a run with that `runId` existed, and the same submission is returned): a server
   * answers 201 or 200 from it. Of concurrent submissions of one run id exactly one creates it.
   */
  async submit(
    pipeline: string | NamedPipeline,
    options: RunPipelineOptions = {},
  ): Promise<SubmittedRun> {
    this.#assertOpen();
    const declaration = this.#declaration(pipeline);
    const jobId = options.runId ?? randomUUID();
    if (typeof jobId !== 'string' || !RUN_ID.test(jobId)) {
      throw new UsageError(
        `Run id '${String(jobId)}' is not valid: use 1 to 128 letters, digits, '.', '_' or '-' (e.g. 'ising-scan-001').`,
        { details: { runId: jobId } },
      );
    }
    const params = options.params ?? {};
    const issues: ConfigIssue[] = [];
    if (typeof params !== 'object' || params === null || Array.isArray(params)) {
      issues.push({ path: 'params', message: 'must be an object of JSON values' });
    } else jsonIssues(params, 'params', issues);
    const priority = options.priority ?? 0;
    if (!Number.isInteger(priority)) {
      issues.push({ path: 'priority', message: `must be a whole number, got ${String(priority)}` });
    }
    if (options.retryPolicy !== undefined) {
      issues.push(...retryPolicyIssues(options.retryPolicy, 'retryPolicy'));
    }
    if (issues.length > 0) {
      throw new UsageError(`Cannot submit run '${jobId}':\n${formatIssues(issues)}`, {
        details: { issues },
      });
    }
    const retry = options.retryPolicy ?? this.#retryPolicy;
    const at = nowIso();
    const record: RunRecord = {
      jobId,
      pipeline: declaration.name,
      status: ExecutionStatus.QUEUED,
      params: structuredClone(params),
      priority,
      trigger: options.trigger ?? { kind: 'api' },
      attempt: 0,
      maxAttempts: retry?.maxAttempts ?? 1,
      submittedAt: at,
    };
    const { created, record: stored } = await this.#store.insert(record, {
      at,
      type: 'status',
      status: ExecutionStatus.QUEUED,
      attempt: 0,
    });
    if (!created) {
      if (
        stored.pipeline !== record.pipeline ||
        canonical(stored.params) !== canonical(record.params)
      ) {
        throw new PhysError(
          'PHYS_RUN_CONFLICT',
          `Run '${jobId}' exists already for pipeline '${stored.pipeline}' with other ${stored.pipeline === record.pipeline ? 'params' : 'pipeline and params'}. A run id names one submission: choose a new run id, or leave it out for a fresh one.`,
          { details: { jobId, pipeline: stored.pipeline, params: stored.params } },
        );
      }
      return { submission: this.#submission(stored), created: false };
    }
    this.#notify(jobId);
    this.#enqueue({
      jobId,
      priority,
      order: ++this.#order,
      pipeline: declaration,
      params: record.params,
      retryPolicy: retry,
      attempt: 0,
      status: ExecutionStatus.QUEUED,
      startedAt: undefined,
    });
    return { submission: this.#submission(stored), created: true };
  }

  /** {@inheritDoc @phys/core#Orchestrator.getRunStatus} */
  async getRunStatus(jobId: string): Promise<ExecutionStatus> {
    return (await this.#record(jobId)).status;
  }

  /** {@inheritDoc @phys/core#Orchestrator.getRun} */
  async getRun(jobId: string): Promise<SubmissionResult> {
    return this.#submission(await this.#record(jobId));
  }

  /** {@inheritDoc @phys/core#Orchestrator.listRuns} */
  listRuns(filter: RunFilter = {}): Promise<RunPage> {
    return this.#store.list(filter);
  }

  /** {@inheritDoc @phys/core#Orchestrator.cancelRun} */
  cancelRun(jobId: string): Promise<boolean> {
    // Concurrent cancels of one run share one cancellation.
    let cancelling = this.#cancelling.get(jobId);
    if (cancelling === undefined) {
      cancelling = this.#cancel(jobId).finally(() => this.#cancelling.delete(jobId));
      this.#cancelling.set(jobId, cancelling);
    }
    return cancelling;
  }

  async #cancel(jobId: string): Promise<boolean> {
    const record = await this.#record(jobId);
    if (isRunTerminal(record.status)) return record.status === ExecutionStatus.CANCELLED;
    const active = this.#active.get(jobId);
    if (active !== undefined) {
      if (!active.cancelRequested) {
        active.cancelRequested = true;
        active.controller.abort(
          new CancelledError(`Run '${jobId}' was cancelled.`, { details: { jobId } }),
        );
      }
      await active.settled;
      return (await this.#record(jobId)).status === ExecutionStatus.CANCELLED;
    }
    // Queued here, or left QUEUED or RUNNING by a process that is gone (before recover()): nobody
    // runs it, so it ends at once.
    this.#queue = this.#queue.filter((q) => q.jobId !== jobId);
    const at = nowIso();
    const error = serializeError(
      new CancelledError(`Run '${jobId}' was cancelled before it ran to the end.`, {
        details: { jobId },
      }),
    );
    assertTransition(jobId, record.status, ExecutionStatus.CANCELLED);
    await this.#update(
      jobId,
      {
        status: ExecutionStatus.CANCELLED,
        finishedAt: at,
        durationSeconds: secondsBetween(record.startedAt, at),
        error,
      },
      [{ at, type: 'status', status: ExecutionStatus.CANCELLED, attempt: record.attempt, error }],
    );
    return true;
  }

  /** {@inheritDoc @phys/core#Orchestrator.runEvents} */
  async *runEvents(
    jobId: string,
    options: { readonly after?: number; readonly signal?: AbortSignal } = {},
  ): AsyncIterable<RunEvent> {
    await this.#record(jobId);
    let last = options.after ?? 0;
    const { signal } = options;
    while (signal?.aborted !== true) {
      const change = this.#nextChange(jobId, signal);
      try {
        const batch = await this.#store.events(jobId, last, 1000);
        let ended = false;
        for (const event of batch) {
          yield event;
          last = event.seq;
          if (event.type === 'status' && isRunTerminal(event.status)) ended = true;
        }
        if (batch.length === 1000) continue;
        if (ended || this.#closed !== undefined) return;
        // A terminal run whose terminal event was read before `after`.
        const record = await this.#store.get(jobId);
        if (record === undefined || isRunTerminal(record.status)) {
          const rest = await this.#store.events(jobId, last, 1000);
          for (const event of rest) {
            yield event;
            last = event.seq;
          }
          if (rest.length < 1000) return;
          continue;
        }
        await change.promise;
      } finally {
        change.dispose();
      }
    }
  }

  /**
   * Resumes what a previous process left in the store; a durable host calls it once at start.
   * Runs left RUNNING were interrupted: each starts again as a new attempt when attempts remain
   * (its finished nodes come back from the cache when one is configured), else ends FAILED with
   * `PHYS_SERVER_RESTARTED`. Runs left QUEUED are queued again, in their order.
   */
  async recover(): Promise<RecoveryReport> {
    this.#assertOpen();
    const resumed: string[] = [];
    const failed: string[] = [];
    const queued: string[] = [];
    const known = new Set([...this.#active.keys(), ...this.#queue.map((q) => q.jobId)]);
    for (const record of await this.#store.byStatus([ExecutionStatus.RUNNING])) {
      if (known.has(record.jobId)) continue;
      const pipeline = this.#recoverable(record);
      const retry: OrchestratorRetryPolicy = {
        ...(this.#retryPolicy ?? {}),
        maxAttempts: record.maxAttempts,
      };
      if (typeof pipeline !== 'string' && record.attempt < record.maxAttempts) {
        this.#enqueue(
          {
            jobId: record.jobId,
            priority: record.priority,
            order: ++this.#order,
            pipeline,
            params: record.params,
            retryPolicy: retry,
            attempt: record.attempt,
            status: ExecutionStatus.RUNNING,
            startedAt: record.startedAt,
          },
          false,
        );
        resumed.push(record.jobId);
        continue;
      }
      const at = nowIso();
      const error = serializeError(
        typeof pipeline === 'string'
          ? new PhysError('PHYS_SERVER_RESTARTED', pipeline, { details: { jobId: record.jobId } })
          : new PhysError(
              'PHYS_SERVER_RESTARTED',
              `The server stopped while run '${record.jobId}' was running (attempt ${record.attempt} of ${record.maxAttempts}), and no attempt is left. Submit it again under a new run id; with a cache configured, its finished nodes are not recomputed.`,
              { retryable: true, details: { jobId: record.jobId, attempt: record.attempt } },
            ),
      );
      await this.#update(
        record.jobId,
        {
          status: ExecutionStatus.FAILED,
          finishedAt: at,
          durationSeconds: secondsBetween(record.startedAt, at),
          error,
        },
        [{ at, type: 'status', status: ExecutionStatus.FAILED, attempt: record.attempt, error }],
      );
      failed.push(record.jobId);
    }
    for (const record of await this.#store.byStatus([ExecutionStatus.QUEUED])) {
      if (known.has(record.jobId)) continue;
      const pipeline = this.#recoverable(record);
      if (typeof pipeline === 'string') {
        const at = nowIso();
        const error = serializeError(
          new PhysError('PHYS_PIPELINE_NOT_FOUND', pipeline, { details: { jobId: record.jobId } }),
        );
        await this.#update(
          record.jobId,
          { status: ExecutionStatus.FAILED, finishedAt: at, durationSeconds: 0, error },
          [{ at, type: 'status', status: ExecutionStatus.FAILED, attempt: 0, error }],
        );
        failed.push(record.jobId);
        continue;
      }
      this.#enqueue(
        {
          jobId: record.jobId,
          priority: record.priority,
          order: ++this.#order,
          pipeline,
          params: record.params,
          retryPolicy: { ...(this.#retryPolicy ?? {}), maxAttempts: record.maxAttempts },
          attempt: record.attempt,
          status: ExecutionStatus.QUEUED,
          startedAt: undefined,
        },
        false,
      );
      queued.push(record.jobId);
    }
    this.#pump();
    return { resumed, failed, queued };
  }

  /**
   * Stops: no new runs are accepted, queued runs stay QUEUED in the store, and running runs are
   * aborted and left RUNNING there, so that {@link LocalOrchestrator.recover} on the next start
   * retries them (a graceful shutdown is no cancellation). Waits for the aborted runs to stop,
   * then closes the store when the orchestrator made it. Safe to call twice.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing = true;
      this.#queue = [];
      const stopping = [...this.#active.values()];
      for (const run of stopping) {
        run.controller.abort(
          new CancelledError('The orchestrator is shutting down; the run resumes on restart.'),
        );
      }
      await Promise.all(stopping.map((run) => run.settled));
      // Wake waiters and event readers: they end now.
      for (const jobId of [...this.#listeners.keys()]) this.#notify(jobId);
      if (this.#ownStore) await this.#store.close();
    })();
    return this.#closed;
  }

  /**
   * Runs ONE attempt of a run: the step a custom orchestrator overrides (calling
   * `super.execute(...)` to run the pipeline as usual). Resolve with the outcome; a thrown error
   * counts as a FAILED attempt.
   */
  protected execute(
    pipeline: NamedPipeline,
    runId: string,
    context: ExecuteContext,
  ): Promise<RunOutcome> {
    return executeRun(this.runtime, {
      pipeline,
      runId,
      attempt: context.attempt,
      params: context.params,
      signal: context.signal,
      onNode: context.onNode,
      onLog: context.onLog,
    });
  }

  /** The declaration of `pipeline` with its name; `PHYS_PIPELINE_NOT_FOUND` or `PHYS_USAGE`. */
  #declaration(pipeline: string | NamedPipeline): NamedPipeline {
    if (typeof pipeline === 'string') {
      const declared = Object.hasOwn(this.runtime.pipelines, pipeline)
        ? this.runtime.pipelines[pipeline]
        : undefined;
      if (declared === undefined) throw this.#unknownPipeline(pipeline);
      return { ...declared, name: pipeline };
    }
    const given = pipeline as Partial<NamedPipeline> | null;
    const ok =
      typeof given === 'object' &&
      given !== null &&
      typeof given.name === 'string' &&
      given.name !== '' &&
      ((given.kind === 'dag' && Array.isArray((given as { nodes?: unknown }).nodes)) ||
        (given.kind !== 'dag' && Array.isArray((given as { stages?: unknown }).stages)));
    if (!ok) {
      throw new UsageError(
        "A pipeline is submitted by its name in the config, or as an object: a pipeline declaration with its name, e.g. { name: 'scan', stages: [...] } or { name: 'scan', kind: 'dag', nodes: [...] }.",
      );
    }
    return pipeline;
  }

  #unknownPipeline(name: string): PhysError {
    const known = Object.keys(this.runtime.pipelines).sort();
    const suggestions = closestNames(name, Object.keys(this.runtime.pipelines));
    return new PhysError(
      'PHYS_PIPELINE_NOT_FOUND',
      `Unknown pipeline '${name}'. ${suggestions.length === 0 ? '' : `${didYouMean(suggestions)} `}Pipelines in ${this.runtime.configFile ?? 'the config'}: ${known.join(', ') || '(none declared)'}.`,
      { details: { pipeline: name, known, suggestions } },
    );
  }

  /** The declaration a stored run runs again, or why there is none. */
  #recoverable(record: RunRecord): NamedPipeline | string {
    const declared = Object.hasOwn(this.runtime.pipelines, record.pipeline)
      ? this.runtime.pipelines[record.pipeline]
      : undefined;
    if (declared !== undefined) return { ...declared, name: record.pipeline };
    return `Run '${record.jobId}' cannot resume: its pipeline '${record.pipeline}' is not in ${this.runtime.configFile ?? 'the config'} any more (or was submitted as an object, which only lives as long as its process). Submit it again.`;
  }

  async #record(jobId: string): Promise<RunRecord> {
    const record = typeof jobId === 'string' ? await this.#store.get(jobId) : undefined;
    if (record === undefined) throw runNotFound(String(jobId));
    return record;
  }

  #assertOpen(): void {
    if (this.#closing) {
      throw new PhysError(
        'PHYS_ORCHESTRATOR_CLOSED',
        'The orchestrator was closed and accepts no runs. Create a new one (or a new runtime).',
      );
    }
  }

  /**
   * Adds `run` to the queue, which is kept in start order (priority high first, then `order`):
   * a binary search for its place, at the end for a run of the lowest priority queued so far
   * (the usual case), so that queueing and starting cost O(log n), not O(n), with n runs queued.
   */
  #enqueue(run: QueuedRun, pump = true): void {
    const queue = this.#queue;
    let low = 0;
    let high = queue.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      const other = queue[mid] as QueuedRun;
      if (
        other.priority > run.priority ||
        (other.priority === run.priority && other.order < run.order)
      ) {
        low = mid + 1;
      } else high = mid;
    }
    if (low === queue.length) queue.push(run);
    else queue.splice(low, 0, run);
    if (pump) this.#pump();
  }

  /** Starts queued runs while slots are free: highest priority first, FIFO within one. */
  #pump(): void {
    while (!this.#closing && this.#active.size < this.#maxConcurrentRuns && this.#queue.length) {
      const run = this.#queue.shift() as QueuedRun;
      const active: ActiveRun = {
        controller: new AbortController(),
        settled: Promise.resolve(),
        cancelRequested: false,
      };
      this.#active.set(run.jobId, active);
      active.settled = this.#drive(run, active)
        .catch((error: unknown) => {
          // The store failed: the run stays as the store last recorded it.
          this.#logger.error(
            `Run '${run.jobId}' could not be recorded: ${error instanceof Error ? error.message : String(error)}`,
            { jobId: run.jobId },
          );
        })
        .finally(() => {
          this.#active.delete(run.jobId);
          this.#notify(run.jobId);
          this.#pump();
        });
    }
  }

  /** Runs `run` through its attempts to a terminal status. */
  async #drive(run: QueuedRun, active: ActiveRun): Promise<void> {
    const { jobId } = run;
    const { signal } = active.controller;
    let status = run.status;
    let attempt = run.attempt;
    const startedAt = run.startedAt ?? nowIso();
    const policy = run.retryPolicy;
    let chain: Promise<unknown> = Promise.resolve();
    let pending: NewRunEvent[] = [];
    let nodes: Record<string, RunNodeRecord> = {};
    let flushScheduled = false;
    const flush = (): Promise<unknown> => {
      flushScheduled = false;
      if (pending.length === 0) return chain;
      const events = pending;
      const snapshot = { ...nodes };
      pending = [];
      chain = chain
        .then(() => this.#update(jobId, { nodes: snapshot }, events))
        .catch((error: unknown) => {
          this.#logger.warn(
            `Progress of run '${jobId}' could not be recorded: ${error instanceof Error ? error.message : String(error)}`,
            { jobId },
          );
        });
      return chain;
    };
    const later = (): void => {
      if (flushScheduled) return;
      flushScheduled = true;
      setImmediate(flush);
    };

    while (true) {
      attempt += 1;
      assertTransition(jobId, status, ExecutionStatus.RUNNING);
      const at = nowIso();
      await this.#update(
        jobId,
        {
          status: ExecutionStatus.RUNNING,
          attempt,
          startedAt,
          nodes: {},
        },
        [{ at, type: 'status', status: ExecutionStatus.RUNNING, attempt }],
      );
      status = ExecutionStatus.RUNNING;
      nodes = {};
      const current = attempt;
      const context: ExecuteContext = {
        attempt,
        params: run.params,
        signal,
        onNode: (node, nodeStatus) => {
          const before = nodes[node];
          nodes[node] = {
            status: nodeStatus,
            attempts: Math.max(before?.attempts ?? 0, nodeStatus === 'RUNNING' ? 1 : 0),
          };
          pending.push({ at: nowIso(), type: 'node', node, status: nodeStatus, attempt: current });
          later();
        },
        onLog: (line) => {
          pending.push({
            at: nowIso(),
            type: 'log',
            level: line.level,
            message: line.message,
            ...(line.node === undefined ? {} : { node: line.node }),
          });
          later();
        },
      };
      let outcome: RunOutcome;
      try {
        outcome = await this.execute(run.pipeline, jobId, context);
      } catch (error) {
        outcome = {
          status: signal.aborted ? ExecutionStatus.CANCELLED : ExecutionStatus.FAILED,
          durationSeconds: 0,
          outputs: {},
          metrics: {},
          nodes,
          artifacts: {},
          error: serializeError(error),
        };
      }
      // Progress written so far; what is still pending goes with the next write, in order.
      await chain;
      if (this.#closing && !active.cancelRequested && signal.aborted) {
        // A graceful shutdown: the run stays RUNNING for recover() on the next start.
        await flush();
        return;
      }
      const failed =
        outcome.status === ExecutionStatus.FAILED || outcome.status === ExecutionStatus.TIMEOUT;
      if (
        failed &&
        !signal.aborted &&
        outcome.error !== undefined &&
        shouldRetry(policy, attempt, deserializeError(outcome.error))
      ) {
        const delay = retryDelaySeconds(policy as OrchestratorRetryPolicy, attempt);
        this.#logger.warn(
          `Run '${jobId}' attempt ${attempt} ended ${outcome.status} (${outcome.error.code}); attempt ${attempt + 1} of ${policy?.maxAttempts} in ${delay} s.`,
          { jobId, attempt },
        );
        await flush();
        await this.#append(jobId, [
          {
            at: nowIso(),
            type: 'log',
            level: 'warn',
            message: `Attempt ${attempt} ended ${outcome.status}: ${outcome.error.code} ${outcome.error.message}`,
          },
        ]);
        await sleep(delay, signal);
        if (!signal.aborted) continue;
        if (this.#closing && !active.cancelRequested) return;
      }
      const final: Exclude<ExecutionStatus, 'QUEUED' | 'RUNNING'> =
        signal.aborted && active.cancelRequested && outcome.status !== ExecutionStatus.COMPLETED
          ? ExecutionStatus.CANCELLED
          : outcome.status;
      const error: SerializedPhysError | undefined =
        final === ExecutionStatus.COMPLETED
          ? undefined
          : final === ExecutionStatus.CANCELLED && outcome.error?.code !== 'PHYS_CANCELLED'
            ? serializeError(
                new CancelledError(`Run '${jobId}' was cancelled.`, {
                  details: { jobId },
                  ...(outcome.error === undefined
                    ? {}
                    : { cause: deserializeError(outcome.error) }),
                }),
              )
            : outcome.error;
      assertTransition(jobId, status, final);
      // The last node events and the final status in one write (one commit, one sync).
      const progress = pending;
      pending = [];
      await chain;
      const end = nowIso();
      await this.#update(
        jobId,
        {
          status: final,
          finishedAt: end,
          durationSeconds: secondsBetween(startedAt, end),
          outputs: final === ExecutionStatus.COMPLETED ? outcome.outputs : {},
          metrics: outcome.metrics,
          nodes: outcome.nodes,
          ...(error === undefined ? {} : { error }),
        },
        [
          ...progress,
          {
            at: end,
            type: 'status',
            status: final,
            attempt,
            ...(error === undefined ? {} : { error }),
          },
        ],
      );
      return;
    }
  }

  /** Writes a change, then tells waiters and event readers. */
  async #update(
    jobId: string,
    patch: Parameters<RunStore['update']>[1],
    events: readonly NewRunEvent[],
  ): Promise<RunRecord> {
    const record = await this.#store.update(jobId, patch, events);
    this.#notify(jobId);
    return record;
  }

  async #append(jobId: string, events: readonly NewRunEvent[]): Promise<void> {
    await this.#store.append(jobId, events);
    this.#notify(jobId);
  }

  #notify(jobId: string): void {
    const listeners = this.#listeners.get(jobId);
    if (listeners === undefined) return;
    this.#listeners.delete(jobId);
    for (const listener of listeners) listener();
  }

  /** A promise that resolves on the next change of `jobId` (or when `signal` aborts). */
  #nextChange(
    jobId: string,
    signal?: AbortSignal,
  ): { readonly promise: Promise<void>; dispose(): void } {
    let wake: () => void = () => {};
    const promise = new Promise<void>((resolve) => {
      wake = resolve;
    });
    let set = this.#listeners.get(jobId);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(jobId, set);
    }
    set.add(wake);
    signal?.addEventListener('abort', wake, { once: true });
    return {
      promise,
      dispose: () => {
        signal?.removeEventListener('abort', wake);
        const current = this.#listeners.get(jobId);
        current?.delete(wake);
        if (current?.size === 0) this.#listeners.delete(jobId);
      },
    };
  }

  async #wait(jobId: string, options: WaitOptions = {}): Promise<SubmissionResult> {
    const timeout = options.timeout ?? 3600;
    if (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout < 0) {
      throw new UsageError(
        `waitForCompletion takes a timeout in seconds ≥ 0, got ${String(timeout)}.`,
      );
    }
    const { signal } = options;
    const deadline = performance.now() + timeout * 1000;
    while (true) {
      const change = this.#nextChange(jobId, signal);
      let timer: NodeJS.Timeout | undefined;
      try {
        const record = await this.#record(jobId);
        if (isRunTerminal(record.status)) return this.#submission(record);
        if (signal?.aborted === true) {
          throw new CancelledError(
            `Stopped waiting for run '${jobId}' (${record.status}); the run goes on.`,
            { cause: signal.reason, details: { jobId, status: record.status } },
          );
        }
        if (this.#closed !== undefined && !this.#active.has(jobId)) {
          throw new PhysError(
            'PHYS_ORCHESTRATOR_CLOSED',
            `The orchestrator closed while run '${jobId}' was ${record.status}; it resumes when a durable host recovers it.`,
            { details: { jobId, status: record.status } },
          );
        }
        const left = deadline - performance.now();
        if (left <= 0) {
          throw new TimeoutError(
            `Run '${jobId}' is still ${record.status} after waiting ${timeout} s; it goes on. Wait again, or cancel it.`,
            { code: 'PHYS_WAIT_TIMEOUT', details: { jobId, status: record.status, timeout } },
          );
        }
        // No timer without a deadline: a wait alone must not keep the process alive (a run
        // whose stage never settles then ends as Node ends an unsettled await).
        await Promise.race([
          change.promise,
          ...(Number.isFinite(left)
            ? [
                new Promise<void>((resolve) => {
                  timer = setTimeout(resolve, Math.min(left, 2 ** 31 - 1));
                }),
              ]
            : []),
        ]);
      } finally {
        if (timer !== undefined) clearTimeout(timer);
        change.dispose();
      }
    }
  }

  #submission(record: RunRecord): SubmissionResult {
    const { jobId } = record;
    return Object.freeze({
      jobId,
      pipeline: record.pipeline,
      status: record.status,
      durationSeconds: isRunTerminal(record.status) ? (record.durationSeconds ?? 0) : undefined,
      outputs: record.outputs ?? {},
      error: record.error,
      record,
      waitForCompletion: (options?: WaitOptions) => this.#wait(jobId, options),
      refresh: () => this.getRun(jobId),
      cancel: () => this.cancelRun(jobId),
    });
  }
}

function checkRetryPolicy(policy: OrchestratorRetryPolicy, path: string): void {
  const issues = retryPolicyIssues(policy, path);
  if (issues.length > 0) {
    throw new UsageError(`Invalid run retry policy:\n${formatIssues(issues)}`, {
      details: { issues },
    });
  }
}
