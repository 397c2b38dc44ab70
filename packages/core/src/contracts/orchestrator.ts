import {
  ConfigError,
  type ConfigIssue,
  formatIssues,
  type SerializedPhysError,
} from '../errors.js';
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
 * Orchestrator-level retry: `maxAttempts` total attempts; delay before retry n is
 * `min(maxDelaySeconds, initialDelaySeconds × backoffMultiplier^(n-1))`; only errors whose code
 * is in `retryableErrors` are retried (all but cancellation when empty).
 * @public
 */
export interface OrchestratorRetryPolicy {
  readonly maxAttempts: number;
  readonly initialDelaySeconds: number;
  readonly backoffMultiplier: number;
  readonly maxDelaySeconds: number;
  readonly retryableErrors: readonly string[];
}

/**
 * Fills in the documented defaults (3 attempts, 1 s, ×2, ≤ 60 s, retry all) and rejects
 * impossible values (fewer than one attempt, negative delays, a multiplier below 1).
 * @public
 */
export function retryPolicy(
  options: Partial<OrchestratorRetryPolicy> = {},
): OrchestratorRetryPolicy {
  const policy: OrchestratorRetryPolicy = {
    maxAttempts: options.maxAttempts ?? 3,
    initialDelaySeconds: options.initialDelaySeconds ?? 1,
    backoffMultiplier: options.backoffMultiplier ?? 2,
    maxDelaySeconds: options.maxDelaySeconds ?? 60,
    retryableErrors: Object.freeze([...(options.retryableErrors ?? [])]),
  };
  const issues: ConfigIssue[] = [];
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) {
    issues.push({
      path: 'maxAttempts',
      message: `must be a whole number ≥ 1 (total attempts, the first included), got ${policy.maxAttempts}`,
    });
  }
  for (const key of ['initialDelaySeconds', 'maxDelaySeconds'] as const) {
    if (!Number.isFinite(policy[key]) || policy[key] < 0) {
      issues.push({
        path: key,
        message: `must be a finite number of seconds ≥ 0, got ${policy[key]}`,
      });
    }
  }
  if (!Number.isFinite(policy.backoffMultiplier) || policy.backoffMultiplier < 1) {
    issues.push({
      path: 'backoffMultiplier',
      message: `must be a finite number ≥ 1, got ${policy.backoffMultiplier}`,
    });
  }
  if (issues.length > 0) {
    throw new ConfigError('PHYS_CONFIG_INVALID', `Invalid retry policy:\n${formatIssues(issues)}`, {
      issues,
    });
  }
  return Object.freeze(policy);
}

/** Seconds to wait before retry `attempt` (2 = first retry) under `policy`. @public */
export function retryDelaySeconds(policy: OrchestratorRetryPolicy, attempt: number): number {
  const n = Math.max(1, attempt - 1);
  return Math.min(
    policy.maxDelaySeconds,
    policy.initialDelaySeconds * policy.backoffMultiplier ** (n - 1),
  );
}

/** Whether an error with `code` may be retried under `policy`. @public */
export function isRetryableCode(policy: OrchestratorRetryPolicy, code: string): boolean {
  if (code === 'PHYS_CANCELLED') return false;
  return policy.retryableErrors.length === 0 || policy.retryableErrors.includes(code);
}
