// Entry of the worker threads behind `thread` isolation (see thread-runner.ts). A worker rebuilds
// each stage by identity through the registry of the config file (loaded once per thread),
// decodes the input, runs the stage, and answers with one encoded buffer that is moved, not
// copied, back. Tasks and abort requests arrive in order on the worker's own port, one task at a
// time.
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
import { executeTask, FileArtifactRecorder, loadRuntime, type PhysRuntime } from '@phys/runtime';
import { stageSlot } from './thread-protocol.js';

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
}

/** A message asking the running attempt `id` to stop. */
export interface AbortMessage {
  readonly id: number;
  readonly abort: 'cancel' | 'timeout';
  readonly message: string;
}

/** The answer to task `id`: its encoded reply (`{ ok, ... }`), moved to the pool's thread. */
export interface ThreadAnswer {
  readonly id: number;
  readonly bytes: Uint8Array;
}

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
 * Shared with the pool (see thread-protocol.ts): slot 0 holds `stageSlot(id)` of
 * the task whose stage code is running, 0 otherwise. The pool reads it when an abort goes
 * unacknowledged: a thread in stage code is stuck there and is terminated, one still loading its
 * config is not.
 */
const inStage: Int32Array | undefined =
  (workerData as { inStage?: SharedArrayBuffer } | null)?.inStage === undefined
    ? undefined
    : new Int32Array((workerData as { inStage: SharedArrayBuffer }).inStage);

const stages = new Map<string, PipelineStage>();
const runtimes = new Map<string, Promise<PhysRuntime>>();
const running = new Map<number, AbortController>();
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
    runtime.catch(() => runtimes.delete(configFile));
  }
  return runtime;
}

async function stageFor(task: ThreadTask): Promise<PipelineStage> {
  const key = `${task.configFile}\0${task.stage.name}@${task.stage.version}\0${task.label}\0${JSON.stringify(task.stage.config)}`;
  let stage = stages.get(key);
  if (stage === undefined) {
    const runtime = await runtimeFor(task.configFile);
    stage = runtime.stages.rebuild(task.stage, { label: task.label });
    if (stages.size > 1000) stages.clear();
    stages.set(key, stage);
  }
  return stage;
}

/** Runs one attempt; resolves to its encoded reply (never rejects). */
export async function runThreadTask(task: ThreadTask): Promise<Uint8Array> {
  const controller = new AbortController();
  running.set(task.id, controller);
  try {
    const stage = await stageFor(task);
    logger ??= createConsoleLogger('info');
    // An abort that came while the config loaded in one synchronous stretch waits in the port:
    // take it now rather than start a stage that nobody waits for.
    drainAborts();
    if (controller.signal.aborted) throw controller.signal.reason;
    if (inStage !== undefined) Atomics.store(inStage, 0, stageSlot(task.id));
    const out = await executeTask({
      stage,
      input: decodeState(task.input),
      policy: new PolicyBag(task.policy),
      runId: task.runId,
      nodeId: task.nodeId,
      attempt: task.attempt,
      resources: task.resources,
      signal: controller.signal,
      logger,
      point: task.point,
      ...(task.artifactsDir === undefined
        ? {}
        : { recorder: new FileArtifactRecorder(task.artifactsDir) }),
    });
    return encodeState({ ok: true, ...out });
  } catch (error) {
    const reason = controller.signal.aborted && !isPhys(error) ? controller.signal.reason : error;
    return encodeState({ ok: false, error: serializeError(reason) });
  } finally {
    if (inStage !== undefined) Atomics.store(inStage, 0, 0);
    running.delete(task.id);
  }
}

/** Handles the abort messages waiting in the port, synchronously (tasks come one at a time). */
function drainAborts(): void {
  if (parentPort === null) return;
  for (;;) {
    const next = receiveMessageOnPort(parentPort);
    if (next === undefined) return;
    onMessage(next.message as ThreadTask | AbortMessage);
  }
}

function onAbort(message: AbortMessage): void {
  // An attempt that already answered is not running any more: nothing to stop.
  const controller = running.get(message.id);
  if (controller === undefined) return;
  const ack: AbortAck = { id: message.id, ack: true };
  parentPort?.postMessage(ack);
  controller.abort(
    message.abort === 'timeout'
      ? new TimeoutError(message.message)
      : new CancelledError(message.message),
  );
}

function onMessage(message: ThreadTask | AbortMessage): void {
  if ('abort' in message) {
    onAbort(message);
    return;
  }
  const id = message.id;
  void runThreadTask(message).then((bytes) => {
    const answer: ThreadAnswer = { id, bytes };
    parentPort?.postMessage(answer, [bytes.buffer as ArrayBuffer]);
  });
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
