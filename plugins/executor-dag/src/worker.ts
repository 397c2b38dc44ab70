// Entry of the worker threads behind `thread` isolation (see thread-runner.ts). A worker rebuilds
// each stage by identity through the registry of the config file (loaded once per thread),
// decodes the input, runs the stage, and answers with one encoded buffer (copied back when it is
// small, moved when it is large: see COPY_BYTES). Tasks come in batches and run one at a time, in order; answers go back in
// batches too (see {@link ANSWER_BATCH}). Abort requests arrive in order on the worker's own port.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import {
  CancelledError,
  createConsoleLogger,
  decodeState,
  encodeState,
  type GrantedResources,
  type Logger,
  type PipelineStage,
  PolicyBag,
  type StageRef,
  serializeError,
  TimeoutError,
} from '@phys/core';
import {
  executeTaskEager,
  FileArtifactRecorder,
  loadRuntime,
  type PhysRuntime,
  type PortableResult,
} from '@phys/runtime';
import { COPY_BYTES, IN_STAGE, LAST_STARTED, stageSlot } from './thread-protocol.js';

/** What the pool sends for one node attempt. */
export interface ThreadTask {
  /** Names the attempt in the reply and in an {@link AbortMessage}. */
  readonly id: number;
  readonly configFile: string;
  readonly stage: StageRef;
  readonly label: string;
  readonly runId: string;
  readonly nodeId: string;
  readonly attempt: number;
  readonly policy: Readonly<Record<string, unknown>>;
  readonly resources: GrantedResources;
  readonly input: Uint8Array;
  readonly artifactsDir?: string;
  readonly point?: Readonly<Record<string, unknown>>;
  /**
   * The answer may wait for those of the next tasks (an attempt the scheduler pipelined: it has
   * no timeout). Other answers go at once, with any that waited.
   */
  readonly batch?: true;
}

/** A message asking the running attempt `id` to stop. */
export interface AbortMessage {
  readonly id: number;
  readonly abort: 'cancel' | 'timeout';
  readonly message: string;
}

/** The answer to task `id`: its encoded reply (`{ ok, ... }`), copied or moved to the pool's thread. */
export interface ThreadAnswer {
  readonly id: number;
  readonly bytes: Uint8Array;
  /** Milliseconds the thread spent on the task, rebuilding its stage included. */
  readonly ms: number;
}

/** What the pool sends: the tasks to run, in order. */
export type ThreadBatch = readonly ThreadTask[];

/**
 * Sent as soon as an {@link AbortMessage} for a running attempt arrives: the thread's event loop
 * is free, so the stage can see its AbortSignal and gets the grace period to stop. A thread
 * that sends none is stuck in synchronous code and is terminated at once.
 */
export interface AbortAck {
  readonly id: number;
  readonly ack: true;
}

/**
 * Shared with the pool (see thread-protocol.ts): slot {@link IN_STAGE} holds `stageSlot(id)` of
 * the task whose stage code is running, 0 otherwise. The pool reads it when an abort goes
 * unacknowledged: a thread in stage code is stuck there and is terminated, one still loading its
 * config is not. Slot {@link LAST_STARTED} holds `stageSlot(id)` of the last task the thread
 * began: those queued behind it never started, and run elsewhere if the thread is lost.
 */
const shared: Int32Array | undefined =
  (workerData as { shared?: SharedArrayBuffer } | null)?.shared === undefined
    ? undefined
    : new Int32Array((workerData as { shared: SharedArrayBuffer }).shared);

const stages = new Map<string, PipelineStage>();

const runtimes = new Map<string, Promise<PhysRuntime>>();
const running = new Map<number, TaskAbort>();

/**
 * The abort of a running task. Its AbortSignal is made only when the stage asks for it
 * (`ctx.signal`): most stages never do, and making one costs more than a small stage's work.
 */
class TaskAbort {
  aborted = false;
  reason: unknown = undefined;
  #controller: AbortController | undefined;

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.aborted) this.#controller.abort(this.reason);
    }
    return this.#controller.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.#controller?.abort(reason);
  }
}
let logger: Logger | undefined;

/**
 * The runtime of a config file, loaded once per thread (a failed load is retried by the next
 * task). Kept here rather than asked of `loadRuntime` for every stage rebuilt: that resolves the
 * file's real path on the thread pool each time.
 */
function runtimeFor(configFile: string): Promise<PhysRuntime> {
  let runtime = runtimes.get(configFile);
  if (runtime === undefined) {
    runtime = loadRuntime(configFile, { command: 'exec', logger: createConsoleLogger('warn') });
    runtimes.set(configFile, runtime);
    runtime.then(
      (value) => loaded.set(configFile, value),
      () => runtimes.delete(configFile),
    );
  }
  return runtime;
}

/** The runtimes of {@link runtimes} that have loaded: stages rebuild from them without waiting. */
const loaded = new Map<string, PhysRuntime>();

/**
 * The stage of a task, rebuilt once per identity, label and config (rebuilding validates the
 * config): from the cache or the loaded runtime without waiting (a config the stage refuses
 * throws), or once the config file's runtime is loaded.
 */
function stageFor(task: ThreadTask): PipelineStage | Promise<PipelineStage> {
  const key = `${task.configFile}\0${task.stage.name}@${task.stage.version}\0${task.label}\0${JSON.stringify(task.stage.config)}`;
  const stage = stages.get(key);
  if (stage !== undefined) return stage;
  const runtime = loaded.get(task.configFile);
  if (runtime !== undefined) return rebuild(runtime, task, key);
  return runtimeFor(task.configFile).then((ready) => rebuild(ready, task, key));
}

function rebuild(runtime: PhysRuntime, task: ThreadTask, key: string): PipelineStage {
  const stage = runtime.stages.rebuild(task.stage, { label: task.label });
  if (stages.size >= 4096) stages.clear();
  stages.set(key, stage);
  return stage;
}

/**
 * The tasks of one message share their policy object (structured clone keeps shared references):
 * one PolicyBag for all of them.
 */
let lastPolicy: Readonly<Record<string, unknown>> | undefined;
let lastBag: PolicyBag | undefined;
function policyBag(policy: Readonly<Record<string, unknown>>): PolicyBag {
  if (policy !== lastPolicy || lastBag === undefined) {
    lastPolicy = policy;
    lastBag = new PolicyBag(policy);
  }
  return lastBag;
}

/**
 * Runs one attempt: its encoded reply, or a promise of it when the stage must be waited for (its
 * config file is loading, it returned a promise, it has artifacts to record). Never throws or
 * rejects. Small stages run start to end in one synchronous stretch, with no promise of their own.
 */
function runThreadTask(task: ThreadTask): Uint8Array | Promise<Uint8Array> {
  const abort = new TaskAbort();
  running.set(task.id, abort);
  let out: PortableResult | Promise<PortableResult>;
  try {
    const stage = stageFor(task);
    out =
      stage instanceof Promise
        ? stage.then((ready) => {
            // An abort that came while the config loaded in one synchronous stretch waits in
            // the port: take it now rather than start a stage that nobody waits for.
            drain();
            return start(task, ready, abort);
          })
        : start(task, stage, abort);
  } catch (error) {
    return failed(task, abort, error);
  }
  if (out instanceof Promise) {
    return out.then(
      (result) => succeeded(task, result),
      (error: unknown) => failed(task, abort, error),
    );
  }
  return succeeded(task, out);
}

/**
 * Starts the stage of a task, unless an abort came first (the port was drained just before: by
 * the caller after a wait, or after the task before, see {@link done}).
 */
function start(
  task: ThreadTask,
  stage: PipelineStage,
  abort: TaskAbort,
): PortableResult | Promise<PortableResult> {
  logger ??= createConsoleLogger('info');
  if (abort.aborted) throw abort.reason;
  if (shared !== undefined) Atomics.store(shared, IN_STAGE, stageSlot(task.id));
  return executeTaskEager({
    stage,
    // A small input may be one buffer shared by the tasks of a message: each gets its own copy.
    input: decodeState(task.input, task.input.byteLength <= COPY_BYTES ? { copy: true } : {}),
    policy: policyBag(task.policy),
    runId: task.runId,
    nodeId: task.nodeId,
    attempt: task.attempt,
    resources: task.resources,
    get signal() {
      return abort.signal;
    },
    logger,
    point: task.point,
    ...(task.artifactsDir === undefined
      ? {}
      : { recorder: new FileArtifactRecorder(task.artifactsDir) }),
  });
}

function succeeded(task: ThreadTask, out: PortableResult): Uint8Array {
  ended(task);
  // The reply is `{ ok: true, ...out }`, written out: a spread copies through the slow path.
  return encodeState({
    ok: true,
    state: out.state,
    ...(out.metrics === undefined ? {} : { metrics: out.metrics }),
    ...(out.artifacts === undefined ? {} : { artifacts: out.artifacts }),
    ...(out.provenance === undefined ? {} : { provenance: out.provenance }),
    wallTimeSeconds: out.wallTimeSeconds,
  });
}

function failed(task: ThreadTask, abort: TaskAbort, error: unknown): Uint8Array {
  ended(task);
  const reason = abort.aborted && !isPhys(error) ? abort.reason : error;
  return encodeState({ ok: false, error: serializeError(reason) });
}

function ended(task: ThreadTask): void {
  if (shared !== undefined) Atomics.store(shared, IN_STAGE, 0);
  running.delete(task.id);
}

/** Tasks received and not started yet, in order. */
const queue: ThreadTask[] = [];
let driving = false;
/** Answers not sent yet, and the buffers they move. */
let answers: ThreadAnswer[] = [];
let moved: ArrayBuffer[] = [];
/** When the oldest unsent answer was ready (performance.now()). */
let oldest = 0;

/**
 * Answers of pipelined tasks (`batch`) go back in batches while more tasks wait here: one
 * message, and one wake-up of the pool's thread, per batch rather than per task. A batch is sent
 * once it holds this many answers, once its oldest answer waited {@link ANSWER_WAIT_MS} (checked
 * after each task: an answer can wait for one more task of its short stage), after an answer
 * that may not wait, before the loop waits for a task (see {@link drive}), or when no task is
 * left to run. The pool queues up to twice this many
 * tasks on a thread (MAX_QUEUED in thread-runner.ts).
 */
const ANSWER_BATCH = 16;
const ANSWER_WAIT_MS = 0.5;

function send(): void {
  if (answers.length === 0) return;
  const out = answers;
  const buffers = moved;
  answers = [];
  moved = [];
  parentPort?.postMessage(out, buffers);
}

function answer(id: number, bytes: Uint8Array, ms: number): void {
  if (answers.length === 0) oldest = performance.now();
  answers.push({ id, bytes, ms });
  // A small answer is copied into the message (see COPY_BYTES), a large one moved.
  if (bytes.byteLength > COPY_BYTES) moved.push(bytes.buffer as ArrayBuffer);
}

/**
 * Runs the queued tasks one after the other, taking what arrives on the port between them. A
 * task that must be waited for suspends the loop; it resumes once that task has answered.
 */
function drive(): void {
  driving = true;
  let waiting = false;
  try {
    // What came behind the message that started the loop (an abort of its first task) first.
    drain();
    for (;;) {
      const task = queue.shift();
      if (task === undefined) break;
      if (shared !== undefined) Atomics.store(shared, LAST_STARTED, stageSlot(task.id));
      const t0 = performance.now();
      const bytes = runThreadTask(task);
      if (bytes instanceof Promise) {
        waiting = true;
        // The answers held for a batch do not wait for this one.
        send();
        void bytes.then((settled) => {
          try {
            done(task, settled, t0);
          } finally {
            drive();
          }
        });
        return;
      }
      done(task, bytes, t0);
    }
  } finally {
    if (!waiting) {
      driving = false;
      send();
    }
  }
}

/** Task `task` answered `bytes`: the answer goes back now, or with the next ones (see ANSWER_BATCH). */
function done(task: ThreadTask, bytes: Uint8Array, t0: number): void {
  answer(task.id, bytes, performance.now() - t0);
  // Tasks and aborts that came meanwhile wait in the port: the event loop has not run.
  drain();
  if (
    task.batch !== true ||
    queue.length === 0 ||
    answers.length >= ANSWER_BATCH ||
    performance.now() - oldest >= ANSWER_WAIT_MS
  ) {
    send();
  }
}

/** Handles the messages waiting in the port, synchronously. */
function drain(): void {
  if (parentPort === null) return;
  for (;;) {
    const next = receiveMessageOnPort(parentPort);
    if (next === undefined) return;
    take(next.message as ThreadBatch | AbortMessage);
  }
}

function onAbort(message: AbortMessage): void {
  const task = running.get(message.id);
  if (task === undefined) {
    // Still queued here: it never starts, and its answer goes back at once.
    const at = queue.findIndex((queued) => queued.id === message.id);
    if (at < 0) return; // it already answered: nothing to stop
    queue.splice(at, 1);
    const ack: AbortAck = { id: message.id, ack: true };
    parentPort?.postMessage(ack);
    const bytes = encodeState({ ok: false, error: serializeError(abortError(message)) });
    answer(message.id, bytes, 0);
    send();
    return;
  }
  const ack: AbortAck = { id: message.id, ack: true };
  parentPort?.postMessage(ack);
  task.abort(abortError(message));
}

function abortError(message: AbortMessage): Error {
  return message.abort === 'timeout'
    ? new TimeoutError(message.message)
    : new CancelledError(message.message);
}

/** A message of the pool: a batch of tasks joins the queue, an abort applies at once. */
function take(message: ThreadBatch | AbortMessage): void {
  if (Array.isArray(message)) {
    for (const task of message as ThreadBatch) queue.push(task);
    return;
  }
  onAbort(message as AbortMessage);
}

function onMessage(message: ThreadBatch | AbortMessage): void {
  take(message);
  if (!driving && queue.length > 0) drive();
}

function isPhys(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { code?: unknown }).code === 'string' &&
    String((error as { code: string }).code).startsWith('PHYS_')
  );
}

if (parentPort !== null) parentPort.on('message', onMessage);
