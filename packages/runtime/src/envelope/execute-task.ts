import type {
  ArtifactRecorder,
  ArtifactRef,
  ArtifactValue,
  ArtifactWriter,
  GrantedResources,
  PipelineStage,
  PolicyBag,
  StageContext,
} from '@phys/core';
import {
  type Logger,
  PhysError,
  StageContractError,
  StageExecutionError,
  silentLogger,
} from '@phys/core';

/** One execution of a stage away from the executor (worker thread, child process, cluster job). @public */
export interface ExecuteTaskInput {
  readonly stage: PipelineStage;
  readonly input: unknown;
  readonly policy: PolicyBag;
  readonly runId: string;
  readonly nodeId: string;
  readonly attempt: number;
  readonly resources: GrantedResources;
  readonly signal: AbortSignal;
  readonly logger?: Logger;
  /** When set, artifacts are persisted here and lazy artifacts are evaluated; otherwise lazy ones are skipped. */
  readonly recorder?: ArtifactRecorder;
  /** The node's `point` (a sweep copy's parameters), handed to the stage as `ctx.point`. */
  readonly point?: Readonly<Record<string, unknown>> | undefined;
}

/**
 * A stage result that can cross a thread or process boundary: lazy artifacts are already
 * recorded (or replaced by a `{ lazy: true, recorded: false }` marker) and everything left is
 * plain data.
 * @public
 */
export interface PortableResult {
  readonly state: unknown;
  readonly metrics?: Readonly<Record<string, number>>;
  readonly artifacts?: Readonly<Record<string, unknown>>;
  readonly provenance?: Readonly<Record<string, unknown>>;
  /** Seconds spent in `process`. */
  readonly wallTimeSeconds: number;
}

/**
 * Runs one stage on one input the way every out-of-executor entry point does: builds the
 * context, awaits `process`, checks the result's shape, and makes artifacts portable. Any
 * non-phys error thrown by the stage becomes a `StageExecutionError` with it as the cause.
 * @public
 */
export async function executeTask(task: ExecuteTaskInput): Promise<PortableResult> {
  return await executeTaskEager(task);
}

/**
 * {@link executeTask}, without a promise when none is needed: when the stage returns its result
 * synchronously and has no artifacts to record, the result is returned as it is; otherwise a
 * promise of it. Throws (or rejects) as `executeTask` rejects. For callers that run many small
 * tasks back to back (a worker thread), where a promise and a microtask per task cost more than
 * a small stage's work.
 * @public
 */
export function executeTaskEager(task: ExecuteTaskInput): PortableResult | Promise<PortableResult> {
  const stage = task.stage;
  const run = new TaskRun(task);
  const t0 = performance.now();
  let result: unknown;
  try {
    result = stage.process(task.input, run);
  } catch (error) {
    throw stageFailed(task, error);
  }
  if (
    result !== null &&
    typeof result === 'object' &&
    typeof (result as { then?: unknown }).then === 'function'
  ) {
    // Through Promise.resolve: a thenable that is not a promise is adopted as `await` would.
    return Promise.resolve(result).then(
      (settled) => finish(task, run, settled, t0),
      (error: unknown) => {
        throw stageFailed(task, error);
      },
    );
  }
  return finish(task, run, result, t0);
}

/**
 * The context of one task. Its logger is made on first use: most stages never log, and a child
 * logger per task costs more than a small stage's work (as its signal, see ExecuteTaskInput).
 */
class TaskRun implements StageContext {
  readonly config: unknown;
  readonly policy: PolicyBag;
  readonly resources: GrantedResources;
  readonly artifacts: ArtifactWriter;
  readonly runId: string;
  readonly nodeId: string;
  readonly attempt: number;
  readonly point?: Readonly<Record<string, unknown>>;
  /** Artifacts the stage wrote through `ctx.artifacts`, by name. */
  readonly written: Record<string, unknown> = {};
  readonly #task: ExecuteTaskInput;
  #logger: Logger | undefined;

  constructor(task: ExecuteTaskInput) {
    this.#task = task;
    this.config = task.stage.config;
    this.policy = task.policy;
    this.resources = task.resources;
    this.runId = task.runId;
    this.nodeId = task.nodeId;
    this.attempt = task.attempt;
    if (task.point !== undefined) this.point = task.point;
    const recorder = task.recorder;
    const nodeId = task.nodeId;
    const written = this.written;
    this.artifacts = {
      recording: recorder !== undefined,
      async write(name, data): Promise<ArtifactRef | undefined> {
        if (recorder === undefined) return undefined;
        const value = typeof data === 'function' ? await data() : data;
        const ref = await recorder.record(`${nodeId}.${name}`, value);
        written[name] = ref;
        return ref;
      },
    };
  }

  // Read when the stage asks for it: a caller may make its signal on first use (a worker
  // thread does: most stages never look at it, and an AbortSignal is costly to create).
  get signal(): AbortSignal {
    return this.#task.signal;
  }

  get logger(): Logger {
    this.#logger ??= (this.#task.logger ?? silentLogger).child({ node: this.nodeId });
    return this.#logger;
  }
}

/** A stage's own error as it is when it is a phys error, else wrapped with it as the cause. */
function stageFailed(task: ExecuteTaskInput, error: unknown): PhysError {
  if (PhysError.is(error)) return error;
  const label = task.stage.label;
  return new StageExecutionError(
    label,
    `Stage '${label}' (node '${task.nodeId}') failed: ${error instanceof Error ? error.message : String(error)}`,
    { cause: error },
  );
}

/** Checks what `process` returned and makes it portable (a promise only to record artifacts). */
function finish(
  task: ExecuteTaskInput,
  run: TaskRun,
  result: unknown,
  t0: number,
): PortableResult | Promise<PortableResult> {
  const wallTimeSeconds = (performance.now() - t0) / 1000;
  if (typeof result !== 'object' || result === null || !('state' in result)) {
    throw new StageContractError(
      `Stage '${task.stage.label}' (node '${task.nodeId}') returned ${result === null ? 'null' : typeof result}; process() must return { state, metrics?, artifacts?, provenance? }.`,
    );
  }
  const out = result as {
    state: unknown;
    metrics?: Readonly<Record<string, number>>;
    artifacts?: Readonly<Record<string, ArtifactValue>>;
    provenance?: Readonly<Record<string, unknown>>;
  };
  if (out.artifacts === undefined) return portable(out, run.written, wallTimeSeconds);
  return portableArtifacts(task, out.artifacts, run.written).then(() =>
    portable(out, run.written, wallTimeSeconds),
  );
}

function portable(
  out: {
    state: unknown;
    metrics?: Readonly<Record<string, number>>;
    provenance?: Readonly<Record<string, unknown>>;
  },
  artifacts: Record<string, unknown>,
  wallTimeSeconds: number,
): PortableResult {
  let any = false;
  for (const _ in artifacts) {
    any = true;
    break;
  }
  return {
    state: out.state,
    ...(out.metrics === undefined ? {} : { metrics: out.metrics }),
    ...(any ? { artifacts } : {}),
    ...(out.provenance === undefined ? {} : { provenance: out.provenance }),
    wallTimeSeconds,
  };
}

/** The returned artifacts, recorded (lazy ones evaluated) or replaced by portable markers. */
async function portableArtifacts(
  task: ExecuteTaskInput,
  returned: Readonly<Record<string, ArtifactValue>>,
  artifacts: Record<string, unknown>,
): Promise<void> {
  const { recorder, nodeId } = task;
  for (const [name, value] of Object.entries(returned)) {
    if (typeof value === 'function') {
      artifacts[name] =
        recorder === undefined
          ? { lazy: true, recorded: false }
          : await recorder.record(`${nodeId}.${name}`, await value());
    } else if (recorder !== undefined && value !== null && typeof value === 'object') {
      artifacts[name] = isRef(value) ? value : await recorder.record(`${nodeId}.${name}`, value);
    } else {
      artifacts[name] = value;
    }
  }
}

function isRef(value: object): boolean {
  return (
    !ArrayBuffer.isView(value) &&
    typeof (value as { path?: unknown }).path === 'string' &&
    typeof (value as { sha256?: unknown }).sha256 === 'string'
  );
}
