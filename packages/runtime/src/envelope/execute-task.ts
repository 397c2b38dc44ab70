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
  const { stage, nodeId, recorder } = task;
  const artifacts: Record<string, unknown> = {};
  const writer: ArtifactWriter = {
    recording: recorder !== undefined,
    async write(name, data): Promise<ArtifactRef | undefined> {
      if (recorder === undefined) return undefined;
      const value = typeof data === 'function' ? await data() : data;
      const ref = await recorder.record(`${nodeId}.${name}`, value);
      artifacts[name] = ref;
      return ref;
    },
  };
  const ctx: StageContext = {
    config: stage.config,
    policy: task.policy,
    // Read when the stage asks for it: a caller may make its signal on first use (a worker
    // thread does: most stages never look at it, and an AbortSignal is costly to create).
    get signal() {
      return task.signal;
    },
    logger: (task.logger ?? silentLogger).child({ node: nodeId }),
    resources: task.resources,
    artifacts: writer,
    runId: task.runId,
    nodeId,
    attempt: task.attempt,
    ...(task.point === undefined ? {} : { point: task.point }),
  };
  const t0 = performance.now();
  let result: unknown;
  try {
    result = await stage.process(task.input, ctx);
  } catch (error) {
    if (PhysError.is(error)) throw error;
    throw new StageExecutionError(
      stage.label,
      `Stage '${stage.label}' (node '${nodeId}') failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  const wallTimeSeconds = (performance.now() - t0) / 1000;
  if (typeof result !== 'object' || result === null || !('state' in result)) {
    throw new StageContractError(
      `Stage '${stage.label}' (node '${nodeId}') returned ${result === null ? 'null' : typeof result}; process() must return { state, metrics?, artifacts?, provenance? }.`,
    );
  }
  const out = result as {
    state: unknown;
    metrics?: Readonly<Record<string, number>>;
    artifacts?: Readonly<Record<string, ArtifactValue>>;
    provenance?: Readonly<Record<string, unknown>>;
  };
  if (out.artifacts !== undefined) {
    for (const [name, value] of Object.entries(out.artifacts)) {
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
  return {
    state: out.state,
    ...(out.metrics === undefined ? {} : { metrics: out.metrics }),
    ...(Object.keys(artifacts).length === 0 ? {} : { artifacts }),
    ...(out.provenance === undefined ? {} : { provenance: out.provenance }),
    wallTimeSeconds,
  };
}

function isRef(value: object): boolean {
  return (
    !ArrayBuffer.isView(value) &&
    typeof (value as { path?: unknown }).path === 'string' &&
    typeof (value as { sha256?: unknown }).sha256 === 'string'
  );
}
