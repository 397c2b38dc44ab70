import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { GrantedResources, ResourceRequirements, SchedulerTask, StageRef } from '@phys/core';
import { decodeState, encodeState, PhysError, type SerializedPhysError } from '@phys/core';

/** Format tag of task envelopes. @public */
export const TASK_ENVELOPE_FORMAT = 'phys-task/1';
/** Format tag of result envelopes. @public */
export const RESULT_ENVELOPE_FORMAT = 'phys-result/1';

/**
 * Everything a process needs to execute one node by identity: the stage is rebuilt from
 * `(name, version, config)` through the registry of `configFile`. Paths of the input and
 * result files are relative to the envelope's directory, so a work directory can be moved or
 * shared between hosts.
 * @public
 */
export interface TaskEnvelope {
  readonly format: typeof TASK_ENVELOPE_FORMAT;
  readonly runId: string;
  readonly nodeId: string;
  readonly attempt: number;
  readonly stage: StageRef;
  /** Metric/provenance label of the stage. */
  readonly label: string;
  /** Absolute path of the `phys.config.*` that declares the stage. */
  readonly configFile: string;
  readonly policy: Readonly<Record<string, unknown>>;
  /** The encoded input state (see `encodeState`). */
  readonly input: { readonly file: string };
  readonly resources: GrantedResources;
  /** Where the executing process writes its result envelope, encoded state and exit code. */
  readonly result: { readonly file: string; readonly state: string; readonly exitCode: string };
  /** Persist artifacts under this directory (absolute); absent: artifacts are not recorded. */
  readonly artifactsDir?: string;
  /** The node's `point` (a sweep copy's parameters, JSON data), handed to the stage as `ctx.point`. */
  readonly point?: Readonly<Record<string, unknown>>;
}

/** What an executed task envelope produced. @public */
export interface ResultEnvelope {
  readonly format: typeof RESULT_ENVELOPE_FORMAT;
  readonly runId: string;
  readonly nodeId: string;
  readonly attempt: number;
  readonly status: 'COMPLETED' | 'FAILED' | 'CANCELLED' | 'TIMEOUT';
  /** Relative path of the encoded `{ state, artifacts }` (only when COMPLETED). */
  readonly stateFile?: string;
  readonly metrics?: Readonly<Record<string, number>>;
  readonly provenance?: Readonly<Record<string, unknown>>;
  readonly error?: SerializedPhysError;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly wallTimeSeconds?: number;
}

/** A task envelope as it is handed to {@link writeTaskEnvelope}. @public */
export type TaskEnvelopeInit = Omit<TaskEnvelope, 'format' | 'input' | 'result'>;

/**
 * The envelope of a scheduler task: its identity, stage, policy and the resources granted to it.
 * @public
 */
export function taskEnvelopeInit(
  task: SchedulerTask,
  configFile: string,
  resources: GrantedResources,
): TaskEnvelopeInit {
  return {
    runId: task.runId,
    nodeId: task.nodeId,
    attempt: task.attempt,
    stage: task.stage,
    label: task.nodeId,
    configFile,
    policy: task.policy,
    resources,
    ...(task.point === undefined ? {} : { point: task.point }),
  };
}

/**
 * What a cluster job is granted for `req`. The envelope is written before the host is known, so
 * GPU ids are ordinals among the devices the job will see (CUDA_VISIBLE_DEVICES names the real
 * ones). `cpu` overrides the requested count where a scheduler rounds it.
 * @public
 */
export function jobGrant(req: ResourceRequirements, cpu: number = req.cpu): GrantedResources {
  return Object.freeze({
    cpu,
    gpuIds: Object.freeze(Array.from({ length: req.gpu }, (_, i) => i)),
    mpiRanks: req.mpiRanks,
    memoryBytes: req.memoryBytes,
  });
}

/**
 * Writes `task.json` and the encoded input into `dir` (created if needed) and returns the
 * envelope's path. Files appear atomically (temp + rename).
 * @public
 */
export async function writeTaskEnvelope(
  dir: string,
  init: TaskEnvelopeInit,
  input: unknown,
): Promise<string> {
  await mkdir(dir, { recursive: true });
  await atomicWrite(join(dir, 'input.bin'), encodeState(input));
  const envelope: TaskEnvelope = {
    format: TASK_ENVELOPE_FORMAT,
    ...init,
    input: { file: 'input.bin' },
    result: { file: 'result.json', state: 'result.bin', exitCode: 'exit-code' },
  };
  const path = join(dir, 'task.json');
  await atomicWrite(path, `${JSON.stringify(envelope, null, 2)}\n`);
  return path;
}

/** Reads and checks a task envelope; `PHYS_USAGE` when it is missing or not one. @public */
export async function readTaskEnvelope(path: string): Promise<TaskEnvelope> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new PhysError(
      'PHYS_USAGE',
      `Cannot read task envelope ${path}: ${(error as Error).message}. Pass the path of a task.json written by an executor.`,
      { cause: error },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new PhysError(
      'PHYS_USAGE',
      `Task envelope ${path} is not valid JSON: ${(error as Error).message.replace(/\.$/, '')}. Pass the path of a task.json written by an executor (one cut short was being written when its writer stopped).`,
      { cause: error },
    );
  }
  const e = value as Partial<TaskEnvelope> | null;
  const missing = (
    [
      'runId',
      'nodeId',
      'attempt',
      'stage',
      'label',
      'configFile',
      'input',
      'result',
      'resources',
    ] as const
  ).filter((k) => e === null || typeof e !== 'object' || e[k] === undefined);
  if (
    e === null ||
    typeof e !== 'object' ||
    e.format !== TASK_ENVELOPE_FORMAT ||
    missing.length > 0
  ) {
    throw new PhysError(
      'PHYS_USAGE',
      `${path} is not a ${TASK_ENVELOPE_FORMAT} task envelope${missing.length > 0 ? ` (missing ${missing.join(', ')})` : ''}. Task envelopes are written by executors and schedulers; do not edit them by hand.`,
      { details: { path, missing } },
    );
  }
  return e as TaskEnvelope;
}

/** Resolves a path written in an envelope against the envelope's directory. @public */
export function envelopePath(envelopeFile: string, relative: string): string {
  return isAbsolute(relative) ? relative : resolve(dirname(envelopeFile), relative);
}

/** Reads the encoded input state of a task envelope. @public */
export async function readTaskInput(
  envelopeFile: string,
  envelope: TaskEnvelope,
): Promise<unknown> {
  const bytes = await readFile(envelopePath(envelopeFile, envelope.input.file));
  return decodeState(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

/** A result envelope with its decoded state and artifacts. @public */
export interface ReadResult {
  readonly envelope: ResultEnvelope;
  readonly state: unknown;
  readonly artifacts: Readonly<Record<string, unknown>> | undefined;
}

/**
 * Reads the result an executed task envelope left behind, or undefined when the executing
 * process wrote none (it crashed or was killed before finishing).
 * @public
 */
export async function readResultEnvelope(envelopeFile: string): Promise<ReadResult | undefined> {
  const task = await readTaskEnvelope(envelopeFile);
  let text: string;
  try {
    text = await readFile(envelopePath(envelopeFile, task.result.file), 'utf8');
  } catch {
    return undefined;
  }
  const envelope = JSON.parse(text) as ResultEnvelope;
  if (envelope.format !== RESULT_ENVELOPE_FORMAT) {
    throw new PhysError(
      'PHYS_STATE_CORRUPT',
      `${task.result.file} next to ${envelopeFile} is not a ${RESULT_ENVELOPE_FORMAT} result envelope.`,
    );
  }
  if (envelope.status !== 'COMPLETED' || envelope.stateFile === undefined) {
    return { envelope, state: undefined, artifacts: undefined };
  }
  const bytes = await readFile(envelopePath(envelopeFile, envelope.stateFile));
  const decoded = decodeState(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)) as {
    state: unknown;
    artifacts?: Record<string, unknown>;
  };
  return { envelope, state: decoded.state, artifacts: decoded.artifacts };
}

/**
 * Writes `data` to `path` through a temporary file and a rename, so readers never see a torn file.
 * @public
 */
export async function atomicWrite(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}
