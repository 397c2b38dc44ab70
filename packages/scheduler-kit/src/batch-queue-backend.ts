import type {
  ExecutionStatus,
  GrantedResources,
  JobFailureReason,
  ResourceRequirements,
  SchedulerCapabilities,
  SchedulerTask,
  StageRef,
} from '@phys/core';

/**
 * One job as a batch system's status command reports it. Backends may add fields of their own
 * (PBS keeps the whole `qstat` record) and read them in {@link BatchQueueBackend.mapState}.
 * @public
 */
export interface BatchJobRecord {
  /**
   * The scheduler's own word for where the job is (`RUNNING`, `OUT_OF_MEMORY`, `R`,
   * `Exit_status=-27`): failures quote it, so it is what a user searches the cluster's docs for.
   */
  readonly nativeState: string;
  /** Exit code of the job's script (0–255), once it ended and the scheduler says. */
  readonly exitCode?: number | undefined;
  /** The signal that ended the job's script (`9`, `SIGKILL`); absent or 0: none. */
  readonly signal?: number | string | undefined;
  /** Further words of the scheduler about the job: Slurm's Reason column, a PBS comment. */
  readonly reason?: string | undefined;
}

/**
 * What a record means, as {@link BatchQueueBackend.mapState} reads it. A terminal state decides
 * the outcome in this order: `TIMEOUT` ends TIMEOUT (`PHYS_TIMEOUT`), `CANCELLED` ends CANCELLED
 * (`PHYS_CANCELLED`), a `failure` ends FAILED with that job-failure code; otherwise (`COMPLETED`,
 * `FAILED`) the task's result file decides, and without one the exit code does.
 * @public
 */
export interface BatchJobState {
  /** QUEUED or RUNNING while the job lives; how it ended once terminal. */
  readonly status: ExecutionStatus;
  /** True once the job can no longer change. */
  readonly terminal: boolean;
  /**
   * Why the job failed, when the scheduler's state says it (OUT_OF_MEMORY → `OOM`). A
   * non-terminal state with a failure is one the job never leaves by waiting (Slurm's PENDING
   * with Reason=PartitionConfig → `UNSATISFIABLE`): the job is cancelled and fails with it.
   */
  readonly failure?: JobFailureReason;
}

/** One task of a {@link BatchSubmission}, at its index in the batch. @public */
export interface BatchTask {
  readonly task: SchedulerTask;
  /** The task's resources, normalized. */
  readonly resources: ResourceRequirements;
  /** Absolute directory of the task, `<batch dir>/<index>`, holding its `task.json`. */
  readonly dir: string;
  /** Absolute path of the task envelope: `<dir>/task.json`. */
  readonly envelopeFile: string;
  /** Where the job's output (stdout and stderr) must go: `<dir>/<logFileName>`. */
  readonly logFile: string;
}

/** What {@link BatchQueueBackend.submit} hands to the batch system in one go. @public */
export interface BatchSubmission {
  /**
   * Absolute directory of the batch (on the shared filesystem): task `i` lives in `<dir>/<i>/`.
   * Job scripts go here too; `nodes.tsv` maps indices to nodes.
   */
  readonly dir: string;
  readonly runId: string;
  /** The stage every task of the batch runs (with its own config). */
  readonly stage: StageRef;
  /** The tasks in index order: one job each, or one job array whose index `i` runs `tasks[i]`. */
  readonly tasks: readonly BatchTask[];
  /** argv that executes a task envelope; the envelope's path is appended. */
  readonly command: readonly string[];
  /** Ids of jobs (from earlier submissions) that must complete successfully before these start. */
  readonly afterOk: readonly string[];
  /**
   * Aborted when waiting for the submission is pointless: the scheduler is closing, or every
   * task of the batch was cancelled. A backend that waits between attempts (a busy controller)
   * stops waiting and rejects with `signal.reason`.
   */
  readonly signal: AbortSignal;
}

/**
 * The part of a queue-based scheduler that talks to its batch system: how to submit, ask about,
 * cancel and read jobs. {@link BatchQueueScheduler} does everything else once for every batch
 * system: batching, task envelopes, the single polling loop, timeouts, cancellation, result
 * files and the mapping of a job's end onto a `TaskOutcome`.
 *
 * Every method may throw a `PhysError`; `submit` throws a `JobFailureError('SUBMIT_FAILED')`
 * when the batch system refuses the request, and `query` one with `retryable: false` when
 * asking again cannot help (the command is missing).
 * @public
 */
export interface BatchQueueBackend<TRecord extends BatchJobRecord = BatchJobRecord> {
  /** The scheduler's name, as `Scheduler.name` and in failures: `'slurm'`, `'pbs'`. */
  readonly name: string;
  /** What the scheduler can do (`cancel` is always done by the kit). */
  readonly capabilities: SchedulerCapabilities;
  /** File name of a job's output inside its task directory, e.g. `slurm.out`. */
  readonly logFileName: string;
  /**
   * Throws a `SchedulerError` for a request that can never run; else returns the task's batch
   * key. Tasks of one run and stage with equal keys, submitted within the batch window, go out
   * in one {@link BatchQueueBackend.submit}.
   */
  batchKey(task: SchedulerTask, resources: ResourceRequirements): string;
  /** What a job is granted for `resources` (default `jobGrant(resources)`). */
  grant?(resources: ResourceRequirements): GrantedResources;
  /** Submits the batch (a job array, or jobs) and returns one job id per task, in order. */
  submit(batch: BatchSubmission): Promise<readonly string[]>;
  /**
   * One status call for all these jobs. Returns records keyed by the given ids; an id left
   * out is a job the batch system no longer lists.
   */
  query(jobIds: readonly string[]): Promise<ReadonlyMap<string, TRecord>>;
  /**
   * Optional second source for jobs that ended without a result file and that `query` no
   * longer lists or listed without an exit code (Slurm: `sacct`, else `scontrol`).
   */
  lookup?(jobIds: readonly string[]): Promise<ReadonlyMap<string, TRecord>>;
  /** Cancels these jobs in one call; jobs that already ended are no error. */
  cancel(jobIds: readonly string[]): Promise<void>;
  /**
   * Optional: which live jobs cannot make progress because of the cluster's nodes, found with
   * one status call (Slurm: `sinfo`; PBS: `pbsnodes`). Receives the latest record of every job
   * that is queued or running, by job id, and returns for each stalled job what is wrong, in
   * words that name the node and its native state (`node cn01 is DOWN+NOT_RESPONDING`,
   * `no node of partition debug can start jobs`). Jobs left out are fine. Jobs with the same
   * words are reported together, so keep job ids out of them.
   *
   * {@link BatchQueueScheduler} calls it after every status check that has live jobs, warns
   * when a job stalls, and cancels and fails a job that stays stalled for `stuckAfterSeconds`
   * with `NODE_FAIL` (retryable). A rejection is logged and changes nothing.
   */
  stalls?(jobs: ReadonlyMap<string, TRecord>): Promise<ReadonlyMap<string, string>>;
  /** Reads a record (see {@link BatchJobState}). */
  mapState(record: TRecord): BatchJobState;
}
