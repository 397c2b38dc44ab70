import { writeSync } from 'node:fs';
import {
  CancelledError,
  createConsoleLogger,
  encodeState,
  PhysError,
  PolicyBag,
  type SerializedPhysError,
  serializeError,
  TASK_EXIT_CODES,
} from '@phys/core';
import {
  atomicWrite,
  envelopePath,
  RESULT_ENVELOPE_FORMAT,
  type ResultEnvelope,
  readTaskEnvelope,
  readTaskInput,
  type TaskEnvelope,
} from '@phys/scheduler-kit';
import { FileArtifactRecorder } from '../file-artifact-recorder.js';
import { rebuildStage } from '../rebuild-stage.js';
import { executeTask } from './execute-task.js';

/**
 * Environment variable naming a file descriptor on which `phys exec` acknowledges SIGTERM and
 * SIGINT with one byte, written from the signal's handler. A parent that stops a task sees from
 * the answer that the task's event loop is free, and grants the stage its grace period; no answer
 * means the stage is stuck in synchronous code that cannot see its AbortSignal, so the parent
 * kills it at once instead of waiting out the grace period.
 * @public
 */
export const TASK_ABORT_ACK_ENV = 'PHYS_TASK_ABORT_ACK_FD';

function abortAckFd(): number | undefined {
  const raw = process.env[TASK_ABORT_ACK_ENV];
  // Not inherited by processes the stage starts: the descriptor is this process's alone.
  delete process.env[TASK_ABORT_ACK_ENV];
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  return Number(raw);
}

/** One `error PHYS_CODE: message` line on stderr, as the `phys` CLI prints errors. */
function printError(error: SerializedPhysError): void {
  process.stderr.write(`error ${error.code}: ${error.message}\n`);
}

/**
 * Executes one task envelope in this process: rebuilds the stage through the registry of the
 * envelope's config file, runs it on the decoded input, and writes the result envelope, the
 * encoded state and an exit-code file beside it. SIGTERM or SIGINT abort the stage through its
 * AbortSignal. Resolves to the process exit code (see `TASK_EXIT_CODES`); never rejects
 * for a failing stage — the failure is in the result envelope, and on stderr as
 * `error PHYS_CODE: message` (so is an unusable envelope, `PHYS_USAGE`).
 * @public
 */
export async function runTaskEnvelope(envelopeFile: string): Promise<number> {
  let envelope: TaskEnvelope;
  try {
    envelope = await readTaskEnvelope(envelopeFile);
  } catch (error) {
    printError(serializeError(error));
    return TASK_EXIT_CODES.UNUSABLE;
  }
  const controller = new AbortController();
  const ackFd = abortAckFd();
  const onSignal = (signal: NodeJS.Signals): void => {
    // Tell the parent the signal reached a free event loop (see TASK_ABORT_ACK_ENV).
    if (ackFd !== undefined) {
      try {
        writeSync(ackFd, 'a');
      } catch {
        // The parent stopped listening: it no longer waits for the answer.
      }
    }
    controller.abort(new CancelledError(`Node '${envelope.nodeId}' was cancelled (${signal}).`));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const startedAt = new Date().toISOString();
  let result: ResultEnvelope;
  let code: number;
  try {
    const stage = await rebuildStage(envelope.configFile, envelope.stage, {
      label: envelope.label,
      command: 'exec',
      logger: createConsoleLogger('warn'),
    });
    const input = await readTaskInput(envelopeFile, envelope);
    // Aborted while the config was loading: do not start work nobody waits for.
    if (controller.signal.aborted) throw controller.signal.reason;
    const out = await executeTask({
      stage,
      input,
      policy: new PolicyBag(envelope.policy),
      runId: envelope.runId,
      nodeId: envelope.nodeId,
      attempt: envelope.attempt,
      resources: envelope.resources,
      signal: controller.signal,
      logger: createConsoleLogger('info', { node: envelope.nodeId }),
      ...(envelope.point === undefined ? {} : { point: envelope.point }),
      ...(envelope.artifactsDir === undefined
        ? {}
        : { recorder: new FileArtifactRecorder(envelope.artifactsDir) }),
    });
    await atomicWrite(
      envelopePath(envelopeFile, envelope.result.state),
      encodeState({ state: out.state, artifacts: out.artifacts }),
    );
    result = {
      ...head(envelope, 'COMPLETED', startedAt),
      stateFile: envelope.result.state,
      ...(out.metrics === undefined ? {} : { metrics: out.metrics }),
      ...(out.provenance === undefined ? {} : { provenance: out.provenance }),
      wallTimeSeconds: out.wallTimeSeconds,
    };
    code = TASK_EXIT_CODES.COMPLETED;
  } catch (error) {
    const cancelled = controller.signal.aborted;
    const timeout = PhysError.is(error) && error.code === 'PHYS_TIMEOUT';
    const status = cancelled ? 'CANCELLED' : timeout ? 'TIMEOUT' : 'FAILED';
    const reported = cancelled && !PhysError.is(error) ? controller.signal.reason : error;
    result = { ...head(envelope, status, startedAt), error: serializeError(reported) };
    code = TASK_EXIT_CODES[status];
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  const resultFile = envelopePath(envelopeFile, envelope.result.file);
  if (result.error !== undefined) printError(result.error);
  try {
    await atomicWrite(resultFile, `${JSON.stringify(result, jsonSafe, 2)}\n`);
    await atomicWrite(envelopePath(envelopeFile, envelope.result.exitCode), `${code}\n`);
  } catch (error) {
    printError(
      serializeError(
        new PhysError(
          'PHYS_TASK_RESULT_UNWRITABLE',
          `Cannot write the result of node '${envelope.nodeId}' to ${resultFile}: ${error instanceof Error ? error.message : String(error)}. Check that its directory is writable and its filesystem not full.`,
          { cause: error },
        ),
      ),
    );
    return TASK_EXIT_CODES.FAILED;
  }
  return code;
}

function head(
  envelope: TaskEnvelope,
  status: ResultEnvelope['status'],
  startedAt: string,
): Pick<
  ResultEnvelope,
  'format' | 'runId' | 'nodeId' | 'attempt' | 'status' | 'startedAt' | 'finishedAt'
> {
  return {
    format: RESULT_ENVELOPE_FORMAT,
    runId: envelope.runId,
    nodeId: envelope.nodeId,
    attempt: envelope.attempt,
    status,
    startedAt,
    finishedAt: new Date().toISOString(),
  };
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (ArrayBuffer.isView(value)) return `<${value.constructor.name} ${value.byteLength} bytes>`;
  return value;
}
