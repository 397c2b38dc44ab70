import {
  CancelledError,
  createConsoleLogger,
  encodeState,
  PhysError,
  PolicyBag,
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
 * Executes one task envelope in this process: rebuilds the stage through the registry of the
 * envelope's config file, runs it on the decoded input, and writes the result envelope, the
 * encoded state and an exit-code file beside it. SIGTERM or SIGINT abort the stage through its
 * AbortSignal. Resolves to the process exit code (see `TASK_EXIT_CODES`); never rejects
 * for a failing stage — the failure is in the result envelope.
 * @public
 */
export async function runTaskEnvelope(envelopeFile: string): Promise<number> {
  let envelope: TaskEnvelope;
  try {
    envelope = await readTaskEnvelope(envelopeFile);
  } catch (error) {
    process.stderr.write(`${PhysError.is(error) ? error.message : String(error)}\n`);
    return TASK_EXIT_CODES.UNUSABLE;
  }
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
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
  try {
    await atomicWrite(
      envelopePath(envelopeFile, envelope.result.file),
      `${JSON.stringify(result, jsonSafe, 2)}\n`,
    );
    await atomicWrite(envelopePath(envelopeFile, envelope.result.exitCode), `${code}\n`);
  } catch (error) {
    process.stderr.write(
      `Cannot write the result of node '${envelope.nodeId}': ${String(error)}\n`,
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
