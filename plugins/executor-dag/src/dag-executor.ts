import {
  type ArtifactRecorder,
  asPolicy,
  type Cache,
  type Isolation,
  type Logger,
  type MetricsCollector,
  type ModelPackager,
  type NodeSpec,
  PhysError,
  type PipelineHook,
  type PolicyBag,
  type PolicyLike,
  type ProgressEvent,
  type Scheduler,
  type StageRegistry,
} from '@phys/core';
import { type CompiledDag, compileDag, ISO_INLINE } from './compile.js';
import { DagRun } from './dag-run.js';
import { LOCAL_DISPATCH, type LocalDispatch, LocalScheduler } from './local-scheduler.js';
import type { DagRunResult } from './run-result.js';

/** What a run does after a node fails for good. @public */
export type FailureMode = 'failFast' | 'continue';

/** Options of {@link DagExecutor}. @public */
export interface DagExecutorOptions {
  /** Where nodes run (default: a {@link LocalScheduler} with default options, made on first use). */
  readonly scheduler?: Scheduler;
  /**
   * Result cache: a hit restores the node's result and marks it CACHED; a miss runs and is
   * stored, unless nothing needs it (no output of the run, no node that runs): then it is
   * SKIPPED (`skipReason: 'not-needed'`). Nodes of one run that share a key are computed (or
   * looked up) once. A cache with
   * `getOrCompute` (`DiskCache`, `SharedDiskCache`) is used through it, so that runs in other
   * processes needing the same key at the same time compute it once between them.
   */
  readonly cache?: Cache;
  /**
   * Put a fingerprint of each stage's `process` source into its cache key, so that editing the
   * code invalidates its results (default true; `phys plan` must use the same setting).
   */
  readonly fingerprintCode?: boolean;
  readonly hooks?: readonly PipelineHook[];
  /** Metrics collectors (default: the process-wide ones from `setMetricsCollector`). */
  readonly metrics?: MetricsCollector | readonly MetricsCollector[];
  /** Default policy of every run. */
  readonly policy?: PolicyLike;
  /** `failFast` (default): cancel running nodes and start nothing new. `continue`: skip only the dependents of a failure. */
  readonly failureMode?: FailureMode;
  /** Hash every input before and after its stage and fail a stage that mutated it. */
  readonly strict?: boolean;
  readonly logger?: Logger;
  /** When given, thread/process/remote nodes must use stages registered here (checked before the run). */
  readonly registry?: StageRegistry;
  /** Isolation of nodes whose node and stage do not choose one (default `inline`). */
  readonly isolation?: Isolation;
  /** The `phys.config.*` declaring the stages, for thread and process isolation (default: the scheduler's). */
  readonly configFile?: string;
  /** Pipeline name reported to hooks and metrics (default `dag`). */
  readonly name?: string;
  /**
   * Packages the result of every node marked `modelArtifact: true` once it completes or is
   * restored from the cache; run provenance lists the packages (`modelPackages`). A node whose
   * package cannot be written ends FAILED with the packager's error.
   */
  readonly packager?: ModelPackager;
}

/** Options of one {@link DagExecutor.run}. @public */
export interface DagRunOptions {
  /** Replaces the executor's default policy for this run. */
  readonly policy?: PolicyLike;
  /** Aborting it cancels the run: running nodes are aborted, nothing new starts. */
  readonly signal?: AbortSignal;
  readonly runId?: string;
  readonly failureMode?: FailureMode;
  readonly strict?: boolean;
  /** Persist artifacts (and evaluate lazy ones) through `recorder`. */
  readonly recordArtifacts?: boolean;
  readonly recorder?: ArtifactRecorder;
  /** Extra hooks for this run, after the executor's own. */
  readonly hooks?: readonly PipelineHook[];
  /** Called on every node status change (for progress displays). */
  readonly onProgress?: (event: ProgressEvent) => void;
  /** Pipeline name for hooks and metrics. */
  readonly pipeline?: string;
  readonly logger?: Logger;
}

/**
 * Runs DAGs of stages: validates the graph before anything runs, walks ready nodes in a
 * deterministic order (topological, ties broken by id), grants resources through the
 * scheduler, and returns every node's outcome. Reusable across runs; O(nodes + edges) time and
 * memory; event-driven, with no polling and no per-node timers (only nodes with a timeout get one).
 * @public
 */
export class DagExecutor {
  readonly #options: DagExecutorOptions;
  #scheduler: Scheduler | undefined;
  #ownsScheduler = false;
  #policy: PolicyBag | undefined;

  constructor(options: DagExecutorOptions = {}) {
    this.#options = options;
    this.#scheduler = options.scheduler;
    this.#policy = asPolicy(options.policy);
    const mode = options.failureMode;
    if (mode !== undefined && mode !== 'failFast' && mode !== 'continue') {
      throw new PhysError(
        'PHYS_USAGE',
        `Unknown failureMode ${JSON.stringify(mode)}; use 'failFast' or 'continue'.`,
      );
    }
  }

  /** The scheduler nodes run on. */
  get scheduler(): Scheduler {
    if (this.#scheduler === undefined) {
      this.#scheduler = new LocalScheduler(
        this.#options.configFile === undefined ? {} : { configFile: this.#options.configFile },
      );
      this.#ownsScheduler = true;
    }
    return this.#scheduler;
  }

  get policy(): PolicyBag | undefined {
    return this.#policy;
  }

  /** Replaces the default policy. */
  setPolicy(policy: PolicyLike | undefined): void {
    this.#policy = asPolicy(policy);
  }

  /**
   * Validates `nodes` (throwing a `DagValidationError` before anything runs) and runs them.
   * Resolves with the result also when nodes fail or the run is cancelled; check `status`.
   */
  async run(
    initialState: unknown,
    nodes: readonly NodeSpec[],
    options: DagRunOptions = {},
  ): Promise<DagRunResult> {
    const scheduler = this.scheduler;
    const local = localDispatch(scheduler);
    const configFile =
      this.#options.configFile ??
      (scheduler instanceof LocalScheduler ? scheduler.configFile : undefined);
    const registry = this.#options.registry;
    const dag = compileDag(nodes, {
      defaultIsolation: this.#options.isolation ?? 'inline',
      ...(local === undefined
        ? {}
        : {
            unsatisfiable: (req) => local.unsatisfiable(req),
            isolationProblem: (iso) =>
              configFile === undefined ? local.isolationProblem(iso) : undefined,
          }),
    });
    if (registry !== undefined) checkRegistered(dag, registry, local !== undefined);
    const policy = asPolicy(options.policy) ?? this.#policy;
    const run = new DagRun(
      this.#options,
      options,
      scheduler,
      local,
      dag,
      initialState,
      policy,
      configFile,
    );
    return run.start();
  }

  /** Closes the scheduler if this executor created it (worker threads, child processes). */
  async close(): Promise<void> {
    if (this.#ownsScheduler) await this.#scheduler?.close?.();
    this.#scheduler = undefined;
    this.#ownsScheduler = false;
  }
}

/**
 * The in-process interface of a LocalScheduler (slot grants without a task round trip, inline
 * and worker dispatch), or undefined for any other scheduler. Found through a `Symbol.for` key,
 * so a LocalScheduler from another copy of this package still qualifies.
 */
function localDispatch(scheduler: Scheduler): LocalDispatch | undefined {
  const dispatch = (scheduler as unknown as Record<symbol, LocalDispatch | undefined>)[
    LOCAL_DISPATCH
  ];
  return dispatch === undefined ? undefined : dispatch;
}

/**
 * Workers and processes rebuild stages from the registry by identity: a stage missing there fails
 * the run before anything starts, instead of failing every node that runs outside this thread.
 */
function checkRegistered(dag: CompiledDag, registry: StageRegistry, local: boolean): void {
  const missing: string[] = [];
  for (let i = 0; i < dag.n; i++) {
    if (local && dag.isolation[i] === ISO_INLINE) continue;
    const stage = dag.nodes[i]?.stage;
    if (stage !== undefined && !registry.has(stage.name, stage.version)) {
      missing.push(`'${dag.ids[i]}' (${stage.name}@${stage.version})`);
      if (missing.length >= 20) break;
    }
  }
  if (missing.length > 0) {
    throw new PhysError(
      'PHYS_STAGE_UNKNOWN',
      `Nodes ${missing.join(', ')} run outside this thread, but their stages are not registered, so no worker could rebuild them. Add the stage definitions to \`stages\` in phys.config.ts.`,
      { details: { nodes: missing } },
    );
  }
}
