import { availableParallelism } from 'node:os';
import {
  CancelledError,
  ExecutionStatus,
  type GrantedResources,
  type Isolation,
  type JobHandle,
  normalizeResources,
  PhysError,
  parseMemory,
  type ResourceRequirements,
  type Scheduler,
  type SchedulerCapabilities,
  SchedulerError,
  type SchedulerTask,
  type StageRef,
  serializeError,
  type TaskOutcome,
  TimeoutError,
} from '@phys/core';
import type { PortableResult } from '@phys/runtime';
import { ProcessRunner } from './process-runner.js';
import type { AbortSource, ThreadResourceLimits } from './public-types.js';
import { ThreadRunner } from './thread-runner.js';

/** Options of {@link LocalScheduler}. @public */
export interface LocalSchedulerOptions {
  /** Nodes running at once (default: the machine's available parallelism). */
  readonly maxWorkers?: number;
  /** CPU cores granted at once; a node takes `cpu × mpiRanks` (default: `maxWorkers`). */
  readonly maxCpu?: number;
  /** GPUs granted at once (default: the number of `gpuIds`). */
  readonly maxGpu?: number;
  /** Ids of the GPUs to hand out (default `0 .. maxGpu-1`). */
  readonly gpuIds?: readonly number[];
  /** Memory granted at once, in bytes or as `"16Gi"` (default: not accounted). */
  readonly maxMemory?: number | string;
  /** The `phys.config.*` declaring the stages: needed by `thread` and `process` isolation. */
  readonly configFile?: string;
  /**
   * Where `process` isolation writes task envelopes and logs. Default: `<tmp>/phys-<uid>`, made
   * private to the user (mode 0700) and refused (`PHYS_WORKDIR_UNSAFE`) when it is a symbolic
   * link or another user's. A directory given here is used as it is.
   */
  readonly workDir?: string;
  /** Keep a process node's work directory after it succeeded (default false; failures are kept). */
  readonly keepWorkDirs?: boolean;
  /** Seconds an aborted worker or child process gets to stop before it is killed (default 5). */
  readonly graceSeconds?: number;
  /** Heap limits of the worker threads (`worker_threads` resourceLimits). */
  readonly threadResourceLimits?: ThreadResourceLimits;
  /** Isolation of tasks given through {@link LocalScheduler.submit} (default `thread`). */
  readonly submitIsolation?: Exclude<Isolation, 'inline'>;
}

/** One node attempt to run away from the executor's thread. @public */
export interface RemoteJob {
  readonly runId: string;
  readonly nodeId: string;
  readonly attempt: number;
  readonly stage: StageRef;
  readonly label: string;
  readonly policy: Readonly<Record<string, unknown>>;
  readonly input: unknown;
  readonly resources: GrantedResources;
  readonly artifactsDir?: string;
  /** The node's `point`, for the stage's `ctx.point`. */
  readonly point?: Readonly<Record<string, unknown>>;
}

/**
 * The executor's fast path into a {@link LocalScheduler}: synchronous slot accounting, so
 * inline nodes never wait on a promise. Found through this symbol so that another installed
 * copy of this package is recognised too.
 */
export const LOCAL_DISPATCH = Symbol.for('@phys/executor-dag:LocalDispatch');

/** @internal */
export interface LocalDispatch {
  unsatisfiable(req: ResourceRequirements): string | undefined;
  isolationProblem(isolation: Isolation): string | undefined;
  tryAcquire(req: ResourceRequirements): GrantedResources | undefined;
  /**
   * When no slot is free for a `thread` attempt of `stage`: admits it anyway if its stage's
   * recent attempts were short and it can queue on a thread behind an attempt holding the same
   * slots (pipelining); its grant is then released as any other. Undefined when it cannot.
   * (Optional: another installed copy of this package may lack it.)
   */
  tryPipeline?(
    req: ResourceRequirements,
    stage: StageRef,
    configFile: string | undefined,
  ): GrantedResources | undefined;
  release(grant: GrantedResources, req: ResourceRequirements): void;
  /** `signal`: an AbortSignal, or for `thread` isolation any {@link AbortSource}. */
  run(
    isolation: Isolation,
    job: RemoteJob,
    signal: AbortSource,
    configFile?: string,
    pipelined?: boolean,
  ): Promise<PortableResult>;
  /** Called whenever slots free up after an acquire failed (another run may have taken them). */
  onRelease(listener: () => void): () => void;
}

interface SubmittedJob {
  readonly handle: JobHandle;
  readonly task: SchedulerTask;
  readonly req: ResourceRequirements;
  readonly controller: AbortController;
  status: ExecutionStatus;
  outcome: Promise<TaskOutcome>;
  resolve: (outcome: TaskOutcome) => void;
}

const NO_GPUS: readonly number[] = Object.freeze([]);

/**
 * Runs nodes on this machine with slot accounting for cpu (`cpu × mpiRanks`), gpus (specific
 * ids, passed to stages as `ctx.resources.gpuIds` and to child processes as
 * `CUDA_VISIBLE_DEVICES`) and memory: never more is granted at once than configured. Nodes run
 * `inline` (the executor's thread), in a `thread` pool, or in a child `process`.
 * @public
 */
export class LocalScheduler implements Scheduler {
  readonly name = 'local';
  readonly capabilities: SchedulerCapabilities;
  /** Nodes running at once. */
  readonly maxWorkers: number;
  /** CPU cores granted at once. */
  readonly maxCpu: number;
  /** GPUs granted at once. */
  readonly maxGpu: number;
  /** Memory granted at once, in bytes (undefined: not accounted). */
  readonly maxMemoryBytes: number | undefined;
  /** The GPU ids handed out. */
  readonly gpuIds: readonly number[];
  /** The config file worker threads and child processes rebuild stages from. */
  readonly configFile: string | undefined;

  readonly #maxCpuMilli: number;
  #running = 0;
  #cpuMilli = 0;
  #memory = 0;
  readonly #gpuBusy: boolean[];
  #gpuFree: number;
  #contended = false;
  readonly #listeners = new Set<() => void>();
  readonly #grants = new WeakMap<ResourceRequirements, GrantedResources>();
  #lastReq: ResourceRequirements | undefined;
  #lastGrant: GrantedResources | undefined;
  readonly #threads: ThreadRunner;
  readonly #processes: ProcessRunner;
  readonly #submitIsolation: Exclude<Isolation, 'inline'>;
  readonly #jobs = new Map<string, SubmittedJob>();
  readonly #queue: SubmittedJob[] = [];
  #jobSeq = 0;
  #closed = false;
  /**
   * Thread attempts admitted beyond the slots by {@link LocalDispatch.tryPipeline}, by the
   * requirements they share with the attempt they queue behind. Slots are counted by
   * requirements, not by attempt: when an attempt of `req` ends while some of these wait, one of
   * them takes over its slots (on its thread it runs next), so no more run at once than granted.
   */
  readonly #piped = new Map<ResourceRequirements, number>();
  #pipedTotal = 0;
  #dispatch: LocalDispatch | undefined;

  static {
    // The executor's fast path finds the scheduler through this symbol (hidden from the typings).
    Object.defineProperty(LocalScheduler.prototype, LOCAL_DISPATCH, {
      get(this: LocalScheduler): LocalDispatch {
        this.#dispatch ??= this.#localDispatch();
        return this.#dispatch;
      },
    });
  }

  constructor(options: LocalSchedulerOptions = {}) {
    this.maxWorkers = positiveInt('maxWorkers', options.maxWorkers ?? availableParallelism());
    this.maxCpu = positive('maxCpu', options.maxCpu ?? this.maxWorkers);
    if (options.gpuIds !== undefined) {
      const ids = [...options.gpuIds];
      if (!ids.every((g) => Number.isInteger(g) && g >= 0) || new Set(ids).size !== ids.length) {
        throw invalidOption('gpuIds', 'distinct whole numbers ≥ 0', options.gpuIds);
      }
      this.gpuIds = Object.freeze(ids);
    }
    const maxGpu = options.maxGpu ?? options.gpuIds?.length ?? 0;
    if (!Number.isInteger(maxGpu) || maxGpu < 0)
      throw invalidOption('maxGpu', 'a whole number ≥ 0', maxGpu);
    this.gpuIds ??= Object.freeze(Array.from({ length: maxGpu }, (_, i) => i));
    if (this.gpuIds.length < maxGpu) {
      throw invalidOption('gpuIds', `at least maxGpu (${maxGpu}) ids`, options.gpuIds);
    }
    this.maxGpu = maxGpu;
    this.maxMemoryBytes =
      options.maxMemory === undefined ? undefined : parseMemory(options.maxMemory);
    this.configFile = options.configFile;
    this.#maxCpuMilli = Math.round(this.maxCpu * 1000);
    this.#gpuBusy = this.gpuIds.slice(0, maxGpu).map(() => false);
    this.#gpuFree = maxGpu;
    this.#submitIsolation = options.submitIsolation ?? 'thread';
    const graceMs = Math.max(0, (options.graceSeconds ?? 5) * 1000);
    this.#threads = new ThreadRunner({
      maxThreads: this.maxWorkers,
      graceMs,
      ...(options.threadResourceLimits === undefined
        ? {}
        : { resourceLimits: options.threadResourceLimits }),
    });
    this.#processes = new ProcessRunner({
      workDir: options.workDir,
      keepWorkDirs: options.keepWorkDirs ?? false,
      graceMs,
    });
    this.capabilities = Object.freeze({
      arrays: false,
      dependencies: false,
      gpus: maxGpu > 0,
      cancel: true,
      maxResources: Object.freeze({
        cpu: this.maxCpu,
        gpu: maxGpu,
        ...(this.maxMemoryBytes === undefined ? {} : { memoryBytes: this.maxMemoryBytes }),
        mpiRanks: Math.max(1, Math.floor(this.maxCpu)),
      }),
    });
  }

  /** Slots in use right now (for progress displays and tests). */
  get usage(): {
    readonly running: number;
    readonly cpu: number;
    readonly gpu: number;
    readonly memoryBytes: number;
  } {
    return {
      running: this.#running,
      cpu: this.#cpuMilli / 1000,
      gpu: this.maxGpu - this.#gpuFree,
      memoryBytes: this.#memory,
    };
  }

  /** Why `req` can never be granted here, or undefined when it can. */
  unsatisfiable(req: ResourceRequirements): string | undefined {
    const slots = req.cpu * req.mpiRanks;
    if (Math.round(req.cpu * 1000) * req.mpiRanks > this.#maxCpuMilli) {
      return req.mpiRanks > 1
        ? `cpu ${req.cpu} × ${req.mpiRanks} mpi ranks = ${slots} cores, but maxCpu is ${this.maxCpu}`
        : `cpu ${req.cpu}, but maxCpu is ${this.maxCpu}`;
    }
    if (req.gpu > this.maxGpu) return `gpu ${req.gpu}, but maxGpu is ${this.maxGpu}`;
    if (
      req.memoryBytes !== undefined &&
      this.maxMemoryBytes !== undefined &&
      req.memoryBytes > this.maxMemoryBytes
    ) {
      return `memory ${req.memoryBytes} bytes, but maxMemory is ${this.maxMemoryBytes} bytes`;
    }
    return undefined;
  }

  /** Why nodes cannot use `isolation` with this scheduler, or undefined when they can. */
  isolationProblem(isolation: Isolation): string | undefined {
    if (isolation === 'inline' || this.configFile !== undefined) return undefined;
    return `the scheduler has no \`configFile\` to rebuild stages from in a ${isolation === 'thread' ? 'worker thread' : 'child process'}. Pass configFile (the phys.config.* declaring the stage) to LocalScheduler or DagExecutor.`;
  }

  /** Takes slots for `req` if they are free now; undefined when they are not. */
  tryAcquire(req: ResourceRequirements): GrantedResources | undefined {
    const cpu = Math.round(req.cpu * 1000) * req.mpiRanks;
    const mem =
      req.memoryBytes === undefined || this.maxMemoryBytes === undefined ? 0 : req.memoryBytes;
    if (
      this.#running >= this.maxWorkers ||
      this.#cpuMilli + cpu > this.#maxCpuMilli ||
      req.gpu > this.#gpuFree ||
      (mem > 0 && this.#memory + mem > (this.maxMemoryBytes as number))
    ) {
      this.#contended = true;
      return undefined;
    }
    this.#running++;
    this.#cpuMilli += cpu;
    this.#memory += mem;
    if (req.gpu === 0) {
      if (req === this.#lastReq) return this.#lastGrant;
      let grant = this.#grants.get(req);
      if (grant === undefined) {
        grant = Object.freeze({
          cpu: req.cpu,
          gpuIds: NO_GPUS,
          mpiRanks: req.mpiRanks,
          memoryBytes: req.memoryBytes,
        });
        this.#grants.set(req, grant);
      }
      this.#lastReq = req;
      this.#lastGrant = grant;
      return grant;
    }
    const ids: number[] = [];
    for (let g = 0; g < this.#gpuBusy.length && ids.length < req.gpu; g++) {
      if (!this.#gpuBusy[g]) {
        this.#gpuBusy[g] = true;
        ids.push(this.gpuIds[g] as number);
      }
    }
    this.#gpuFree -= req.gpu;
    return Object.freeze({
      cpu: req.cpu,
      gpuIds: Object.freeze(ids),
      mpiRanks: req.mpiRanks,
      memoryBytes: req.memoryBytes,
    });
  }

  /** Returns the slots of a grant made by {@link LocalScheduler.tryAcquire}. */
  release(grant: GrantedResources, req: ResourceRequirements): void {
    if (this.#pipedTotal > 0) {
      const piped = this.#piped.get(req);
      if (piped !== undefined) {
        // A pipelined attempt of the same requirements takes over the slots (see #piped).
        if (piped === 1) this.#piped.delete(req);
        else this.#piped.set(req, piped - 1);
        this.#pipedTotal--;
        return;
      }
    }
    this.#running--;
    this.#cpuMilli -= Math.round(req.cpu * 1000) * req.mpiRanks;
    if (req.memoryBytes !== undefined && this.maxMemoryBytes !== undefined)
      this.#memory -= req.memoryBytes;
    if (grant.gpuIds.length > 0) {
      for (const id of grant.gpuIds) {
        const g = this.gpuIds.indexOf(id);
        if (g >= 0) this.#gpuBusy[g] = false;
      }
      this.#gpuFree += grant.gpuIds.length;
    }
    if (this.#contended) {
      this.#contended = false;
      for (const listener of [...this.#listeners]) listener();
    }
  }

  /**
   * Runs one node attempt in a worker thread or a child process, rebuilding its stage from
   * `configFile` (default: this scheduler's).
   */
  run(
    isolation: Isolation,
    job: RemoteJob,
    signal: AbortSignal,
    configFile: string | undefined = this.configFile,
  ): Promise<PortableResult> {
    return this.#run(isolation, job, signal, configFile, false);
  }

  #run(
    isolation: Isolation,
    job: RemoteJob,
    signal: AbortSource,
    configFile: string | undefined,
    pipelined: boolean,
  ): Promise<PortableResult> {
    if (this.#closed) {
      return Promise.reject(
        new PhysError('PHYS_SCHEDULER', 'The LocalScheduler is closed; create a new one.'),
      );
    }
    if (configFile === undefined) {
      return Promise.reject(
        new PhysError(
          'PHYS_SCHEDULER',
          `Node '${job.nodeId}': ${this.isolationProblem(isolation) ?? 'no configFile'}`,
        ),
      );
    }
    return isolation === 'process'
      ? this.#processes.run(configFile, job, signal as AbortSignal)
      : this.#threads.run(configFile, job, signal, pipelined ? this.#pipedWith(job.resources) : 0);
  }

  /** Pipelined attempts holding `grant` (see #piped). */
  #pipedWith(grant: GrantedResources): number {
    if (grant === this.#lastGrant && this.#lastReq !== undefined) {
      return this.#piped.get(this.#lastReq) ?? 0;
    }
    for (const [req, piped] of this.#piped) if (this.#grants.get(req) === grant) return piped;
    return 0;
  }

  /** See {@link LocalDispatch.tryPipeline}. */
  #tryPipeline(
    req: ResourceRequirements,
    stage: StageRef,
    configFile: string | undefined = this.configFile,
  ): GrantedResources | undefined {
    if (
      this.#closed ||
      configFile === undefined ||
      // Only while one run uses the scheduler: its pipelined attempts take over the slots they
      // queue behind, which would keep another run (or a submitted task) waiting for them.
      this.#listeners.size > 1 ||
      req.gpu > 0 ||
      (req.memoryBytes !== undefined && this.maxMemoryBytes !== undefined)
    ) {
      return undefined;
    }
    // The grant every attempt of `req` holds (none yet: nothing of `req` runs to queue behind).
    const grant = req === this.#lastReq ? this.#lastGrant : this.#grants.get(req);
    const piped = (this.#piped.get(req) ?? 0) + 1;
    if (grant === undefined || !this.#threads.canPipeline(configFile, stage, grant, piped)) {
      return undefined;
    }
    this.#piped.set(req, piped);
    this.#pipedTotal++;
    return grant;
  }

  /** The executor's interface: the public methods, pipelining and pipelined runs. */
  #localDispatch(): LocalDispatch {
    return {
      unsatisfiable: (req) => this.unsatisfiable(req),
      isolationProblem: (isolation) => this.isolationProblem(isolation),
      tryAcquire: (req) => this.tryAcquire(req),
      tryPipeline: (req, stage, configFile) => this.#tryPipeline(req, stage, configFile),
      release: (grant, req) => this.release(grant, req),
      run: (isolation, job, signal, configFile = this.configFile, pipelined = false) =>
        this.#run(isolation, job, signal, configFile, pipelined),
      onRelease: (listener) => this.onRelease(listener),
    };
  }

  /** Subscribes to slots freeing up after an acquire failed; returns the unsubscribe function. */
  onRelease(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  // ---- the Scheduler contract: for callers other than DagExecutor -------------------------

  async submit(task: SchedulerTask): Promise<JobHandle> {
    if (this.#closed)
      throw new PhysError('PHYS_SCHEDULER', 'The LocalScheduler is closed; create a new one.');
    const req = normalizeResources(task.resources);
    const why = this.unsatisfiable(req) ?? this.isolationProblem(this.#submitIsolation);
    if (why !== undefined) {
      throw new SchedulerError('PHYS_SCHEDULER', `Cannot accept node '${task.nodeId}': ${why}.`, {
        details: { nodeId: task.nodeId },
      });
    }
    const handle: JobHandle = Object.freeze({
      jobId: `local-${++this.#jobSeq}`,
      nodeId: task.nodeId,
      attempt: task.attempt,
    });
    let resolve!: (outcome: TaskOutcome) => void;
    const outcome = new Promise<TaskOutcome>((r) => {
      resolve = r;
    });
    const job: SubmittedJob = {
      handle,
      task,
      req,
      controller: new AbortController(),
      status: ExecutionStatus.QUEUED,
      outcome,
      resolve,
    };
    task.signal?.addEventListener('abort', () => void this.cancel(handle), { once: true });
    this.#jobs.set(handle.jobId, job);
    this.#queue.push(job);
    if (this.#queue.length === 1) this.#listeners.add(this.#drain);
    this.#drain();
    return handle;
  }

  async poll(handle: JobHandle): Promise<ExecutionStatus> {
    return this.#job(handle).status;
  }

  wait(handle: JobHandle): Promise<TaskOutcome> {
    return this.#job(handle).outcome;
  }

  async cancel(handle: JobHandle): Promise<void> {
    const job = this.#job(handle);
    if (job.status === ExecutionStatus.QUEUED) {
      this.#queue.splice(this.#queue.indexOf(job), 1);
      this.#settle(job, {
        status: ExecutionStatus.CANCELLED,
        error: serializeError(
          new CancelledError(`Node '${handle.nodeId}' was cancelled before it started.`),
        ),
      });
    } else if (job.status === ExecutionStatus.RUNNING) {
      job.controller.abort(new CancelledError(`Node '${handle.nodeId}' was cancelled.`));
    }
  }

  /** Stops the worker threads; running child processes are killed. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue.splice(0)) {
      this.#settle(job, {
        status: ExecutionStatus.CANCELLED,
        error: serializeError(new CancelledError('The scheduler was closed.')),
      });
    }
    await Promise.all([this.#threads.close(), this.#processes.close()]);
  }

  #job(handle: JobHandle): SubmittedJob {
    const job = this.#jobs.get(handle.jobId);
    if (job === undefined) {
      throw new PhysError(
        'PHYS_SCHEDULER',
        `Unknown job '${handle.jobId}' (not submitted to this LocalScheduler).`,
      );
    }
    return job;
  }

  readonly #drain = (): void => {
    while (this.#queue.length > 0) {
      const job = this.#queue[0] as SubmittedJob;
      const grant = this.tryAcquire(job.req);
      if (grant === undefined) return;
      this.#queue.shift();
      if (this.#queue.length === 0) this.#listeners.delete(this.#drain);
      job.status = ExecutionStatus.RUNNING;
      const { task } = job;
      // Callers of the plain Scheduler contract get the per-attempt limit enforced here (the
      // DagExecutor arms its own timer); the abort reason tells the runners it was a timeout.
      const timer =
        task.timeoutSeconds === undefined
          ? undefined
          : setTimeout(() => {
              job.controller.abort(
                new TimeoutError(
                  `Node '${task.nodeId}' exceeded its time limit of ${task.timeoutSeconds} s.`,
                ),
              );
            }, task.timeoutSeconds * 1000);
      this.run(
        this.#submitIsolation,
        {
          runId: task.runId,
          nodeId: task.nodeId,
          attempt: task.attempt,
          stage: task.stage,
          label: task.nodeId,
          policy: task.policy,
          input: task.input,
          resources: grant,
          ...(task.point === undefined ? {} : { point: task.point }),
        },
        job.controller.signal,
      ).then(
        (out) => {
          clearTimeout(timer);
          this.release(grant, job.req);
          this.#settle(job, {
            status: ExecutionStatus.COMPLETED,
            state: out.state,
            ...(out.metrics === undefined ? {} : { metrics: out.metrics }),
            ...(out.artifacts === undefined ? {} : { artifacts: out.artifacts }),
            ...(out.provenance === undefined ? {} : { provenance: out.provenance }),
            granted: grant,
          });
        },
        (error: unknown) => {
          clearTimeout(timer);
          this.release(grant, job.req);
          const reason: unknown = job.controller.signal.reason;
          if (PhysError.is(reason) && reason.code === 'PHYS_TIMEOUT') {
            this.#settle(job, {
              status: ExecutionStatus.TIMEOUT,
              error: serializeError(reason),
              granted: grant,
            });
            return;
          }
          const code = PhysError.is(error) ? error.code : undefined;
          this.#settle(job, {
            status:
              code === 'PHYS_CANCELLED'
                ? ExecutionStatus.CANCELLED
                : code === 'PHYS_TIMEOUT'
                  ? ExecutionStatus.TIMEOUT
                  : ExecutionStatus.FAILED,
            error: serializeError(error),
            granted: grant,
          });
        },
      );
    }
  };

  #settle(job: SubmittedJob, outcome: TaskOutcome): void {
    job.status = outcome.status;
    job.resolve(outcome);
  }
}

function positive(name: string, value: number): number {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return value;
  throw invalidOption(name, 'a positive number', value);
}

function positiveInt(name: string, value: number): number {
  if (Number.isInteger(value) && value > 0) return value;
  throw invalidOption(name, 'a whole number ≥ 1', value);
}

function invalidOption(name: string, want: string, got: unknown): PhysError {
  return new PhysError(
    'PHYS_SCHEDULER',
    `Invalid LocalScheduler option ${name}: expected ${want}, got ${JSON.stringify(got)}.`,
    { details: { option: name } },
  );
}
