import type { SerializedPhysError } from '../errors.js';
import type { RetryPolicy } from '../retry.js';
import type { ExecutionStatus } from '../status.js';

/** @public */
export interface WaitOptions {
  /** Seconds to wait at most (default 3600). */
  readonly timeout?: number;
  /** Seconds between status checks for remote runs (default 5). */
  readonly pollInterval?: number;
}

/**
 * A submitted run: returned at once, waited on explicitly.
 * @public
 */
export interface SubmissionResult {
  readonly jobId: string;
  readonly status: ExecutionStatus;
  /** Seconds from start to the terminal state; undefined until then. */
  readonly durationSeconds: number | undefined;
  readonly outputs: Readonly<Record<string, unknown>>;
  readonly error: SerializedPhysError | undefined;
  waitForCompletion(options?: WaitOptions): Promise<SubmissionResult>;
  /** Idempotent; resolves true once the run is cancelled (false if it had already ended). */
  cancel(): Promise<boolean>;
}

/** @public */
export interface RunPipelineOptions {
  readonly runId?: string;
  readonly params?: Readonly<Record<string, unknown>>;
}

/**
 * Runs whole pipelines, in process or through a server.
 * @public
 */
export interface Orchestrator {
  readonly name: string;
  runPipeline(pipeline: string, options?: RunPipelineOptions): Promise<SubmissionResult>;
  getRunStatus(jobId: string): Promise<ExecutionStatus>;
}

/**
 * The retry policy of orchestrated runs: the one {@link RetryPolicy} of core, under the name the
 * orchestration guide uses.
 * @public
 */
export type OrchestratorRetryPolicy = RetryPolicy;
