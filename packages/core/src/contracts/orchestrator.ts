import type { SerializedPhysError } from '../errors.js';
import type { PipelineDeclaration } from '../plugin/define-config.js';
import type { RetryPolicy } from '../retry.js';
import type { ExecutionStatus, NodeStatus } from '../status.js';

/** @public */
export interface WaitOptions {
  /** Seconds to wait at most (default 3600); then `TimeoutError` `PHYS_WAIT_TIMEOUT`, and the run goes on. */
  readonly timeout?: number;
  /** Seconds between status checks when the orchestrator has no event stream (default 5). */
  readonly pollInterval?: number;
  /** Stops waiting (the run goes on) with a `CancelledError`. */
  readonly signal?: AbortSignal;
}

/**
 * A submitted run as last seen: returned at once, waited on explicitly. The fields are a
 * snapshot; {@link SubmissionResult.waitForCompletion} and {@link SubmissionResult.refresh}
 * return newer ones.
 * @public
 */
export interface SubmissionResult {
  readonly jobId: string;
  /** The pipeline's name. */
  readonly pipeline: string;
  readonly status: ExecutionStatus;
  /** Seconds from the first RUNNING to the terminal state; undefined until then. */
  readonly durationSeconds: number | undefined;
  /**
   * Set once the run COMPLETED: the pipeline's declared outputs (a DAG's sink outputs, a
   * sequential pipeline's final state) in a JSON-safe form, artifacts as references. `{}` before.
   */
  readonly outputs: Readonly<Record<string, unknown>>;
  /** Why the run FAILED, TIMED OUT or was CANCELLED. */
  readonly error: SerializedPhysError | undefined;
  /** The whole record (nodes, attempts, times). */
  readonly record: RunRecord;
  /** Resolves with the terminal snapshot; `TimeoutError` (`PHYS_WAIT_TIMEOUT`) at the deadline. */
  waitForCompletion(options?: WaitOptions): Promise<SubmissionResult>;
  /** A fresh snapshot. */
  refresh(): Promise<SubmissionResult>;
  /**
   * Stops the run: queued runs never start, running nodes are aborted (threads and processes
   * terminated, cluster jobs cancelled). Idempotent; resolves true once the run is CANCELLED,
   * false when it had already ended otherwise.
   */
  cancel(): Promise<boolean>;
}

/**
 * A pipeline handed over as an object rather than by name (local orchestrators only): a
 * declaration as written under `pipelines` in phys.config, with its name.
 * @public
 */
export type NamedPipeline = PipelineDeclaration & { readonly name: string };

/** @public */
export interface RunPipelineOptions {
  /**
   * The job id, and the idempotency key: submitting a `runId` that exists returns that run
   * (`PHYS_RUN_CONFLICT` when it was submitted for another pipeline or other params). Default: a
   * fresh id. Letters, digits, `.`, `_`, `-`, at most 128.
   */
  readonly runId?: string;
  /** Laid over the config's and the pipeline's `policy` for this run (later keys win). */
  readonly params?: Readonly<Record<string, unknown>>;
  /** Higher runs first among queued ones; FIFO within a priority (default 0). */
  readonly priority?: number;
  /** Run-level retry of this run (default: the orchestrator's). */
  readonly retryPolicy?: OrchestratorRetryPolicy;
  /** What asked for the run (default `{ kind: 'api' }`); recorded with it. */
  readonly trigger?: RunTrigger;
}

/**
 * What asked for a run: a person or program through the API or the CLI, or a schedule at one of
 * its fire times.
 * @public
 */
export type RunTrigger =
  | { readonly kind: 'api' | 'cli'; readonly by?: string }
  | {
      readonly kind: 'schedule';
      /** The schedule's name. */
      readonly schedule: string;
      /** The fire time the run stands for (ISO 8601 UTC). */
      readonly fireTime: string;
      /** Missed fire times this run stands for besides its own (misfire policy `runOnce`). */
      readonly missed?: number;
      /** True when started by hand (`phys schedules trigger`). */
      readonly manual?: boolean;
    };

/** One node (or sequential stage) of a run as the orchestrator saw it. @public */
export interface RunNodeRecord {
  readonly status: NodeStatus;
  readonly attempts: number;
  readonly durationSeconds?: number;
  readonly error?: SerializedPhysError;
}

/**
 * A run as an orchestrator records it: JSON on the wire and in the run store. Times are ISO 8601
 * UTC strings.
 * @public
 */
export interface RunRecord {
  readonly jobId: string;
  readonly pipeline: string;
  readonly status: ExecutionStatus;
  readonly params: Readonly<Record<string, unknown>>;
  readonly priority: number;
  /** What asked for the run. */
  readonly trigger: RunTrigger;
  /** The attempt running or last run (1-based; 0 while first queued). */
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly submittedAt: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  readonly durationSeconds?: number;
  readonly outputs?: Readonly<Record<string, unknown>>;
  readonly metrics?: Readonly<Record<string, number>>;
  readonly error?: SerializedPhysError;
  readonly nodes?: Readonly<Record<string, RunNodeRecord>>;
}

/**
 * Something that happened to a run, in order: `seq` grows by one per event of the run, so a
 * reader resumes after the last one it saw (the SSE `Last-Event-ID`).
 * @public
 */
export type RunEvent =
  | {
      readonly seq: number;
      readonly at: string;
      readonly type: 'status';
      readonly status: ExecutionStatus;
      readonly attempt: number;
      readonly error?: SerializedPhysError;
    }
  | {
      readonly seq: number;
      readonly at: string;
      readonly type: 'node';
      readonly node: string;
      readonly status: NodeStatus;
      readonly attempt: number;
    }
  | {
      readonly seq: number;
      readonly at: string;
      readonly type: 'log';
      readonly level: 'debug' | 'info' | 'warn' | 'error';
      readonly message: string;
      readonly node?: string;
    };

/** @public */
export interface RunFilter {
  readonly pipeline?: string;
  readonly status?: readonly ExecutionStatus[];
  /** At most this many (default 50, at most 500). */
  readonly limit?: number;
  /** From {@link RunPage.nextCursor}. */
  readonly cursor?: string;
}

/** Newest first. @public */
export interface RunPage {
  readonly runs: readonly RunRecord[];
  /** Present when more runs follow. */
  readonly nextCursor?: string;
}

/**
 * Runs whole pipelines, in process or through a server.
 * @public
 */
export interface Orchestrator {
  readonly name: string;
  /** Queues a run and returns at once with status QUEUED (or the existing run of `runId`). */
  runPipeline(
    pipeline: string | NamedPipeline,
    options?: RunPipelineOptions,
  ): Promise<SubmissionResult>;
  /** `PHYS_RUN_NOT_FOUND` for an unknown job id. */
  getRunStatus(jobId: string): Promise<ExecutionStatus>;
  /** The submission of an existing run, to wait on or cancel; `PHYS_RUN_NOT_FOUND` when unknown. */
  getRun(jobId: string): Promise<SubmissionResult>;
  listRuns(filter?: RunFilter): Promise<RunPage>;
  /** Same as `getRun(jobId).cancel()`. */
  cancelRun(jobId: string): Promise<boolean>;
  /**
   * The run's events after `after` (default: from the first), then live ones until the run is
   * terminal or `signal` aborts.
   */
  runEvents(
    jobId: string,
    options?: { readonly after?: number; readonly signal?: AbortSignal },
  ): AsyncIterable<RunEvent>;
}

/**
 * The retry policy of orchestrated runs: the one {@link RetryPolicy} of core, under the name the
 * orchestration guide uses. `retryableErrors` takes codes (`PHYS_JOB_OOM`), job-failure reasons
 * (`OOM`) and the guide's names (`'OOM'`, `'Timeout'`), case-insensitively.
 * @public
 */
export type OrchestratorRetryPolicy = RetryPolicy;
