import type { SerializedPhysError } from '../errors.js';
import type { ResourceRequirements } from '../resources.js';
import type { GrantedResources, StageRef } from '../stage.js';
import type { ExecutionStatus } from '../status.js';

/**
 * A node ready to run, as handed to a scheduler. In-process schedulers may use `input`
 * directly; remote ones ship it through an envelope.
 * @public
 */
export interface SchedulerTask {
  readonly runId: string;
  readonly nodeId: string;
  readonly stage: StageRef;
  readonly resources: ResourceRequirements;
  readonly attempt: number;
  readonly input: unknown;
  readonly policy: Readonly<Record<string, unknown>>;
  readonly timeoutSeconds?: number;
  readonly signal?: AbortSignal;
  /** The node's `point` (plain data), handed to the stage as `ctx.point`; remote schedulers put it in the envelope. */
  readonly point?: Readonly<Record<string, unknown>>;
  /**
   * Called once by a scheduler with `capabilities.reportsStart` when the task starts running (a
   * cluster job leaves the queue), and at the latest before `wait` resolves for a task that ran;
   * never for one that ended without running (cancelled or failed in the queue). The executor
   * measures queue waits and counts nodes running or queued with it. Not part of the envelope.
   */
  readonly onRunning?: () => void;
}

/** Opaque handle to a submitted task. @public */
export interface JobHandle {
  readonly jobId: string;
  readonly nodeId: string;
  readonly attempt: number;
}

/** The outcome of a task. @public */
export interface TaskOutcome {
  readonly status: ExecutionStatus;
  readonly state?: unknown;
  readonly metrics?: Readonly<Record<string, number>>;
  readonly artifacts?: Readonly<Record<string, unknown>>;
  readonly provenance?: Readonly<Record<string, unknown>>;
  readonly error?: SerializedPhysError;
  readonly granted?: GrantedResources;
}

/** What a scheduler can do. @public */
export interface SchedulerCapabilities {
  readonly arrays: boolean;
  readonly dependencies: boolean;
  readonly gpus: boolean;
  readonly cancel: boolean;
  /**
   * Whether it calls {@link SchedulerTask.onRunning} when a task starts. Without it, a task counts
   * as running from its submission.
   */
  readonly reportsStart?: boolean;
  /** Largest single request it can ever grant; larger requests are rejected up front. */
  readonly maxResources?: {
    readonly cpu: number;
    readonly gpu: number;
    readonly memoryBytes?: number;
    readonly mpiRanks?: number;
  };
}

/**
 * Runs tasks somewhere: threads, processes, a Slurm or PBS cluster. Every implementation passes
 * the conformance suite in `@phys/testing`.
 * @public
 */
export interface Scheduler {
  readonly name: string;
  readonly capabilities: SchedulerCapabilities;
  submit(task: SchedulerTask): Promise<JobHandle>;
  /** Current status without waiting. */
  poll(handle: JobHandle): Promise<ExecutionStatus>;
  /** Resolves once the task is terminal. */
  wait(handle: JobHandle): Promise<TaskOutcome>;
  cancel(handle: JobHandle): Promise<void>;
  /** Releases workers, connections and temp files. */
  close?(): Promise<void>;
}
