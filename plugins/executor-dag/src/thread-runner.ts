import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  CancelledError,
  decodeState,
  deserializeError,
  encodeState,
  type GrantedResources,
  PhysError,
  type SerializedPhysError,
  StageExecutionError,
  type StageRef,
} from '@phys/core';
import type { PortableResult } from '@phys/runtime';
import { builtFile } from './built-file.js';
import type { RemoteJob } from './local-scheduler.js';
import type { AbortSource, ThreadPoolStats, ThreadResourceLimits } from './public-types.js';
import { COPY_BYTES, IN_STAGE, LAST_STARTED, SHARED_SLOTS, stageSlot } from './thread-protocol.js';
import type { AbortAck, AbortMessage, ThreadAnswer, ThreadTask } from './worker.js';

interface ThreadRunnerOptions {
  /** Attempts this runner has on threads at once (the scheduler's maxWorkers). */
  readonly maxThreads: number;
  readonly graceMs: number;
  readonly resourceLimits?: ThreadResourceLimits;
}

type Reply = ({ ok: true } & PortableResult) | { ok: false; error: SerializedPhysError };

/**
 * The abort of one thread attempt: an AbortController and its signal in one small object with
 * one listener (the pool's), instead of an EventTarget per attempt. The stage itself gets a real
 * AbortSignal in its worker thread.
 */
export class AttemptAbort implements AbortSource {
  aborted = false;
  reason: unknown = undefined;
  #listener: (() => void) | undefined = undefined;

  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason ?? new CancelledError('The attempt was cancelled.');
    const listener = this.#listener;
    this.#listener = undefined;
    listener?.();
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    this.#listener = listener;
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    if (this.#listener === listener) this.#listener = undefined;
  }
}

/** A worker thread stops after this long without a task (the pool shrinks back to none). */
const IDLE_MS = 30_000;

/**
 * How long a thread asked to stop has to acknowledge it. A thread whose event loop is free
 * answers within milliseconds and then gets the whole grace period; one that does not is running
 * synchronous code that can never see its AbortSignal, so waiting out the grace period would
 * only delay the cancellation (Ctrl-C must take effect within a second).
 */
export const ABORT_ACK_MS = 250;

/**
 * Pipelining: a stage whose recent attempts took less than this on their thread (ms, rebuilding
 * the stage included) is short; more of its attempts may queue on a thread behind the one it
 * runs (see {@link ThreadPool.canPipeline}).
 */
const SHORT_MS = 1;
/** The work queued behind a running short attempt is kept under about this many ms... */
const QUEUED_MS = 2;
/**
 * ...and under this many attempts per thread: twice a worker's answer batch (ANSWER_BATCH in
 * worker.ts), so that a thread still has a batch's worth of work queued while the pool handles
 * the batch it just answered.
 */
const MAX_QUEUED = 32;
/** Weight of the newest duration in a stage's running average. */
const EWMA = 0.2;

/** One worker thread of the pool; it runs its attempts one at a time, in order. */
interface PoolThread {
  readonly worker: Worker;
  /** The attempts sent to it (or about to be) and not answered, in the order it runs them. */
  readonly queue: Attempt[];
  /** Tasks of the queue not posted yet: they go in one message at the end of the tick. */
  outbox: ThreadTask[];
  /** The runner whose attempts the queue holds (one runner per thread at a time). */
  owner: Set<Attempt> | undefined;
  /** The grant every attempt of the queue holds, while they all hold the same one. */
  grant: GrantedResources | undefined;
  /** The stage of every attempt of the queue, while they are all of the same one. */
  key: string | undefined;
  /** Left the pool (exited, crashed, killed or retired): its events are ignored from then on. */
  gone: boolean;
  idleSince: number;
  idleTimer: NodeJS.Timeout | undefined;
  /** Shared with the thread: see thread-protocol.ts (IN_STAGE, LAST_STARTED) and worker.ts. */
  readonly shared: Int32Array;
}

/** One call of {@link ThreadRunner.run}, from its dispatch to its answer. */
interface Attempt {
  readonly task: ThreadTask;
  readonly job: RemoteJob;
  /** The stage's identity, for its running average duration. */
  readonly key: string;
  /**
   * Admitted beyond the runner's slots (see {@link ThreadPool.canPipeline}): the attempts with
   * its grant that were pipelined then, itself included; 0 for an attempt that holds a slot.
   */
  readonly pipelined: number;
  readonly signal: AbortSource;
  readonly onAbort: () => void;
  readonly resolve: (result: PortableResult) => void;
  readonly reject: (error: unknown) => void;
  /** Seconds, as ms, the stage gets to stop once it acknowledged an abort. */
  readonly graceMs: number;
  /** The attempts of the runner it came from: that runner's close() stops them. */
  readonly owner: Set<Attempt>;
  /** The thread it is queued on; undefined while it waits for one. */
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
 * scheduler using it asks for; each run's own limit comes from its scheduler's resource grants.
 *
 * A thread runs its attempts one at a time, in order. The attempts dispatched in one tick go to a
 * thread in one message, and its answers come back in batches (one encoded buffer each, moved,
 * not copied): with stages of a few microseconds, the wake-ups of two threads per message, not
 * the work, are the cost. An attempt takes an idle thread; an attempt its scheduler admitted
 * beyond its slots because its stage is short (pipelining, see {@link ThreadPool.canPipeline})
 * queues behind an attempt of the same runner holding the same grant instead, so that the thread
 * finds its next task waiting when it answers; a runner never has more attempts running at once
 * than its slots allow.
 *
 * An abort is first delivered cooperatively (the stage's AbortSignal fires in the worker, or a
 * queued task is dropped there) and the thread is terminated only after the grace period. A
 * thread that crashes, runs out of memory or exits fails the attempt it was running; the attempts
 * queued behind it that never started run on another thread. Threads are replaced on demand;
 * idle threads do not keep the process alive and stop after 30 s.
 *
 * Earlier versions used piscina with a MessageChannel per attempt for the abort. With stages of
 * a few microseconds, that channel (created, transferred, started and closed per attempt) and
 * piscina's per-task bookkeeping cost more than the worker-thread round trip itself; this pool
 * does only what `thread` isolation needs (bench: thread_dispatch).
 */
export class ThreadPool {
  static readonly #pools = new Map<string, ThreadPool>();

  /** The process's pool for threads with `resourceLimits` (created on first use). */
  static shared(resourceLimits?: ThreadResourceLimits): ThreadPool {
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

  readonly #resourceLimits: ThreadResourceLimits | undefined;
  /** maxThreads of each runner using the pool. */
  readonly #demands = new Map<object, number>();
  readonly #threads = new Set<PoolThread>();
  readonly #idle: PoolThread[] = [];
  readonly #waiting: Attempt[] = [];
  /** Threads with tasks in their outbox, posted at the end of the tick. */
  readonly #unsent: PoolThread[] = [];
  /** Running average of the ms an attempt of each stage took on its thread. */
  readonly #durations = new Map<string, number>();
  #entry: string | undefined;
  #nextId = 0;
  #cores: number | undefined;
  /** The last input encoded in this tick, and its bytes (see #encode). */
  #lastInput: unknown;
  #lastBytes: Uint8Array | undefined;
  /** A #post is queued. */
  #posting = false;

  private constructor(resourceLimits: ThreadResourceLimits | undefined) {
    this.#resourceLimits = resourceLimits;
  }

  /** Threads the pool may hold: the machine's cores, or the largest demand of a runner. */
  #limit(): number {
    // Asking the system for the cores is a system call: once per pool (the pipelining checks
    // ask for every attempt).
    this.#cores ??= availableParallelism();
    let limit = this.#cores;
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

  /**
   * Whether one more attempt of stage `key` holding `grant` may queue, now, behind an attempt
   * of `owner` on a thread: the stage is short (its running average is under
   * {@link SHORT_MS}) and such a thread has room (the work queued on it stays under
   * {@link QUEUED_MS} and {@link MAX_QUEUED} attempts).
   */
  canPipeline(owner: Set<Attempt>, grant: GrantedResources, key: string, piped: number): boolean {
    return this.#pipelineThread(owner, grant, key, piped, 1) !== undefined;
  }

  /**
   * Where a pipelined attempt holding `grant` goes, `piped` attempts with that grant being
   * pipelined (this one included): `null` for a thread of its own, else the thread of the
   * runner with the shortest queue that has room; undefined when the stage is not short or no
   * thread has room. The slots of `grant` that the runner's thread attempts hold are its attempts
   * with `grant` (plus `extra` not made yet) minus the pipelined ones: while they occupy fewer
   * threads than that, an attempt may take a free thread (an attempt that held such a slot ended
   * and a pipelined one took it over), so that the work spreads over every slot again.
   */
  #pipelineThread(
    owner: Set<Attempt>,
    grant: GrantedResources,
    key: string,
    piped: number,
    extra = 0,
  ): PoolThread | null | undefined {
    const ms = this.#durations.get(key);
    if (ms === undefined || ms >= SHORT_MS) return undefined;
    const room = 1 + Math.min(MAX_QUEUED, Math.floor(QUEUED_MS / Math.max(ms, 0.01)));
    let best: PoolThread | undefined;
    let occupied = 0;
    for (const thread of this.#threads) {
      const queued = thread.queue.length;
      if (queued === 0 || thread.owner !== owner || thread.grant !== grant || thread.gone) continue;
      occupied++;
      // Only behind attempts of the same short stage: never behind a long one.
      if (
        queued < room &&
        thread.key === key &&
        (best === undefined || queued < best.queue.length)
      ) {
        best = thread;
      }
    }
    if (this.#idle.length > 0 || this.#threads.size < this.#limit()) {
      let attempts = extra;
      for (const attempt of owner) if (attempt.job.resources === grant) attempts++;
      if (occupied < attempts - piped) return null;
    }
    return best;
  }

  run(
    configFile: string,
    job: RemoteJob,
    signal: AbortSource,
    graceMs: number,
    owner: Set<Attempt>,
    pipelined: number,
  ): Promise<PortableResult> {
    if (signal.aborted) return Promise.reject(abortReason(signal, job.nodeId));
    let input: Uint8Array;
    try {
      input = this.#encode(job.input);
    } catch (error) {
      return Promise.reject(error);
    }
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
      ...(pipelined > 0 ? { batch: true as const } : {}),
    };
    // One promise per attempt, settled with the decoded reply (see #answered).
    return new Promise<PortableResult>((resolve, reject) => {
      const attempt: Attempt = {
        task,
        job,
        key: stageKey(configFile, job.stage),
        pipelined,
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
      } else if (!thread.gone && thread.queue.includes(attempt)) {
        // Every attempt on the thread is this runner's: they all fail below.
        this.#remove(thread);
        thread.queue.length = 0;
        thread.outbox = [];
        terminating.push(thread.worker.terminate());
      }
      this.#fail(attempt, crashed(attempt.job, stopped));
    }
    await Promise.all(terminating);
    this.#refill();
  }

  /**
   * The encoded input. Inputs shared by the attempts of one tick (the initial state of every
   * root, the output of a node with many dependents) are encoded once: nothing runs between
   * them that could change the value, and small buffers are copied into each message rather
   * than moved (see #post).
   */
  #encode(input: unknown): Uint8Array {
    if (input === this.#lastInput && this.#lastBytes !== undefined) return this.#lastBytes;
    const bytes = encodeState(input);
    if (typeof input === 'object' && input !== null && bytes.byteLength <= COPY_BYTES) {
      // Forgotten at the end of the tick, when the tasks are posted (#post).
      this.#lastInput = input;
      this.#lastBytes = bytes;
      this.#endOfTick();
    }
    return bytes;
  }

  #dispatch(attempt: Attempt): void {
    if (attempt.pipelined > 0) {
      const behind = this.#pipelineThread(
        attempt.owner,
        attempt.job.resources,
        attempt.key,
        attempt.pipelined,
      );
      if (behind) {
        this.#start(behind, attempt);
        return;
      }
      // The attempt it was to queue behind has ended meanwhile (or its thread was lost): its
      // slot is this attempt's now (LocalScheduler.release), so it may take a thread of its own.
    }
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

  /** Queues `attempt` on `thread`; its task is posted with the others of this tick. */
  #start(thread: PoolThread, attempt: Attempt): void {
    if (thread.queue.length === 0) {
      thread.owner = attempt.owner;
      thread.grant = attempt.job.resources;
      thread.key = attempt.key;
    } else {
      if (thread.grant !== attempt.job.resources) thread.grant = undefined;
      if (thread.key !== attempt.key) thread.key = undefined;
    }
    thread.queue.push(attempt);
    attempt.thread = thread;
    if (thread.outbox.length === 0) {
      this.#endOfTick();
      this.#unsent.push(thread);
    }
    thread.outbox.push(attempt.task);
  }

  /** Queues {@link ThreadPool.#post} for the end of this tick (once). */
  #endOfTick(): void {
    if (this.#posting) return;
    this.#posting = true;
    queueMicrotask(this.#post);
  }

  /**
   * Posts every thread's outbox (one message per thread for the attempts of a tick) and forgets
   * the input encoded last.
   */
  readonly #post = (): void => {
    this.#posting = false;
    this.#lastInput = undefined;
    this.#lastBytes = undefined;
    const threads = this.#unsent.splice(0);
    for (const thread of threads) {
      const tasks = thread.outbox;
      thread.outbox = [];
      if (tasks.length === 0 || thread.gone) continue;
      try {
        thread.worker.postMessage(tasks, moved(tasks));
      } catch {
        // Not cloneable (a policy or config value structured clone refuses): the thread is
        // fine. Nothing was moved; each task goes on its own, and those that cannot fail.
        for (const task of tasks) this.#postOne(thread, task);
      }
    }
  };

  #postOne(thread: PoolThread, task: ThreadTask): void {
    try {
      thread.worker.postMessage([task], moved([task]));
    } catch (error) {
      const at = thread.queue.findIndex((a) => a.task === task);
      if (at < 0) return;
      const attempt = thread.queue[at] as Attempt;
      thread.queue.splice(at, 1);
      if (thread.queue.length === 0) this.#release(thread);
      this.#fail(attempt, crashed(attempt.job, error));
    }
  }

  #spawn(): PoolThread {
    // The entry is a one-line script that imports worker.js rather than the module itself: a
    // module entry refuses some flags of the parent that a script accepts (`node
    // --input-type=module -e ...` hands its workers `--input-type`).
    this.#entry ??= `import(${JSON.stringify(pathToFileURL(builtFile(import.meta.url, 'worker.js')).href)});`;
    const shared = new SharedArrayBuffer(SHARED_SLOTS * 4);
    const worker = new Worker(this.#entry, {
      eval: true,
      execArgv: workerExecArgv(),
      workerData: { shared },
      ...(this.#resourceLimits === undefined ? {} : { resourceLimits: this.#resourceLimits }),
    });
    const thread: PoolThread = {
      worker,
      queue: [],
      outbox: [],
      owner: undefined,
      grant: undefined,
      key: undefined,
      gone: false,
      idleSince: 0,
      idleTimer: undefined,
      shared: new Int32Array(shared),
    };
    worker.on('message', (message: readonly ThreadAnswer[] | AbortAck) => {
      if (Array.isArray(message)) {
        for (const answer of message as readonly ThreadAnswer[]) this.#answered(thread, answer);
      } else {
        this.#acknowledged(thread, message as AbortAck);
      }
    });
    // 'error' (an uncaught exception, an exhausted heap) is followed by 'exit'; the first one
    // fails the attempt, the second finds the thread gone.
    worker.on('error', (error: Error) => this.#lost(thread, error));
    worker.on('exit', (code: number) =>
      this.#lost(thread, new Error(`worker exited with code: ${code}`)),
    );
    worker.on('messageerror', (error: Error) => {
      // An answer that could not be read: the attempt the thread answered first is the one.
      const attempt = thread.queue.shift();
      if (attempt === undefined) return;
      if (thread.queue.length === 0) this.#release(thread);
      this.#fail(attempt, crashed(attempt.job, error));
    });
    this.#threads.add(thread);
    return thread;
  }

  /** The attempt of `thread`'s queue with task `id`, or undefined. */
  #find(thread: PoolThread, id: number): Attempt | undefined {
    const queue = thread.queue;
    const first = queue[0];
    if (first === undefined || first.task.id === id) return first;
    return queue.find((a) => a.task.id === id);
  }

  #answered(thread: PoolThread, answer: ThreadAnswer): void {
    // An answer that raced a kill after the grace period, or from a thread already closed.
    if (thread.gone) return;
    const queue = thread.queue;
    const attempt = this.#find(thread, answer.id);
    if (attempt === undefined) return;
    if (queue[0] === attempt) queue.shift();
    else queue.splice(queue.indexOf(attempt), 1);
    if (answer.ms > 0) {
      const was = this.#durations.get(attempt.key);
      this.#durations.set(
        attempt.key,
        was === undefined ? answer.ms : was + EWMA * (answer.ms - was),
      );
    }
    if (queue.length === 0) this.#release(thread);
    this.#settle(attempt);
    let reply: Reply;
    try {
      reply = decodeState(answer.bytes) as Reply;
    } catch (error) {
      attempt.reject(error);
      return;
    }
    if (!reply.ok) {
      attempt.reject(deserializeError(reply.error));
      return;
    }
    // The reply without its `ok`, written out: a rest copy goes through the slow path.
    attempt.resolve({
      state: reply.state,
      ...(reply.metrics === undefined ? {} : { metrics: reply.metrics }),
      ...(reply.artifacts === undefined ? {} : { artifacts: reply.artifacts }),
      ...(reply.provenance === undefined ? {} : { provenance: reply.provenance }),
      wallTimeSeconds: reply.wallTimeSeconds,
    });
  }

  /** The thread saw the abort of its attempt: the stage gets the grace period to stop. */
  #acknowledged(thread: PoolThread, ack: AbortAck): void {
    if (thread.gone) return;
    const attempt = this.#find(thread, ack.id);
    if (attempt === undefined) return;
    if (attempt.grace !== undefined) clearTimeout(attempt.grace);
    attempt.acked = true;
    attempt.grace = setTimeout(() => this.#kill(thread, attempt), attempt.graceMs);
  }

  /** The thread answered every attempt it had: it takes the next waiting one or goes idle. */
  #release(thread: PoolThread): void {
    thread.owner = undefined;
    thread.grant = undefined;
    thread.key = undefined;
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
    if (thread.gone || thread.queue.length > 0) return;
    const left = IDLE_MS - (performance.now() - thread.idleSince);
    if (left > 1) {
      thread.idleTimer = setTimeout(() => this.#idleCheck(thread), left).unref();
      return;
    }
    this.#remove(thread);
    void thread.worker.terminate();
  }

  /**
   * The thread exited or crashed: the attempts it began and did not answer fail, those queued
   * behind them that it never started run on another thread.
   */
  #lost(thread: PoolThread, error: Error): void {
    if (thread.gone) return;
    this.#remove(thread);
    const { began, notStarted } = this.#split(thread);
    for (const attempt of began) this.#fail(attempt, crashed(attempt.job, error));
    void thread.worker.terminate();
    this.#requeue(notStarted);
    this.#refill();
  }

  /**
   * Empties the queue of a thread that left the pool: the attempts it began (up to the last one
   * it started, see worker.ts), and those behind them. Tasks still in its outbox never left.
   */
  #split(thread: PoolThread): { began: Attempt[]; notStarted: Attempt[] } {
    const queue = thread.queue.splice(0);
    const unsent = new Set(thread.outbox);
    thread.outbox = [];
    const last = Atomics.load(thread.shared, LAST_STARTED);
    let cut = 0;
    for (let k = 0; k < queue.length; k++) {
      const attempt = queue[k] as Attempt;
      if (unsent.has(attempt.task)) break;
      if (stageSlot(attempt.task.id) === last) {
        cut = k + 1;
        break;
      }
    }
    return { began: queue.slice(0, cut), notStarted: queue.slice(cut) };
  }

  /** Attempts that never started on a lost thread: first in line for the next threads. */
  #requeue(attempts: readonly Attempt[]): void {
    for (let k = attempts.length - 1; k >= 0; k--) {
      const attempt = attempts[k] as Attempt;
      attempt.thread = undefined;
      this.#waiting.unshift(attempt);
    }
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
    while (this.#waiting.length > 0) {
      const thread = this.#idle.pop();
      if (thread !== undefined) {
        thread.worker.ref();
        this.#start(thread, this.#waiting.shift() as Attempt);
        continue;
      }
      if (this.#threads.size >= this.#limit()) return;
      const attempt = this.#waiting.shift() as Attempt;
      let spawned: PoolThread;
      try {
        spawned = this.#spawn();
      } catch (error) {
        this.#fail(attempt, crashed(attempt.job, error));
        continue;
      }
      this.#start(spawned, attempt);
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
    if (thread.gone || !thread.queue.includes(attempt)) return;
    const unsent = thread.outbox.indexOf(attempt.task);
    if (unsent >= 0) {
      // Not posted yet: it never reaches the thread.
      thread.outbox.splice(unsent, 1);
      thread.queue.splice(thread.queue.indexOf(attempt), 1);
      if (thread.queue.length === 0) this.#release(thread);
      this.#fail(attempt, abortReason(attempt.signal, attempt.job.nodeId));
      return;
    }
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
   * ABORT_ACK_MS). Stuck in this attempt's stage code, it is terminated; still loading its
   * config or running the attempt before it, it will take the abort before the stage starts
   * (worker.ts), so it is given longer, up to the grace period.
   */
  #awaitAck(thread: PoolThread, attempt: Attempt): void {
    const left = attempt.graceMs - (performance.now() - attempt.abortedAt);
    attempt.grace = setTimeout(
      () => {
        attempt.grace = undefined;
        if (attempt.acked || thread.gone || !thread.queue.includes(attempt)) return;
        const inStage = Atomics.load(thread.shared, IN_STAGE) === stageSlot(attempt.task.id);
        if (inStage || performance.now() - attempt.abortedAt >= attempt.graceMs) {
          this.#kill(thread, attempt);
        } else {
          this.#awaitAck(thread, attempt);
        }
      },
      Math.max(0, Math.min(ABORT_ACK_MS, left)),
    );
  }

  /**
   * The grace period ran out: the thread is terminated and the attempt fails with the reason.
   * The other attempts the thread began fail with it; those it never started run elsewhere once
   * it is gone.
   */
  #kill(thread: PoolThread, attempt: Attempt): void {
    attempt.grace = undefined;
    if (thread.gone || !thread.queue.includes(attempt)) return;
    this.#remove(thread);
    const terminated = thread.worker.terminate();
    const { began, notStarted } = this.#split(thread);
    const reason = abortReason(attempt.signal, attempt.job.nodeId);
    const error = new PhysError(
      reason.code,
      attempt.acked || performance.now() - attempt.abortedAt >= attempt.graceMs
        ? `${reason.message} The worker thread did not stop within ${attempt.graceMs / 1000} s and was terminated.`
        : `${reason.message} The worker thread was busy in synchronous code, where the stage cannot see its AbortSignal, and was terminated.`,
      { cause: reason, retryable: reason.retryable },
    );
    for (const other of began) {
      if (other === attempt) this.#fail(attempt, error);
      else {
        this.#fail(
          other,
          crashed(
            other.job,
            new Error(`terminated to stop node '${attempt.job.nodeId}' (${reason.message})`),
          ),
        );
      }
    }
    const waitingHere = notStarted.filter((a) => a !== attempt);
    if (notStarted.includes(attempt)) this.#fail(attempt, error);
    // Those it never started run elsewhere, once it has stopped for sure.
    for (const other of waitingHere) other.thread = undefined;
    void terminated.then(
      () => this.#resume(waitingHere),
      () => this.#resume(waitingHere),
    );
  }

  /** Attempts taken from a terminated thread go back in line, unless they ended meanwhile. */
  #resume(attempts: readonly Attempt[]): void {
    this.#requeue(attempts.filter((a) => a.owner.has(a)));
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

/** The buffers a message moves: the inputs larger than {@link COPY_BYTES}. */
function moved(tasks: readonly ThreadTask[]): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const task of tasks) {
    if (task.input.byteLength > COPY_BYTES) out.push(task.input.buffer as ArrayBuffer);
  }
  return out;
}

/** A stage's identity in a config file: what its running average duration is kept by. */
function stageKey(configFile: string, stage: StageRef): string {
  return `${configFile}\0${stage.name}@${stage.version}`;
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

  /**
   * Runs one attempt on a thread. With `pipelined` > 0, the attempt was admitted beyond the
   * scheduler's slots ({@link ThreadRunner.canPipeline}) as one of `pipelined` such attempts
   * holding its grant: it queues behind an attempt of this runner, or takes a thread of its own
   * while they hold more slots than they occupy threads.
   */
  run(
    configFile: string,
    job: RemoteJob,
    signal: AbortSource,
    pipelined = 0,
  ): Promise<PortableResult> {
    // A closed scheduler's runner is back in the pool as soon as it is used again.
    if (this.#closed) {
      this.#closed = false;
      this.#pool.join(this, this.#maxThreads);
    }
    return this.#pool.run(configFile, job, signal, this.#graceMs, this.#attempts, pipelined);
  }

  /**
   * Whether an attempt of `stage` holding `grant` may queue now behind one of this runner's
   * attempts on a thread: the stage's recent attempts were short and such a thread has room.
   */
  canPipeline(
    configFile: string,
    stage: StageRef,
    grant: GrantedResources,
    piped: number,
  ): boolean {
    return (
      !this.#closed &&
      this.#pool.canPipeline(this.#attempts, grant, stageKey(configFile, stage), piped)
    );
  }

  /** Stops this runner's attempts (running ones with their threads) and leaves the pool. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#pool.stop(this.#attempts);
    this.#pool.leave(this);
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

function abortReason(signal: AbortSource, nodeId: string): PhysError {
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
