import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CancelledError,
  ExecutionStatus,
  JobFailureError,
  type JobHandle,
  normalizeResources,
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
  JobTable,
  jobGrant,
  logTail,
  readResultEnvelope,
  resultOutcome,
  type TrackedJob,
  taskEnvelopeInit,
  writeTaskEnvelope,
} from '@phys/scheduler-kit';

/** Options of {@link SandboxScheduler}. @public */
export interface SandboxSchedulerOptions {
  /** The phys.config.* the child processes rebuild stages from. */
  readonly configFile: string;
  /**
   * The command that executes a task envelope (the envelope's path is appended): the plugin
   * passes the host's (`PluginContext.taskCommand`); tests take `taskCommand()` of `@phys/testing`.
   */
  readonly taskCommand: readonly string[];
  /** Tasks running at once (default 2). */
  readonly maxConcurrent?: number;
  /** CPU cores a single task may ask for (default: this machine's available parallelism). */
  readonly maxCpu?: number | undefined;
  /** Variables the child processes inherit; nothing else leaks in (default PATH, HOME, LANG, TZ). */
  readonly passEnv?: readonly string[];
  /** Parent directory of the per-task sandboxes (default: the OS temp directory). */
  readonly workDir?: string;
  /** Seconds between SIGTERM and SIGKILL when a task is cancelled or times out (default 2). */
  readonly graceSeconds?: number;
}

/** The options with their defaults applied. */
type Settings = {
  readonly [K in keyof SandboxSchedulerOptions]-?: NonNullable<SandboxSchedulerOptions[K]>;
};

interface Task extends TrackedJob {
  readonly handle: JobHandle;
  readonly task: SchedulerTask;
  child?: ChildProcess;
  stop?: 'cancel' | 'timeout';
}

/**
 * Runs every task in its own child process, in a fresh temporary directory with a scrubbed
 * environment, at most `maxConcurrent` at a time. Tasks travel as phys task envelopes: the
 * child runs the host's task command on `task.json`, exactly like a cluster job.
 * @public
 */
export class SandboxScheduler implements Scheduler {
  readonly name = 'sandbox';
  readonly capabilities: SchedulerCapabilities;
  readonly #options: Settings;
  readonly #tasks = new JobTable<Task>({
    scheduler: 'SandboxScheduler',
    unknownJobCode: 'PHYS_SCHEDULER_SANDBOX_UNKNOWN_JOB',
  });
  readonly #queue: Task[] = [];
  #running = 0;
  #seq = 0;

  constructor(options: SandboxSchedulerOptions) {
    const maxConcurrent = options.maxConcurrent ?? 2;
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
      throw new SchedulerError(
        'PHYS_SCHEDULER_SANDBOX_OPTIONS',
        `maxConcurrent must be a whole number ≥ 1, got ${maxConcurrent}.`,
      );
    }
    if (options.taskCommand.length === 0) {
      throw new SchedulerError(
        'PHYS_SCHEDULER_SANDBOX_OPTIONS',
        'taskCommand must name the program that executes a task envelope, e.g. [process.execPath, <task entry>].',
      );
    }
    this.#options = {
      configFile: options.configFile,
      taskCommand: options.taskCommand,
      maxConcurrent,
      maxCpu: options.maxCpu ?? availableParallelism(),
      passEnv: options.passEnv ?? ['PATH', 'HOME', 'LANG', 'TZ'],
      workDir: options.workDir ?? tmpdir(),
      graceSeconds: options.graceSeconds ?? 2,
    };
    this.capabilities = Object.freeze({
      arrays: false,
      dependencies: false,
      gpus: false,
      cancel: true,
      maxResources: Object.freeze({ cpu: this.#options.maxCpu, gpu: 0 }),
    });
  }

  async submit(task: SchedulerTask): Promise<JobHandle> {
    const req = normalizeResources(task.resources);
    if (req.cpu * req.mpiRanks > this.#options.maxCpu || req.gpu > 0) {
      throw new SchedulerError(
        'PHYS_SCHEDULER_SANDBOX_RESOURCES',
        `Node '${task.nodeId}' asks for ${req.cpu * req.mpiRanks} cpus and ${req.gpu} gpus; the sandbox offers at most ${this.#options.maxCpu} cpus and no gpus.`,
      );
    }
    const handle: JobHandle = {
      jobId: `sandbox-${++this.#seq}`,
      nodeId: task.nodeId,
      attempt: task.attempt,
    };
    const { promise: outcome, resolve } = deferred<TaskOutcome>();
    const entry: Task = { handle, task, outcome, resolve, status: ExecutionStatus.QUEUED };
    this.#tasks.add(handle, entry);
    this.#queue.push(entry);
    task.signal?.addEventListener('abort', () => void this.cancel(handle), { once: true });
    this.#drain();
    return handle;
  }

  poll(handle: JobHandle): Promise<ExecutionStatus> {
    return this.#tasks.status(handle);
  }

  wait(handle: JobHandle): Promise<TaskOutcome> {
    return this.#tasks.outcome(handle);
  }

  async cancel(handle: JobHandle): Promise<void> {
    const entry = this.#tasks.get(handle);
    if (entry.status === ExecutionStatus.QUEUED) {
      this.#queue.splice(this.#queue.indexOf(entry), 1);
      this.#tasks.settle(entry, {
        status: ExecutionStatus.CANCELLED,
        error: serializeError(new CancelledError(`Node '${handle.nodeId}' was cancelled.`)),
      });
    } else if (entry.status === ExecutionStatus.RUNNING) {
      this.#stop(entry, 'cancel');
    }
  }

  async close(): Promise<void> {
    for (const entry of [...this.#queue]) await this.cancel(entry.handle);
    const running = [...this.#tasks.values()].filter((t) => t.status === ExecutionStatus.RUNNING);
    for (const entry of running) this.#stop(entry, 'cancel');
    await Promise.all(running.map((t) => t.outcome));
  }

  #drain(): void {
    while (this.#running < this.#options.maxConcurrent && this.#queue.length > 0) {
      const entry = this.#queue.shift() as Task;
      entry.status = ExecutionStatus.RUNNING;
      this.#running++;
      void this.#run(entry)
        .catch((error: unknown) => ({
          status: ExecutionStatus.FAILED,
          error: serializeError(error),
        }))
        .then((outcome) => {
          this.#running--;
          this.#tasks.settle(entry, outcome);
          this.#drain();
        });
    }
  }

  async #run(entry: Task): Promise<TaskOutcome> {
    const { task } = entry;
    // No gpus here (submit rejects them), so the grant is exactly the request.
    const granted = jobGrant(normalizeResources(task.resources));
    await mkdir(this.#options.workDir, { recursive: true });
    const dir = await mkdtemp(join(this.#options.workDir, 'phys-sandbox-'));
    const envelope = await writeTaskEnvelope(
      dir,
      taskEnvelopeInit(task, this.#options.configFile, granted),
      task.input,
    );
    const env: NodeJS.ProcessEnv = {};
    for (const name of this.#options.passEnv) {
      if (process.env[name] !== undefined) env[name] = process.env[name];
    }
    const log = await open(join(dir, 'output.log'), 'w');
    try {
      const [program, ...args] = this.#options.taskCommand as [string, ...string[]];
      entry.child = spawn(program, [...args, envelope], {
        cwd: dir,
        env,
        stdio: ['ignore', log.fd, log.fd],
      });
    } finally {
      await log.close();
    }
    // Stopped before the process existed (cancel right after submit).
    if (entry.stop !== undefined) entry.child.kill('SIGTERM');
    const timer =
      task.timeoutSeconds === undefined
        ? undefined
        : setTimeout(() => this.#stop(entry, 'timeout'), task.timeoutSeconds * 1000);
    const exit = await new Promise<number | null>((resolve) => {
      entry.child?.once('error', () => resolve(null));
      entry.child?.once('exit', (code) => resolve(code));
    });
    if (timer !== undefined) clearTimeout(timer);
    if (entry.stop === 'cancel') {
      return {
        status: ExecutionStatus.CANCELLED,
        error: serializeError(new CancelledError(`Node '${task.nodeId}' was cancelled.`)),
        granted,
      };
    }
    if (entry.stop === 'timeout') {
      return {
        status: ExecutionStatus.TIMEOUT,
        error: serializeError(
          new TimeoutError(`Node '${task.nodeId}' exceeded its ${task.timeoutSeconds} s.`),
        ),
        granted,
      };
    }
    const result = await readResultEnvelope(envelope);
    if (result === undefined) {
      // Core's job-failure vocabulary: the same codes as Slurm, PBS and every other scheduler.
      const tail = await logTail(join(dir, 'output.log'));
      const failure = new JobFailureError(
        exit === TASK_EXIT_CODES.COMPLETED ? 'NO_RESULT' : 'EXIT',
        {
          scheduler: this.name,
          nativeState: `exit ${exit ?? 'unknown'}`,
          nodeId: task.nodeId,
          jobId: entry.handle.jobId,
          ...(exit === null ? {} : { exitCode: exit }),
          note: `${tail === '' ? '' : `${tail}\n`}Its output is in ${join(dir, 'output.log')}.`,
        },
      );
      return { status: ExecutionStatus.FAILED, error: serializeError(failure), granted };
    }
    // Failed sandboxes stay for inspection; completed ones go.
    if (result.envelope.status === 'COMPLETED') await rm(dir, { recursive: true, force: true });
    return resultOutcome(result, granted);
  }

  #stop(entry: Task, why: 'cancel' | 'timeout'): void {
    entry.stop ??= why;
    const child = entry.child;
    if (child === undefined) return;
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), this.#options.graceSeconds * 1000).unref();
  }
}
