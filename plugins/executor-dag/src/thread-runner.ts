import { availableParallelism } from 'node:os';
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
import { stageSlot } from './thread-protocol.js';
import type { AbortAck, AbortMessage, ThreadAnswer, ThreadTask } from './worker.js';

interface ThreadRunnerOptions {
  /** Attempts this runner has on threads at once (the scheduler's maxWorkers). */
  readonly maxThreads: number;
  readonly graceMs: number;
  readonly resourceLimits?: ResourceLimits;
}

/** What {@link threadPoolStats} reports. @public */
export interface ThreadPoolStats {
  /** Worker threads alive, across every pool of the process. */
  readonly threads: number;
  /** Threads running an attempt. */
  readonly busy: number;
  /** Attempts waiting for a thread. */
  readonly waiting: number;
  /** The most threads the pools may have at once: the machine's cores, or more if asked. */
  readonly maxThreads: number;
}

type Reply = ({ ok: true } & PortableResult) | { ok: false; error: SerializedPhysError };

/** A worker thread stops after this long without a task (the pool shrinks back to none). */
const IDLE_MS = 30_000;

/**
 * How long a thread asked to stop has to acknowledge it. A thread whose event loop is free
 * answers within milliseconds and then gets the whole grace period; one that does not is running
 * synchronous code that can never see its AbortSignal, so waiting out the grace period would
 * only delay the cancellation (Ctrl-C must take effect within a second).
 */
export const ABORT_ACK_MS = 250;

/** One worker thread of the pool; it runs one attempt at a time. */
interface PoolThread {
  readonly worker: Worker;
  /** The attempt it runs, or undefined while it is idle. */
  task: Attempt | undefined;
  /** Left the pool (exited, crashed, killed or retired): its events are ignored from then on. */
  gone: boolean;
  idleSince: number;
  idleTimer: NodeJS.Timeout | undefined;
  /** Slot 0: `stageSlot(id)` of the task whose stage code runs on it, 0 otherwise (worker.ts). */
  readonly inStage: Int32Array;
}

/** One call of {@link ThreadRunner.run}, from its dispatch to its answer. */
interface Attempt {
  readonly task: ThreadTask;
  readonly job: RemoteJob;
  readonly signal: AbortSignal;
  readonly onAbort: () => void;
  readonly resolve: (bytes: Uint8Array) => void;
  readonly reject: (error: unknown) => void;
  /** Seconds, as ms, the stage gets to stop once it acknowledged an abort. */
  readonly graceMs: number;
  /** The attempts of the runner it came from: that runner's close() stops them. */
  readonly owner: Set<Attempt>;
  /** The thread running it; undefined while it waits for one. */
  thread: PoolThread | undefined;
  grace: NodeJS.Timeout | undefined;
  /** The thread acknowledged the abort: its event loop was free to deliver it to the stage. */
  acked: boolean;
  /** When the abort was sent (performance.now()). */
  abortedAt: number;
}

/**
 * `thread` isolation: the process's pool of worker threads that rebuild stages by identity (see
 * worker.ts). There is one pool per process (per distinct `resourceLimits`), shared by every
 * run and executor in it: thirty concurrent runs use the machine's cores, not thirty pools. It
 * holds at most as many threads as the machine has cores, or as the largest `maxWorkers` of a
 * scheduler using it asks for; each run's own limit comes from its scheduler's resource grants. Each thread runs one attempt at a time; the task, and a request to stop it, go to
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
export class ThreadPool {
  static readonly #pools = new Map<string, ThreadPool>();

  /** The process's pool for threads with `resourceLimits` (created on first use). */
  static shared(resourceLimits?: ResourceLimits): ThreadPool {
    const key = resourceLimits === undefined ? '' : JSON.stringify(resourceLimits);
    let pool = ThreadPool.#pools.get(key);
    if (pool === undefined) {
      pool = new ThreadPool(resourceLimits);
      ThreadPool.#pools.set(key, pool);
    }
    return pool;
  }

  /** Every pool of the process, summed. */
  static stats(): ThreadPoolStats {
    let threads = 0;
    let busy = 0;
    let waiting = 0;
    let maxThreads = availableParallelism();
    for (const pool of ThreadPool.#pools.values()) {
      threads += pool.#threads.size;
      busy += pool.#threads.size - pool.#idle.length;
      waiting += pool.#waiting.length;
      maxThreads = Math.max(maxThreads, pool.#limit());
    }
    return { threads, busy, waiting, maxThreads };
  }

  readonly #resourceLimits: ResourceLimits | undefined;
  /** maxThreads of each runner using the pool. */
  readonly #demands = new Map<object, number>();
  readonly #threads = new Set<PoolThread>();
  readonly #idle: PoolThread[] = [];
  readonly #waiting: Attempt[] = [];
  #entry: string | undefined;
  #nextId = 0;

  private constructor(resourceLimits: ResourceLimits | undefined) {
    this.#resourceLimits = resourceLimits;
  }

  /** Threads the pool may hold: the machine's cores, or the largest demand of a runner. */
  #limit(): number {
    let limit = availableParallelism();
    for (const demand of this.#demands.values()) if (demand > limit) limit = demand;
    return limit;
  }

  /** `runner` runs up to `threads` attempts at once; the pool grows to that if it must. */
  join(runner: object, threads: number): void {
    this.#demands.set(runner, threads);
  }

  /** `runner` is done with the pool: idle threads beyond the new limit stop. */
  leave(runner: object): void {
    this.#demands.delete(runner);
    const limit = this.#limit();
    while (this.#threads.size > limit && this.#idle.length > 0) {
      const thread = this.#idle.pop() as PoolThread;
      this.#remove(thread);
      void thread.worker.terminate();
    }
  }

  async run(
    configFile: string,
    job: RemoteJob,
    signal: AbortSignal,
    graceMs: number,
    owner: Set<Attempt>,
  ): Promise<PortableResult> {
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
      ...(job.point === undefined ? {} : { point: job.point }),
    };
    const bytes = await new Promise<Uint8Array>((resolve, reject) => {
      const attempt: Attempt = {
        task,
        job,
        signal,
        onAbort: () => this.#abort(attempt),
        resolve,
        reject,
        graceMs,
        owner,
        thread: undefined,
        grace: undefined,
        acked: false,
        abortedAt: 0,
      };
      owner.add(attempt);
      signal.addEventListener('abort', attempt.onAbort, { once: true });
      this.#dispatch(attempt);
    });
    const reply = decodeState(bytes) as Reply;
    if (!reply.ok) throw deserializeError(reply.error);
    const { ok: _ok, ...result } = reply;
    return result;
  }

  /**
   * Stops the attempts of one runner: waiting ones fail, and the threads running the others are
   * terminated (they run that runner's stages) and replaced on demand. Other runners' attempts
   * go on.
   */
  async stop(owner: Set<Attempt>): Promise<void> {
    const stopped = new Error('Terminating worker thread');
    const terminating: Promise<number>[] = [];
    for (const attempt of [...owner]) {
      const thread = attempt.thread;
      if (thread === undefined) {
        const at = this.#waiting.indexOf(attempt);
        if (at >= 0) this.#waiting.splice(at, 1);
      } else if (thread.task === attempt && !thread.gone) {
        this.#remove(thread);
        thread.task = undefined;
        terminating.push(thread.worker.terminate());
      }
      this.#fail(attempt, crashed(attempt.job, stopped));
    }
    await Promise.all(terminating);
    this.#refill();
  }

  #dispatch(attempt: Attempt): void {
    let thread = this.#idle.pop();
    if (thread === undefined) {
      if (this.#threads.size >= this.#limit()) {
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
    const inStage = new SharedArrayBuffer(4);
    const worker = new Worker(this.#entry, {
      eval: true,
      execArgv: workerExecArgv(),
      workerData: { inStage },
      ...(this.#resourceLimits === undefined ? {} : { resourceLimits: this.#resourceLimits }),
    });
    const thread: PoolThread = {
      worker,
      task: undefined,
      gone: false,
      idleSince: 0,
      idleTimer: undefined,
      inStage: new Int32Array(inStage),
    };
    worker.on('message', (answer: ThreadAnswer | AbortAck) => {
      if ('ack' in answer) this.#acknowledged(thread, answer);
      else this.#answered(thread, answer);
    });
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

  /** The thread saw the abort of its attempt: the stage gets the grace period to stop. */
  #acknowledged(thread: PoolThread, ack: AbortAck): void {
    const attempt = thread.task;
    if (attempt === undefined || attempt.task.id !== ack.id || thread.gone) return;
    if (attempt.grace !== undefined) clearTimeout(attempt.grace);
    attempt.acked = true;
    attempt.grace = setTimeout(() => this.#kill(thread, attempt), attempt.graceMs);
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
    while (this.#waiting.length > 0 && this.#threads.size < this.#limit()) {
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
    attempt.abortedAt = performance.now();
    this.#awaitAck(thread, attempt);
  }

  /**
   * Until the thread acknowledges the abort, it may be stuck in synchronous code (see
   * ABORT_ACK_MS). Stuck in stage code, it is terminated; still loading its config, it will
   * take the abort before the stage starts (worker.ts), so it is given longer, up to the grace
   * period.
   */
  #awaitAck(thread: PoolThread, attempt: Attempt): void {
    const left = attempt.graceMs - (performance.now() - attempt.abortedAt);
    attempt.grace = setTimeout(
      () => {
        attempt.grace = undefined;
        if (attempt.acked || thread.gone || thread.task !== attempt) return;
        const inStage = Atomics.load(thread.inStage, 0) === stageSlot(attempt.task.id);
        if (inStage || performance.now() - attempt.abortedAt >= attempt.graceMs) {
          this.#kill(thread, attempt);
        } else {
          this.#awaitAck(thread, attempt);
        }
      },
      Math.max(0, Math.min(ABORT_ACK_MS, left)),
    );
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
        attempt.acked || performance.now() - attempt.abortedAt >= attempt.graceMs
          ? `${reason.message} The worker thread did not stop within ${attempt.graceMs / 1000} s and was terminated.`
          : `${reason.message} The worker thread was busy in synchronous code, where the stage cannot see its AbortSignal, and was terminated.`,
        { cause: reason, retryable: reason.retryable },
      ),
    );
    this.#refill();
  }

  #settle(attempt: Attempt): void {
    attempt.owner.delete(attempt);
    attempt.signal.removeEventListener('abort', attempt.onAbort);
    if (attempt.grace !== undefined) clearTimeout(attempt.grace);
  }

  #fail(attempt: Attempt, error: unknown): void {
    this.#settle(attempt);
    attempt.reject(error);
  }
}

/**
 * One scheduler's use of the process's {@link ThreadPool}: its grace period, its share of the
 * threads, and its attempts, which {@link ThreadRunner.close} stops without touching other
 * schedulers' work.
 */
export class ThreadRunner {
  readonly #pool: ThreadPool;
  readonly #graceMs: number;
  readonly #maxThreads: number;
  readonly #attempts = new Set<Attempt>();
  #closed = false;

  constructor(options: ThreadRunnerOptions) {
    this.#pool = ThreadPool.shared(options.resourceLimits);
    this.#graceMs = options.graceMs;
    this.#maxThreads = options.maxThreads;
    this.#pool.join(this, options.maxThreads);
  }

  run(configFile: string, job: RemoteJob, signal: AbortSignal): Promise<PortableResult> {
    // A closed scheduler's runner is back in the pool as soon as it is used again.
    if (this.#closed) {
      this.#closed = false;
      this.#pool.join(this, this.#maxThreads);
    }
    return this.#pool.run(configFile, job, signal, this.#graceMs, this.#attempts);
  }

  /** Stops this runner's attempts (running ones with their threads) and leaves the pool. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#pool.stop(this.#attempts);
    this.#pool.leave(this);
  }
}

/**
 * Threads of the process's worker-thread pools right now: for progress displays, servers and
 * tests (`thread` isolation shares one pool per process across runs and executors).
 * @public
 */
export function threadPoolStats(): ThreadPoolStats {
  return ThreadPool.stats();
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
