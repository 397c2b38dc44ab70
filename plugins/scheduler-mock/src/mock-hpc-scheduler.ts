import { type ChildProcess, spawn } from 'node:child_process';
import { open, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  CancelledError,
  ExecutionStatus,
  type GrantedResources,
  JobFailureError,
  type JobFailureReason,
  type JobHandle,
  normalizeResources,
  parseMemory,
  parsePluginOptions,
  type ResourceRequirements,
  type Scheduler,
  type SchedulerCapabilities,
  SchedulerError,
  type SchedulerTask,
  serializeError,
  TASK_EXIT_CODES,
  type TaskOutcome,
  TimeoutError,
} from '@phys/core';
import {
  deferred,
  ensurePrivateDir,
  JobTable,
  jobGrant,
  logTail,
  readResultEnvelope,
  resultOutcome,
  safeFileName,
  type TrackedJob,
  taskEnvelopeInit,
  userWorkRoot,
  writeTaskEnvelope,
} from '@phys/scheduler-kit';
import { pickFault, seededRandom } from './faults.js';
import {
  type MockHpcSchedulerOptions,
  mockHpcOptionsSchema,
  type ResolvedMockFault,
  type ResolvedMockHpcOptions,
} from './options.js';

/** What {@link MockHpcScheduler} is constructed from: the plugin options, and the host's task command. @public */
export type MockHpcSchedulerInit = MockHpcSchedulerOptions & {
  /**
   * The host's command that executes a task envelope (the plugin passes
   * `PluginContext.taskCommand`; tests take `taskCommand()` of `@phys/testing`). Used when
   * `command` is not set.
   */
  readonly taskCommand?: readonly string[] | undefined;
};

/** What {@link MockHpcScheduler.job} reports about one job. @public */
export interface MockJobInfo {
  /** `mock-<n>`. */
  readonly jobId: string;
  /** The DAG node the job runs. */
  readonly nodeId: string;
  /** The node's attempt, 1-based. */
  readonly attempt: number;
  /** Where the job stands now. */
  readonly status: ExecutionStatus;
  /** The simulated host it ran on (undefined while queued, or when cancelled in the queue). */
  readonly host: string | undefined;
  /** The fault injected into it, if any. */
  readonly fault: ResolvedMockFault['kind'] | undefined;
  /** Its work directory: task envelope, result, `stdout.log`, `stderr.log`. */
  readonly workDir: string;
}

interface Host {
  readonly name: string;
  /** Free cpu in millicores. */
  cpuFree: number;
  memoryFree: number;
  readonly gpuBusy: boolean[];
}

interface Job extends TrackedJob {
  readonly handle: JobHandle;
  readonly task: SchedulerTask;
  readonly req: ResourceRequirements;
  readonly dir: string;
  readonly envelopeFile: string;
  readonly draws: readonly number[];
  eligible: boolean;
  host?: Host;
  gpus?: number[];
  /** Whether the job holds its host's slots. */
  allocated: boolean;
  fault?: ResolvedMockFault;
  child?: ChildProcess;
  /** A signal sent before the process existed, delivered as soon as it is spawned. */
  pendingSignal?: NodeJS.Signals;
  timers: NodeJS.Timeout[];
  cancelRequested: boolean;
  /** Why the simulated cluster ended the job, when it was not the job's own doing. */
  killedFor?: 'walltime' | 'node-fail' | 'lost' | 'oom';
}

/**
 * A simulated HPC cluster on this machine: each task becomes a job (`mock-1`, `mock-2`, ...)
 * that waits in a queue, is placed on a simulated host with free cpus/gpus/memory, and runs as
 * a local subprocess through the same task-envelope path as cluster jobs (the host's task
 * command, the entry of `phys exec`). Faults can be injected per node, per host, per attempt or
 * by seeded probability, so cluster pipelines and their retry policies can be tested on a
 * laptop. Jobs that end without a result fail with core's job-failure codes (`PHYS_JOB_*`).
 * @public
 */
export class MockHpcScheduler implements Scheduler {
  /** `mock-hpc`. */
  readonly name = 'mock-hpc';
  /** No arrays or dependencies; gpus when `gpusPerHost > 0`; `maxResources` is one host. */
  readonly capabilities: SchedulerCapabilities;
  /** The options after validation and defaults. */
  readonly options: ResolvedMockHpcOptions;
  /** The config jobs rebuild stages from. */
  readonly configFile: string;
  /** Where job directories are created. */
  readonly workDir: string;

  readonly #hosts: Host[];
  readonly #cpuPerHost: number;
  readonly #memoryPerHost: number | undefined;
  readonly #random: () => number;
  readonly #command: readonly string[];
  readonly #jobs = new JobTable<Job>({
    scheduler: 'MockHpcScheduler',
    unknownJobCode: 'PHYS_SCHEDULER_MOCK_UNKNOWN_JOB',
  });
  readonly #queue: Job[] = [];
  /** The check of the default work directory, made once (again after a failure). */
  #workDirReady: Promise<void> | undefined;
  #seq = 0;
  #closed = false;

  constructor(options: MockHpcSchedulerInit) {
    const { taskCommand, ...rest } = options;
    const parsed = parsePluginOptions('scheduler-mock', mockHpcOptionsSchema, rest);
    if (parsed.configFile === undefined) {
      throw new SchedulerError(
        'PHYS_SCHEDULER_MOCK_NO_CONFIG',
        'MockHpcScheduler needs `configFile`: the phys.config.* that declares the stages its jobs rebuild.',
      );
    }
    this.options = parsed;
    this.configFile = parsed.configFile;
    this.workDir = parsed.workDir ?? join(userWorkRoot(), 'mock-hpc');
    this.#cpuPerHost = parsed.cpusPerHost ?? availableParallelism();
    this.#memoryPerHost =
      parsed.memoryPerHost === undefined ? undefined : parseMemory(parsed.memoryPerHost);
    this.#hosts = Array.from({ length: parsed.hosts }, (_, i) => ({
      name: `cn${String(i + 1).padStart(2, '0')}`,
      cpuFree: Math.round(this.#cpuPerHost * 1000),
      memoryFree: this.#memoryPerHost ?? Number.POSITIVE_INFINITY,
      gpuBusy: Array.from({ length: parsed.gpusPerHost }, () => false),
    }));
    this.#random = seededRandom(parsed.seed);
    const command = parsed.command ?? taskCommand;
    if (command === undefined || command.length === 0) {
      throw new SchedulerError(
        'PHYS_SCHEDULER_MOCK_NO_COMMAND',
        'MockHpcScheduler needs the command that runs a task envelope: set `command` (e.g. `["phys", "exec"]`), or pass `taskCommand` (the plugin passes the host\'s).',
      );
    }
    this.#command = command;
    this.capabilities = Object.freeze({
      arrays: false,
      dependencies: false,
      gpus: parsed.gpusPerHost > 0,
      cancel: true,
      // A job leaves the queue when it is placed on a host: its task hears of it (onRunning).
      reportsStart: true,
      maxResources: Object.freeze({
        cpu: this.#cpuPerHost,
        gpu: parsed.gpusPerHost,
        ...(this.#memoryPerHost === undefined ? {} : { memoryBytes: this.#memoryPerHost }),
        mpiRanks: Math.max(1, Math.floor(this.#cpuPerHost)),
      }),
    });
  }

  /** Writes the task envelope and queues the job; rejects requests no host can hold. */
  async submit(task: SchedulerTask): Promise<JobHandle> {
    if (this.#closed) {
      throw new SchedulerError(
        'PHYS_SCHEDULER_MOCK_CLOSED',
        'The MockHpcScheduler is closed; create a new one.',
      );
    }
    const req = normalizeResources(task.resources);
    const why = this.#unsatisfiable(req);
    if (why !== undefined) {
      throw new SchedulerError(
        'PHYS_SCHEDULER_MOCK_RESOURCES',
        `Node '${task.nodeId}' asks for ${why}: no host of the mock cluster has that much. Lower the request or give MockHpcScheduler bigger hosts (cpusPerHost, gpusPerHost, memoryPerHost).`,
        { details: { nodeId: task.nodeId } },
      );
    }
    if (this.options.workDir === undefined) await this.#ensureWorkDir();
    const jobId = `mock-${++this.#seq}`;
    // Drawn now, in submission order, so faults do not depend on timing.
    const draws = this.options.faults.map(() => this.#random());
    const latency = this.#latency();
    const dir = join(
      this.workDir,
      safeFileName(task.runId),
      `${safeFileName(task.nodeId)}.${task.attempt}.${jobId}`,
    );
    // Like a cluster job, the envelope is written before the host is known.
    const envelopeFile = await writeTaskEnvelope(
      dir,
      taskEnvelopeInit(task, this.configFile, jobGrant(req)),
      task.input,
    );
    const handle: JobHandle = Object.freeze({
      jobId,
      nodeId: task.nodeId,
      attempt: task.attempt,
    });
    const { promise: outcome, resolve } = deferred<TaskOutcome>();
    const job: Job = {
      handle,
      task,
      req,
      dir,
      envelopeFile,
      draws,
      outcome,
      resolve,
      status: ExecutionStatus.QUEUED,
      eligible: false,
      allocated: false,
      timers: [],
      cancelRequested: false,
    };
    this.#jobs.add(handle, job);
    this.#queue.push(job);
    job.timers.push(
      setTimeout(() => {
        job.eligible = true;
        this.#dispatch();
      }, latency * 1000),
    );
    if (task.signal !== undefined) {
      if (task.signal.aborted) void this.cancel(handle);
      else task.signal.addEventListener('abort', () => void this.cancel(handle), { once: true });
    }
    return handle;
  }

  /**
   * The default work directory is under the user's private root (`userWorkRoot`), on a machine
   * whose temporary directory other users share: the root is created 0700 and refused when it
   * is a symbolic link or another user's, before anything is written below it.
   */
  #ensureWorkDir(): Promise<void> {
    const elsewhere = 'set `workDir` to a directory of your own';
    this.#workDirReady ??= ensurePrivateDir(dirname(this.workDir), { elsewhere })
      .then(() => ensurePrivateDir(this.workDir, { elsewhere }))
      .catch((error: unknown) => {
        this.#workDirReady = undefined;
        throw error;
      });
    return this.#workDirReady;
  }

  /** The job's status now. */
  poll(handle: JobHandle): Promise<ExecutionStatus> {
    return this.#jobs.status(handle);
  }

  /** Resolves with the outcome once the job ended. */
  wait(handle: JobHandle): Promise<TaskOutcome> {
    return this.#jobs.outcome(handle);
  }

  /** Removes a queued job, or stops a running one (SIGTERM, SIGKILL after `graceSeconds`). */
  async cancel(handle: JobHandle): Promise<void> {
    const job = this.#jobs.get(handle);
    if (job.status === ExecutionStatus.QUEUED) {
      this.#queue.splice(this.#queue.indexOf(job), 1);
      this.#clearTimers(job);
      this.#jobs.settle(job, {
        status: ExecutionStatus.CANCELLED,
        error: serializeError(
          new CancelledError(
            `Node '${job.task.nodeId}' (job ${job.handle.jobId}) was cancelled while queued.`,
          ),
        ),
      });
    } else if (job.status === ExecutionStatus.RUNNING && !job.cancelRequested) {
      job.cancelRequested = true;
      this.#terminate(job);
    }
  }

  /** What the simulated cluster knows about a job. */
  job(handle: JobHandle): MockJobInfo {
    const job = this.#jobs.get(handle);
    return {
      jobId: job.handle.jobId,
      nodeId: job.task.nodeId,
      attempt: job.task.attempt,
      status: job.status,
      host: job.host?.name,
      fault: job.fault?.kind,
      workDir: job.dir,
    };
  }

  /** Cancels queued jobs, kills running ones, and waits until every job has ended. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue.splice(0)) {
      this.#clearTimers(job);
      this.#jobs.settle(job, {
        status: ExecutionStatus.CANCELLED,
        error: serializeError(new CancelledError('The MockHpcScheduler was closed.')),
      });
    }
    const running = [...this.#jobs.values()].filter((j) => j.status === ExecutionStatus.RUNNING);
    for (const job of running) {
      job.cancelRequested = true;
      signal(job, 'SIGKILL');
    }
    await Promise.all(running.map((j) => j.outcome));
  }

  #latency(): number {
    const latency = this.options.queueLatencySeconds;
    if (typeof latency === 'number') return latency;
    const [min, max] = latency;
    return min + this.#random() * Math.max(0, max - min);
  }

  #unsatisfiable(req: ResourceRequirements): string | undefined {
    const cpu = req.cpu * req.mpiRanks;
    if (Math.round(req.cpu * 1000) * req.mpiRanks > Math.round(this.#cpuPerHost * 1000)) {
      return `${cpu} cpu cores (a host has ${this.#cpuPerHost})`;
    }
    if (req.gpu > this.options.gpusPerHost) {
      return `${req.gpu} gpus (a host has ${this.options.gpusPerHost})`;
    }
    if (
      req.memoryBytes !== undefined &&
      this.#memoryPerHost !== undefined &&
      req.memoryBytes > this.#memoryPerHost
    ) {
      return `${req.memoryBytes} bytes of memory (a host has ${this.#memoryPerHost})`;
    }
    return undefined;
  }

  /** Starts every eligible queued job that fits on a host, in queue order (with backfill). */
  #dispatch(): void {
    for (let i = 0; i < this.#queue.length; ) {
      const job = this.#queue[i] as Job;
      const host = job.eligible ? this.#place(job.req) : undefined;
      if (host === undefined) {
        i++;
        continue;
      }
      this.#queue.splice(i, 1);
      this.#start(job, host);
    }
  }

  #place(req: ResourceRequirements): Host | undefined {
    const cpu = Math.round(req.cpu * 1000) * req.mpiRanks;
    const memory = req.memoryBytes ?? 0;
    return this.#hosts.find(
      (h) =>
        h.cpuFree >= cpu &&
        h.memoryFree >= memory &&
        h.gpuBusy.filter((busy) => !busy).length >= req.gpu,
    );
  }

  #start(job: Job, host: Host): void {
    const { req, task } = job;
    host.cpuFree -= Math.round(req.cpu * 1000) * req.mpiRanks;
    host.memoryFree -= req.memoryBytes ?? 0;
    const gpus: number[] = [];
    for (let g = 0; g < host.gpuBusy.length && gpus.length < req.gpu; g++) {
      if (!host.gpuBusy[g]) {
        host.gpuBusy[g] = true;
        gpus.push(g);
      }
    }
    job.host = host;
    job.gpus = gpus;
    job.allocated = true;
    job.status = ExecutionStatus.RUNNING;
    try {
      task.onRunning?.();
    } catch {
      // The executor's callback; a failure there must not lose the job.
    }
    const fault = pickFault(
      this.options.faults,
      { nodeId: task.nodeId, attempt: task.attempt, host: host.name },
      job.draws,
    );
    if (fault !== undefined) job.fault = fault;
    void this.#run(job, host, gpus, fault).catch((error: unknown) => {
      this.#release(job);
      this.#jobs.settle(job, {
        status: ExecutionStatus.FAILED,
        error: serializeError(
          new SchedulerError(
            'PHYS_SCHEDULER_MOCK_START_FAILED',
            `Job ${job.handle.jobId} (node '${task.nodeId}') could not be started on ${host.name}: ${(error as Error).message}. Check that the job command (\`command\`, or the host's task command: ${this.#command.join(' ')}) exists and is executable, and that ${job.dir} is writable.`,
            { cause: error },
          ),
        ),
      });
      this.#dispatch();
    });
  }

  async #run(
    job: Job,
    host: Host,
    gpus: readonly number[],
    fault: ResolvedMockFault | undefined,
  ): Promise<void> {
    const stdout = await open(join(job.dir, 'stdout.log'), 'a');
    const stderr = await open(join(job.dir, 'stderr.log'), 'a');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PHYS_MOCK_JOB_ID: job.handle.jobId,
      PHYS_MOCK_HOST: host.name,
    };
    if (gpus.length > 0) env.CUDA_VISIBLE_DEVICES = gpus.join(',');
    // A `fail` fault is a job script that dies before phys runs (a bad module load, a typo).
    const argv =
      fault?.kind === 'fail'
        ? [
            process.execPath,
            '-e',
            `process.stderr.write('mock-hpc: injected failure on ${host.name}\\n'); process.exit(${fault.exitCode})`,
          ]
        : [...this.#command, job.envelopeFile];
    let child: ChildProcess;
    let exited: Promise<Exit>;
    try {
      // Its own process group, so that a kill reaches whatever the job started, as a
      // cluster's cgroup would.
      child = spawn(argv[0] as string, argv.slice(1), {
        cwd: job.dir,
        env,
        detached: true,
        stdio: ['ignore', stdout.fd, stderr.fd],
      });
      // Listen before anything is awaited: a job that ends at once, or a command that cannot be
      // spawned, reports it while the log files close, and an event nobody listened for is
      // gone for good (the job would then stay RUNNING forever).
      exited = processExit(child);
    } finally {
      await stdout.close();
      await stderr.close();
    }
    job.child = child;
    if (job.pendingSignal !== undefined) signal(job, job.pendingSignal);
    const limit = job.task.timeoutSeconds ?? job.req.wallTimeSeconds;
    if (limit !== undefined) {
      job.timers.push(
        setTimeout(() => {
          job.killedFor ??= 'walltime';
          this.#terminate(job);
        }, limit * 1000),
      );
    }
    if (fault !== undefined && fault.kind !== 'fail') {
      const reason = fault.kind === 'timeout' ? 'walltime' : fault.kind;
      job.timers.push(
        setTimeout(() => {
          job.killedFor ??= reason;
          signal(job, 'SIGKILL');
        }, fault.afterSeconds * 1000),
      );
    }
    const exit = await exited;
    this.#clearTimers(job);
    // Never started (the command is missing or not executable): #start reports it.
    if (exit.spawnError !== undefined) throw exit.spawnError;
    this.#release(job);
    this.#dispatch();
    if (job.killedFor === 'lost' && !job.cancelRequested) {
      // The queue forgot the job: the scheduler only notices after a grace period (a real
      // one waits for a late result file on a shared filesystem).
      await delay(this.options.lostJobGraceSeconds * 1000);
    }
    this.#jobs.settle(job, await this.#outcome(job, exit));
  }

  async #outcome(job: Job, exit: Exit): Promise<TaskOutcome> {
    const { task, handle } = job;
    const where = `job ${handle.jobId} on ${job.host?.name ?? '?'}`;
    const granted = this.#granted(job);
    if (job.cancelRequested) {
      return {
        status: ExecutionStatus.CANCELLED,
        error: serializeError(
          new CancelledError(`Node '${task.nodeId}' (${where}) was cancelled.`),
        ),
        granted,
      };
    }
    if (job.killedFor === 'walltime') {
      const limit = job.task.timeoutSeconds ?? job.req.wallTimeSeconds;
      return {
        status: ExecutionStatus.TIMEOUT,
        error: serializeError(
          new TimeoutError(
            `Node '${task.nodeId}' (${where}) was killed for exceeding its wall time${limit === undefined ? ' (injected fault)' : ` of ${limit} s`}.`,
            { details: { jobId: handle.jobId, host: job.host?.name, timeoutSeconds: limit } },
          ),
        ),
        granted,
      };
    }
    const failure = (
      reason: JobFailureReason,
      nativeState: string,
      note: string,
      exitCode?: number,
    ): TaskOutcome => ({
      status: ExecutionStatus.FAILED,
      error: serializeError(
        new JobFailureError(reason, {
          scheduler: this.name,
          nativeState,
          nodeId: task.nodeId,
          jobId: handle.jobId,
          ...(exitCode === undefined ? {} : { exitCode }),
          note,
        }),
      ),
      granted,
    });
    if (job.killedFor === 'node-fail') {
      return failure(
        'NODE_FAIL',
        `NODE_FAIL on ${job.host?.name}`,
        `Host ${job.host?.name} failed under the job (injected fault).`,
      );
    }
    if (job.killedFor === 'oom') {
      return failure(
        'OOM',
        'OUT_OF_MEMORY',
        `The OOM killer ended it on ${job.host?.name} (injected fault).`,
      );
    }
    if (job.killedFor === 'lost') {
      return failure(
        'LOST',
        'LOST',
        `It vanished from the queue on ${job.host?.name}; no result appeared within ${this.options.lostJobGraceSeconds} s.`,
      );
    }
    const result = await readResultEnvelope(job.envelopeFile).catch(() => undefined);
    if (result !== undefined) {
      if (result.envelope.status === 'COMPLETED' && !this.options.keepWorkDirs) {
        await rm(job.dir, { recursive: true, force: true });
      }
      return resultOutcome(result, granted);
    }
    const tail = await logTail(join(job.dir, 'stderr.log'));
    const note = `It ran on ${job.host?.name}${exit.signal === null ? '' : ` and was killed by signal ${exit.signal}`}.${tail === '' ? '' : ` Last lines of stderr:\n${tail}`}\nLogs and the task envelope are in ${job.dir}.`;
    // A task process that exited 0 wrote a result; none here means the directory lost it.
    return failure(
      exit.code === TASK_EXIT_CODES.COMPLETED ? 'NO_RESULT' : 'EXIT',
      exit.signal === null ? `exit ${exit.code ?? 'unknown'}` : exit.signal,
      note,
      exit.code ?? undefined,
    );
  }

  #granted(job: Job): GrantedResources {
    return jobGrant(job.req);
  }

  /** SIGTERM now (the job's stage sees its AbortSignal), SIGKILL after the grace period. */
  #terminate(job: Job): void {
    signal(job, 'SIGTERM');
    job.timers.push(setTimeout(() => signal(job, 'SIGKILL'), this.options.graceSeconds * 1000));
  }

  #release(job: Job): void {
    const host = job.host;
    if (host === undefined || job.gpus === undefined || !job.allocated) return;
    host.cpuFree += Math.round(job.req.cpu * 1000) * job.req.mpiRanks;
    host.memoryFree += job.req.memoryBytes ?? 0;
    for (const g of job.gpus) host.gpuBusy[g] = false;
    job.allocated = false;
  }

  #clearTimers(job: Job): void {
    for (const timer of job.timers) clearTimeout(timer);
    job.timers = [];
  }
}

/** How a job's process ended; `spawnError` when it never started. */
interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly spawnError?: Error;
}

/** Resolves once `child` has ended or failed to start. Call it right after `spawn`. */
function processExit(child: ChildProcess): Promise<Exit> {
  return new Promise((resolve) => {
    child.once('error', (error) =>
      resolve(
        child.pid === undefined
          ? { code: null, signal: null, spawnError: error }
          : { code: null, signal: null },
      ),
    );
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/** Signals the job's process group, or remembers the signal until the process exists. */
function signal(job: Job, sig: NodeJS.Signals): void {
  const child = job.child;
  if (child === undefined) {
    if (job.pendingSignal !== 'SIGKILL') job.pendingSignal = sig;
    return;
  }
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, sig);
  } catch {
    // The group is gone already; the child itself may still need the signal.
    child.kill(sig);
  }
}
