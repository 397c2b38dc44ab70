// Entry of the worker threads behind `thread` isolation (see thread-runner.ts). A worker rebuilds
// each stage by identity through the registry of the config file (loaded once per thread),
// decodes the input, runs the stage, and answers with one encoded buffer that is moved, not
// copied, back. Tasks and abort requests arrive in order on the worker's own port, one task at a
// time.
import { parentPort } from 'node:worker_threads';
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
      ...(task.artifactsDir === undefined
        ? {}
        : { recorder: new FileArtifactRecorder(task.artifactsDir) }),
    });
    return encodeState({ ok: true, ...out });
  } catch (error) {
    const reason = controller.signal.aborted && !isPhys(error) ? controller.signal.reason : error;
    return encodeState({ ok: false, error: serializeError(reason) });
  } finally {
    running.delete(task.id);
  }
}

function isPhys(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { code?: unknown }).code === 'string' &&
    String((error as { code: string }).code).startsWith('PHYS_')
  );
}

if (parentPort !== null) {
  const port = parentPort;
  port.on('message', (message: ThreadTask | AbortMessage) => {
    if ('abort' in message) {
      // An attempt that already answered is not running any more: nothing to stop.
      running
        .get(message.id)
        ?.abort(
          message.abort === 'timeout'
            ? new TimeoutError(message.message)
            : new CancelledError(message.message),
        );
      return;
    }
    const id = message.id;
    void runThreadTask(message).then((bytes) => {
      const answer: ThreadAnswer = { id, bytes };
      port.postMessage(answer, [bytes.buffer as ArrayBuffer]);
    });
  });
}
