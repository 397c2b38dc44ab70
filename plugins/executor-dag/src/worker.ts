// Entry of the piscina worker threads behind `thread` isolation. A worker rebuilds each stage by
// identity through the registry of the config file (loaded once per thread), decodes the input,
// runs the stage, and answers with one encoded buffer that is moved, not copied, back.
import type { MessagePort } from 'node:worker_threads';
import {
  CancelledError,
  createConsoleLogger,
  decodeState,
  encodeState,
  FileArtifactRecorder,
  type GrantedResources,
  type Logger,
  type PipelineStage,
  PolicyBag,
  type StageRef,
  serializeError,
  TimeoutError,
} from '@phys/core';
import { executeTask, rebuildStage } from '@phys/core/node';
import { move } from 'piscina';

/** What the pool sends for one node attempt. */
export interface ThreadTask {
  readonly configFile: string;
  readonly stage: StageRef;
  readonly label: string;
  readonly runId: string;
  readonly nodeId: string;
  readonly attempt: number;
  readonly policy: Readonly<Record<string, unknown>>;
  readonly resources: GrantedResources;
  readonly input: Uint8Array;
  /** Receives `{ abort: 'cancel' | 'timeout', message }` when the attempt must stop. */
  readonly port: MessagePort;
  readonly artifactsDir?: string;
}

/** A message asking a running attempt to stop. */
export interface AbortMessage {
  readonly abort: 'cancel' | 'timeout';
  readonly message: string;
}

const stages = new Map<string, PipelineStage>();
let logger: Logger | undefined;

async function stageFor(task: ThreadTask): Promise<PipelineStage> {
  const key = `${task.configFile}\0${task.stage.name}@${task.stage.version}\0${task.label}\0${JSON.stringify(task.stage.config)}`;
  let stage = stages.get(key);
  if (stage === undefined) {
    stage = await rebuildStage(task.configFile, task.stage, {
      label: task.label,
      command: 'exec',
      logger: createConsoleLogger('warn'),
    });
    if (stages.size > 1000) stages.clear();
    stages.set(key, stage);
  }
  return stage;
}

export default async function runThreadTask(task: ThreadTask): Promise<unknown> {
  const controller = new AbortController();
  task.port.on('message', (message: AbortMessage) => {
    controller.abort(
      message.abort === 'timeout'
        ? new TimeoutError(message.message)
        : new CancelledError(message.message),
    );
  });
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
    return move(encodeState({ ok: true, ...out }));
  } catch (error) {
    const reason = controller.signal.aborted && !isPhys(error) ? controller.signal.reason : error;
    return move(encodeState({ ok: false, error: serializeError(reason) }));
  } finally {
    task.port.close();
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
