import { pathToFileURL } from 'node:url';
import { type ResourceLimits, Worker } from 'node:worker_threads';
import {
  CancelledError,
  decodeState,
  deserializeError,
  encodeState,
  PhysError,
  type SerializedPhysError,
  StageExecutionError,
} from '@phys/core';
import type { PortableResult } from '@phys/runtime';
import { builtFile } from './built-file.js';
import type { RemoteJob } from './local-scheduler.js';
import type { AbortMessage, ThreadAnswer, ThreadTask } from './worker.js';

interface ThreadRunnerOptions {
  readonly maxThreads: number;
  readonly graceMs: number;
  readonly resourceLimits?: ResourceLimits;
}

type Reply = ({ ok: true } & PortableResult) | { ok: false; error: SerializedPhysError };

/** A worker thread stops after this long without a task (the pool shrinks back to none). */
const IDLE_MS = 30_000;

/** One worker thread of the pool; it runs one attempt at a time. */
interface PoolThread {
  readonly worker: Worker;
  /** The attempt it runs, or undefined while it is idle. */
  task: Attempt | undefined;
  /** Left the pool (exited, crashed, killed or retired): its events are ignored from then on. */
  gone: boolean;
  idleSince: number;
  idleTimer: NodeJS.Timeout | undefined;
}

/** One call of {@link ThreadRunner.run}, from its dispatch to its answer. */
interface Attempt {
  readonly task: ThreadTask;
  readonly job: RemoteJob;
  readonly signal: AbortSignal;
  readonly onAbort: () => void;
  readonly resolve: (bytes: Uint8Array) => void;
  readonly reject: (error: unknown) => void;
  /** The thread running it; undefined while it waits for one. */
  thread: PoolThread | undefined;
  grace: NodeJS.Timeout | undefined;
}

/**
 * `thread` isolation: a bounded pool of worker threads that rebuild stages by identity (see
 * worker.ts). Each thread runs one attempt at a time; the task, and a request to stop it, go to
 * the thread on its own port, in order, and the answer is one encoded buffer moved back. An
 * abort is first delivered cooperatively (the stage's AbortSignal fires in the worker) and the
 * thread is terminated only after the grace period. A thread that crashes, runs out of memory or
 * exits fails the attempt it was running and is replaced on demand; idle threads do not keep the
 * process alive and stop after 30 s.
 *
 * Earlier versions used piscina with a MessageChannel per attempt for the abort. With stages of
 * a few microseconds, that channel (created, transferred, started and closed per attempt) and
 * piscina's per-task bookkeeping cost more than the worker-thread round trip itself; this pool
 * does only what `thread` isolation needs (bench: thread_dispatch).
 */
export class ThreadRunner {
  readonly #options: ThreadRunnerOptions;
  readonly #threads = new Set<PoolThread>();
  readonly #idle: PoolThread[] = [];
  readonly #waiting: Attempt[] = [];
  #entry: string | undefined;
  #nextId = 0;

  constructor(options: ThreadRunnerOptions) {
    this.#options = options;
  }

  async run(configFile: string, job: RemoteJob, signal: AbortSignal): Promise<PortableResult> {
    if (signal.aborted) throw abortReason(signal, job.nodeId);
    const input = encodeState(job.input);
    const task: ThreadTask = {
      id: this.#nextId++,
      configFile,
      stage: job.stage,
      label: job.label,
      runId: job.runId,
      nodeId: job.nodeId,
      attempt: job.attempt,
      policy: job.policy,
      resources: job.resources,
      input,
      ...(job.artifactsDir === undefined ? {} : { artifactsDir: job.artifactsDir }),
    };
    const bytes = await new Promise<Uint8Array>((resolve, reject) => {
      const attempt: Attempt = {
        task,
        job,
        signal,
        onAbort: () => this.#abort(attempt),
        resolve,
        reject,
        thread: undefined,
        grace: undefined,
      };
      signal.addEventListener('abort', attempt.onAbort, { once: true });
      this.#dispatch(attempt);
    });
    const reply = decodeState(bytes) as Reply;
    if (!reply.ok) throw deserializeError(reply.error);
    const { ok: _ok, ...result } = reply;
    return result;
  }

  /** Terminates every thread; attempts still running or waiting fail as crashed. */
  async close(): Promise<void> {
    const threads = [...this.#threads];
    this.#threads.clear();
    this.#idle.length = 0;
    const stopped = new Error('Terminating worker thread');
    for (const attempt of this.#waiting.splice(0))
      this.#fail(attempt, crashed(attempt.job, stopped));
    for (const thread of threads) {
      thread.gone = true;
      if (thread.idleTimer !== undefined) clearTimeout(thread.idleTimer);
      const attempt = thread.task;
      thread.task = undefined;
      if (attempt !== undefined) this.#fail(attempt, crashed(attempt.job, stopped));
    }
    await Promise.all(threads.map((thread) => thread.worker.terminate()));
  }

  #dispatch(attempt: Attempt): void {
    let thread = this.#idle.pop();
    if (thread === undefined) {
      if (this.#threads.size >= this.#options.maxThreads) {
        this.#waiting.push(attempt);
        return;
      }
      try {
        thread = this.#spawn();
      } catch (error) {
        this.#fail(attempt, crashed(attempt.job, error));
        return;
      }
    } else {
      thread.worker.ref();
    }
    this.#start(thread, attempt);
  }

  #start(thread: PoolThread, attempt: Attempt): void {
    thread.task = attempt;
    attempt.thread = thread;
    try {
      thread.worker.postMessage(attempt.task, [attempt.task.input.buffer as ArrayBuffer]);
    } catch (error) {
      // Not cloneable (a policy or config value structured clone refuses): the thread is fine.
      this.#release(thread);
      this.#fail(attempt, crashed(attempt.job, error));
    }
  }

  #spawn(): PoolThread {
    // The entry is a one-line script that imports worker.js rather than the module itself: a
    // module entry refuses some flags of the parent that a script accepts (`node
    // --input-type=module -e ...` hands its workers `--input-type`).
    this.#entry ??= `import(${JSON.stringify(pathToFileURL(builtFile(import.meta.url, 'worker.js')).href)});`;
    const worker = new Worker(this.#entry, {
      eval: true,
      execArgv: workerExecArgv(),
      ...(this.#options.resourceLimits === undefined
        ? {}
        : { resourceLimits: this.#options.resourceLimits }),
    });
    const thread: PoolThread = {
      worker,
      task: undefined,
      gone: false,
      idleSince: 0,
      idleTimer: undefined,
    };
    worker.on('message', (answer: ThreadAnswer) => this.#answered(thread, answer));
    // 'error' (an uncaught exception, an exhausted heap) is followed by 'exit'; the first one
    // fails the attempt, the second finds the thread gone.
    worker.on('error', (error: Error) => this.#lost(thread, error));
    worker.on('exit', (code: number) =>
      this.#lost(thread, new Error(`worker exited with code: ${code}`)),
    );
    worker.on('messageerror', (error: Error) => {
      const attempt = thread.task;
      if (attempt === undefined) return;
      this.#release(thread);
      this.#fail(attempt, crashed(attempt.job, error));
    });
    this.#threads.add(thread);
    return thread;
  }

  #answered(thread: PoolThread, answer: ThreadAnswer): void {
    const attempt = thread.task;
    // An answer that raced a kill after the grace period, or from a thread already closed.
    if (attempt === undefined || attempt.task.id !== answer.id || thread.gone) return;
    this.#release(thread);
    this.#settle(attempt);
    attempt.resolve(answer.bytes);
  }

  /** The thread finished its attempt: it takes the next waiting one or goes idle. */
  #release(thread: PoolThread): void {
    thread.task = undefined;
    const next = this.#waiting.shift();
    if (next !== undefined) {
      this.#start(thread, next);
      return;
    }
    thread.worker.unref();
    thread.idleSince = performance.now();
    this.#idle.push(thread);
    if (thread.idleTimer === undefined) {
      thread.idleTimer = setTimeout(() => this.#idleCheck(thread), IDLE_MS).unref();
    }
  }

  /** One timer per idle stretch, not per attempt: re-armed for the rest of the idle time. */
  #idleCheck(thread: PoolThread): void {
    thread.idleTimer = undefined;
    if (thread.gone || thread.task !== undefined) return;
    const left = IDLE_MS - (performance.now() - thread.idleSince);
    if (left > 1) {
      thread.idleTimer = setTimeout(() => this.#idleCheck(thread), left).unref();
      return;
    }
    this.#remove(thread);
    void thread.worker.terminate();
  }

  /** The thread exited or crashed: its attempt fails and a waiting attempt gets a new thread. */
  #lost(thread: PoolThread, error: Error): void {
    if (thread.gone) return;
    this.#remove(thread);
    const attempt = thread.task;
    thread.task = undefined;
    if (attempt !== undefined) this.#fail(attempt, crashed(attempt.job, error));
    void thread.worker.terminate();
    this.#refill();
  }

  #remove(thread: PoolThread): void {
    thread.gone = true;
    if (thread.idleTimer !== undefined) clearTimeout(thread.idleTimer);
    thread.idleTimer = undefined;
    this.#threads.delete(thread);
    const at = this.#idle.indexOf(thread);
    if (at >= 0) this.#idle.splice(at, 1);
  }

  /** Starts threads for waiting attempts after threads left the pool. */
  #refill(): void {
    while (this.#waiting.length > 0 && this.#threads.size < this.#options.maxThreads) {
      this.#dispatch(this.#waiting.shift() as Attempt);
    }
  }

  #abort(attempt: Attempt): void {
    const thread = attempt.thread;
    if (thread === undefined) {
      // Still waiting for a thread: it never starts.
      const at = this.#waiting.indexOf(attempt);
      if (at >= 0) this.#waiting.splice(at, 1);
      this.#fail(attempt, abortReason(attempt.signal, attempt.job.nodeId));
      return;
    }
    if (thread.task !== attempt) return;
    const reason: unknown = attempt.signal.reason;
    const message: AbortMessage = {
      id: attempt.task.id,
      abort: PhysError.is(reason) && reason.code === 'PHYS_TIMEOUT' ? 'timeout' : 'cancel',
      message: PhysError.is(reason)
        ? reason.message
        : `Node '${attempt.job.nodeId}' was cancelled.`,
    };
    thread.worker.postMessage(message);
    attempt.grace = setTimeout(() => this.#kill(thread, attempt), this.#options.graceMs);
  }

  /** The grace period ran out: the thread is terminated and the attempt fails with the reason. */
  #kill(thread: PoolThread, attempt: Attempt): void {
    attempt.grace = undefined;
    if (thread.gone || thread.task !== attempt) return;
    this.#remove(thread);
    thread.task = undefined;
    void thread.worker.terminate();
    const reason = abortReason(attempt.signal, attempt.job.nodeId);
    this.#fail(
      attempt,
      new PhysError(
        reason.code,
        `${reason.message} The worker thread did not stop within ${this.#options.graceMs / 1000} s and was terminated.`,
        { cause: reason, retryable: reason.retryable },
      ),
    );
    this.#refill();
  }

  #settle(attempt: Attempt): void {
    attempt.signal.removeEventListener('abort', attempt.onAbort);
    if (attempt.grace !== undefined) clearTimeout(attempt.grace);
  }

  #fail(attempt: Attempt, error: unknown): void {
    this.#settle(attempt);
    attempt.reject(error);
  }
}

/**
 * The parent's node flags for the pool's workers, minus export conditions (workers run the built
 * JavaScript of the workspace packages, never their TypeScript sources, which `--conditions
 * @phys/source` picks) and minus the flags a worker thread refuses: V8 options such as
 * `--max-old-space-size` or `--expose-gc` apply to the whole process, and Node throws
 * ERR_WORKER_INVALID_EXEC_ARGV for a worker given one. Which flags those are is Node's to say,
 * so it is asked once, with one flag that is invalid on purpose: the Worker constructor then
 * rejects the list before starting any thread and names every invalid flag in it.
 */
function workerExecArgv(): string[] {
  workerFlags ??= acceptedByWorkers(withoutConditions(process.execArgv));
  return [...workerFlags];
}

let workerFlags: readonly string[] | undefined;

const PROBE_FLAG = '--phys-probe-worker-flags';

function withoutConditions(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--conditions' || arg === '-C') {
      i++;
      continue;
    }
    if (arg.startsWith('--conditions=')) continue;
    out.push(arg);
  }
  return out;
}

function acceptedByWorkers(argv: readonly string[]): readonly string[] {
  if (argv.length === 0) return argv;
  let message: string;
  try {
    // Never starts: the probe flag makes the constructor throw before the thread is created.
    const worker = new Worker('', { eval: true, execArgv: [...argv, PROBE_FLAG] });
    void worker.terminate();
    return argv;
  } catch (error) {
    const e = error as { code?: unknown; message?: unknown };
    if (e.code !== 'ERR_WORKER_INVALID_EXEC_ARGV' || typeof e.message !== 'string') return argv;
    message = e.message;
  }
  const listed = message.slice(message.indexOf(':') + 1).split(',');
  const invalid = new Set(listed.map((flag) => flag.trim()));
  if (!invalid.has(PROBE_FLAG)) return argv;
  return argv.filter((arg) => !invalid.has(arg));
}

function abortReason(signal: AbortSignal, nodeId: string): PhysError {
  const reason: unknown = signal.reason;
  return PhysError.is(reason)
    ? reason
    : new CancelledError(`Node '${nodeId}' was cancelled.`, { cause: reason });
}

function crashed(job: RemoteJob, error: unknown): PhysError {
  const e = error as { message?: unknown; code?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(error);
  const outOfMemory = e?.code === 'ERR_WORKER_OUT_OF_MEMORY' || /out of memory/i.test(message);
  return new StageExecutionError(
    job.label,
    outOfMemory
      ? `The worker thread running node '${job.nodeId}' ran out of memory (${message}). Raise threadResourceLimits or run the node with 'process' isolation.`
      : `The worker thread running node '${job.nodeId}' crashed: ${message}. The stage exited the thread or threw outside its promise; fix the stage or use 'process' isolation.`,
    { cause: error, details: { nodeId: job.nodeId, crash: true, outOfMemory } },
  );
}
