import { randomUUID } from 'node:crypto';
import {
  type ArtifactRecorder,
  type ArtifactWriter,
  asPolicy,
  type Cache,
  type CacheEntry,
  CancelledError,
  type DagKeyInputs,
  DagState,
  deserializeError,
  ExecutionStatus,
  FileArtifactRecorder,
  type GrantedResources,
  getMetricsCollectors,
  HookRunner,
  hashState,
  type Isolation,
  type JobHandle,
  KEY_INPUTS_FIELD,
  type Logger,
  type MetricsCollector,
  MetricsFanout,
  type ModelPackager,
  type NodeSpec,
  type NodeStatus,
  PhysError,
  type PipelineHook,
  PolicyBag,
  type PolicyLike,
  type ProgressEvent,
  type ResourceRequirements,
  RunAccumulator,
  type Scheduler,
  type SchedulerTask,
  type SerializedPhysError,
  type StageContext,
  StageContractError,
  StageExecutionError,
  type StageRegistry,
  type StageResult,
  silentLogger,
  type TaskOutcome,
  TimeoutError,
} from '@phys/core';
import { runCacheKeys } from './cache-keys.js';
import { type CompiledDag, compileDag, ISO_INLINE, recordedOrder } from './compile.js';
import { IntHeap } from './int-heap.js';
import {
  LOCAL_DISPATCH,
  type LocalDispatch,
  LocalScheduler,
  type RemoteJob,
} from './local-scheduler.js';
import { ModelPackaging } from './model-packaging.js';
import { retryDelaySeconds, shouldRetry } from './retry.js';
import {
  type DagCacheSummary,
  DagRunResult,
  type NodeExtras,
  type RunRecord,
  S_CACHED,
  S_CANCELLED,
  S_COMPLETED,
  S_DELAYED,
  S_FAILED,
  S_LOOKUP,
  S_PENDING,
  S_READY,
  S_RUNNING,
  S_SKIPPED,
  S_TIMEOUT,
  STATUS_NAMES,
} from './run-result.js';

/** What a run does after a node fails for good. @public */
export type FailureMode = 'failFast' | 'continue';

/** Options of {@link DagExecutor}. @public */
export interface DagExecutorOptions {
  /** Where nodes run (default: a {@link LocalScheduler} with default options, made on first use). */
  readonly scheduler?: Scheduler;
  /**
   * Result cache: a hit restores the node's result and marks it CACHED; a miss runs and is
   * stored. Nodes of one run that share a key are computed (or looked up) once. A cache with
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
   * restored from the cache; run provenance lists the packages (`modelPackages`).
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

function localDispatch(scheduler: Scheduler): LocalDispatch | undefined {
  const dispatch = (scheduler as unknown as Record<symbol, LocalDispatch | undefined>)[
    LOCAL_DISPATCH
  ];
  return dispatch === undefined ? undefined : dispatch;
}

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

const ISOLATION_NAMES: readonly Isolation[] = ['inline', 'thread', 'process'];
const NO_GRANT: GrantedResources = Object.freeze({
  cpu: 1,
  gpuIds: Object.freeze([]) as readonly number[],
  mpiRanks: 1,
  memoryBytes: undefined,
});

const RUN = Symbol('run');

/**
 * The context handed to inline stages. Fields are assigned in the constructor only (no class
 * field initializers, no private fields): one is built per node, and that keeps it cheap. The
 * logger and the artifact writer are made on access.
 */
class NodeContext implements StageContext {
  declare readonly config: unknown;
  declare readonly signal: AbortSignal;
  declare readonly resources: GrantedResources;
  declare readonly nodeId: string;
  declare readonly attempt: number;
  declare readonly [RUN]: DagRun;

  constructor(
    run: DagRun,
    config: unknown,
    signal: AbortSignal,
    resources: GrantedResources,
    nodeId: string,
    attempt: number,
  ) {
    this.config = config;
    this.signal = signal;
    this.resources = resources;
    this.nodeId = nodeId;
    this.attempt = attempt;
    this[RUN] = run;
  }

  get policy(): PolicyBag {
    return this[RUN].policy;
  }

  get runId(): string {
    return this[RUN].runId;
  }

  get logger(): Logger {
    const logger = this[RUN].logger;
    return logger === silentLogger ? silentLogger : logger.child({ node: this.nodeId });
  }

  get artifacts(): ArtifactWriter {
    return this[RUN].acc.writer(this.nodeId);
  }
}

type StageOutput = {
  readonly state: unknown;
  readonly metrics?: Readonly<Record<string, unknown>>;
  readonly artifacts?: Readonly<Record<string, unknown>>;
  readonly provenance?: Readonly<Record<string, unknown>>;
};

/** One run: integer-indexed state, a heap of ready nodes, and completion callbacks. */
class DagRun {
  readonly runId: string;
  readonly policy: PolicyBag;
  readonly logger: Logger;
  readonly #recorder: ArtifactRecorder | undefined;
  #acc: RunAccumulator | undefined;
  readonly #dag: CompiledDag;
  readonly #scheduler: Scheduler;
  readonly #local: LocalDispatch | undefined;
  readonly #initial: unknown;
  readonly #policyHash: string | undefined;
  #policyJson: Readonly<Record<string, unknown>> | undefined;
  readonly #configFile: string | undefined;
  readonly #artifactsDir: string | undefined;
  readonly #failFast: boolean;
  readonly #strict: boolean;
  readonly #pipeline: string;
  #cache: Cache | undefined;
  #cacheKeys: string[] | undefined;
  #cacheInputs: DagKeyInputs[] | undefined;
  #groups: Map<string, KeyGroup> | undefined;
  /** The group each leader leads, by node index (no key lookup on the hot path). */
  #leads: (KeyGroup | undefined)[] | undefined;
  readonly #cacheStats = { lookups: 0, hits: 0, misses: 0, shared: 0, stored: 0, errors: 0 };
  readonly #fingerprintCode: boolean;
  readonly #hasCache: boolean;
  readonly #packaging: ModelPackaging | undefined;

  // per-node state
  readonly #status: Uint8Array;
  readonly #attempts: Uint16Array;
  readonly #waiting: Int32Array;
  readonly #consumers: Int32Array;
  readonly #outputs: unknown[];
  readonly #grants: (GrantedResources | undefined)[];
  readonly #firstStart: Float64Array;
  readonly #attemptStart: Float64Array;
  readonly #end: Float64Array;
  readonly #startSeq: Int32Array;
  #startCount = 0;
  readonly #finishSeq: Int32Array;
  #finishCount = 0;
  readonly #errors = new Map<number, PhysError>();
  readonly #extras = new Map<number, NodeExtras>();
  readonly #counts = new Int32Array(11);
  #readyAt: Float64Array | undefined;
  /** A fast-path node whose end time is the next clock reading (-1: none). */
  #endDebt = -1;
  #fast = false;
  /** True while #burst holds the run's counters in locals. */
  #bursting = false;
  /** A stop that came while bursting; its inline-async nodes end when the burst does. */
  #deferredStop: PhysError | undefined;
  readonly #scratch: ([string[], unknown[]] | undefined)[] = [];
  #lookedUp: Uint8Array | undefined;

  // the in-flight set
  readonly #heap: IntHeap;
  #running = 0;
  #delayed = 0;
  #lookups = 0;
  readonly #controllers = new Map<number, AbortController>();
  readonly #timers = new Map<number, NodeJS.Timeout>();
  readonly #retryTimers = new Map<number, NodeJS.Timeout>();
  readonly #inlineAsync = new Set<number>();
  readonly #handles = new Map<number, JobHandle>();
  readonly #puts: Promise<void>[] = [];

  // run-level
  readonly #runCtrl = new AbortController();
  readonly #runSignal = this.#runCtrl.signal;
  readonly #userSignal: AbortSignal | undefined;
  #stopping = false;
  #cancelled = false;
  #firstError: PhysError | undefined;
  #pumping = false;
  #repump = false;
  #finished = false;
  readonly #t0: number;
  readonly #hooks: HookRunner | undefined;
  readonly #metrics: MetricsFanout | undefined;
  readonly #onProgress: ((event: ProgressEvent) => void) | undefined;
  readonly #observed: boolean;
  #unlisten: (() => void) | undefined;
  #resolve!: (result: DagRunResult) => void;
  #reject!: (error: unknown) => void;

  constructor(
    executor: DagExecutorOptions,
    options: DagRunOptions,
    scheduler: Scheduler,
    local: LocalDispatch | undefined,
    dag: CompiledDag,
    initialState: unknown,
    policy: PolicyBag | undefined,
    configFile: string | undefined,
  ) {
    const n = dag.n;
    this.runId = options.runId ?? randomUUID();
    this.policy = policy ?? PolicyBag.empty;
    this.#policyHash = policy?.hash();
    this.logger = options.logger ?? executor.logger ?? silentLogger;
    const recorder = options.recordArtifacts === true ? options.recorder : undefined;
    this.#recorder = recorder;
    this.#artifactsDir = recorder instanceof FileArtifactRecorder ? recorder.root : undefined;
    this.#dag = dag;
    this.#scheduler = scheduler;
    this.#local = local;
    this.#initial = initialState;
    this.#configFile = configFile;
    this.#failFast = (options.failureMode ?? executor.failureMode ?? 'failFast') === 'failFast';
    this.#strict = options.strict ?? executor.strict ?? false;
    this.#pipeline = options.pipeline ?? executor.name ?? 'dag';
    this.#cache = executor.cache;
    this.#fingerprintCode = executor.fingerprintCode ?? true;
    this.#hasCache = executor.cache !== undefined;
    this.#packaging =
      executor.packager === undefined ? undefined : ModelPackaging.create(executor.packager, dag);
    this.#userSignal = options.signal;

    // Every per-node array carved out of one buffer: one allocation, not eleven.
    const buffer = new ArrayBuffer(n * (3 * 8 + 4 * 4 + 2 + 1) + 64);
    let at = 0;
    const carve = <T>(
      make: (b: ArrayBuffer, offset: number, length: number) => T,
      bytes: number,
    ): T => {
      const view = make(buffer, at, n);
      at += Math.ceil((n * bytes) / 8) * 8;
      return view;
    };
    this.#firstStart = carve((b, o, l) => new Float64Array(b, o, l), 8);
    this.#attemptStart = carve((b, o, l) => new Float64Array(b, o, l), 8);
    this.#end = carve((b, o, l) => new Float64Array(b, o, l), 8);
    this.#waiting = carve((b, o, l) => new Int32Array(b, o, l), 4);
    this.#consumers = carve((b, o, l) => new Int32Array(b, o, l), 4);
    this.#startSeq = carve((b, o, l) => new Int32Array(b, o, l), 4);
    this.#finishSeq = carve((b, o, l) => new Int32Array(b, o, l), 4);
    this.#attempts = carve((b, o, l) => new Uint16Array(b, o, l), 2);
    this.#status = carve((b, o, l) => new Uint8Array(b, o, l), 1);
    this.#outputs = new Array<unknown>(n);
    this.#grants = new Array<GrantedResources | undefined>(n);
    this.#heap = new IntHeap(Math.min(n, 1024));

    const hooks = [...(executor.hooks ?? []), ...(options.hooks ?? [])];
    this.#hooks = hooks.length > 0 ? new HookRunner(hooks, this.logger) : undefined;
    const collectors =
      executor.metrics === undefined
        ? getMetricsCollectors()
        : Array.isArray(executor.metrics)
          ? (executor.metrics as readonly MetricsCollector[])
          : [executor.metrics as MetricsCollector];
    this.#metrics = collectors.length > 0 ? new MetricsFanout(collectors) : undefined;
    if (this.#metrics !== undefined) this.#readyAt = new Float64Array(n);
    this.#onProgress = options.onProgress;
    this.#observed =
      this.#hooks !== undefined || this.#metrics !== undefined || this.#onProgress !== undefined;
    this.#t0 = performance.now();
    this.#fast =
      local !== undefined &&
      !this.#observed &&
      !this.#strict &&
      this.#cache === undefined &&
      this.#packaging === undefined;
  }

  /** Namespaced metrics and artifacts; made on first use (most runs of trivial stages never need it). */
  get acc(): RunAccumulator {
    this.#acc ??= new RunAccumulator({ recorder: this.#recorder });
    return this.#acc;
  }

  start(): Promise<DagRunResult> {
    const promise = new Promise<DagRunResult>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    const dag = this.#dag;
    const n = dag.n;
    try {
      if (this.#cache !== undefined || this.#packaging !== undefined) this.#deriveKeys();
      if (this.#cache !== undefined) {
        this.#lookedUp = new Uint8Array(n);
        this.#groups = new Map();
        this.#leads = new Array<KeyGroup | undefined>(n);
      }
      this.#hooks?.emit('onPipelineStart', {
        pipeline: this.#pipeline,
        runId: this.runId,
        context: { nodes: n, policyHash: this.#policyHash },
      });
      this.#metrics?.emit('onRunStart', { pipeline: this.#pipeline, runId: this.runId, nodes: n });
      const { depStart, outStart } = dag;
      const heap = this.#heap;
      const readyAt = this.#readyAt;
      const now = readyAt === undefined ? 0 : performance.now();
      let roots = 0;
      for (let i = 0; i < n; i++) {
        const deps = (depStart[i + 1] as number) - (depStart[i] as number);
        this.#waiting[i] = deps;
        this.#consumers[i] = (outStart[i + 1] as number) - (outStart[i] as number);
        if (deps === 0) {
          this.#status[i] = S_READY;
          roots++;
          if (readyAt !== undefined) readyAt[i] = now;
          heap.push(i);
        }
      }
      this.#counts[S_PENDING] = n - roots;
      this.#counts[S_READY] = roots;
      const signal = this.#userSignal;
      if (signal !== undefined) {
        if (signal.aborted) this.#cancel();
        else signal.addEventListener('abort', this.#onUserAbort, { once: true });
      }
      if (this.#local !== undefined) this.#unlisten = this.#local.onRelease(this.#pumpLater);
      this.#pump();
    } catch (error) {
      this.#reject(error);
    }
    return promise;
  }

  readonly #onUserAbort = (): void => {
    this.#cancel();
    this.#pump();
  };

  readonly #pumpLater = (): void => {
    if (!this.#finished) queueMicrotask(() => this.#pump());
  };

  #cancel(): void {
    if (this.#stopping) return;
    this.#cancelled = true;
    const reason = this.#userSignal?.reason as unknown;
    this.#stop(
      new CancelledError(
        `Run ${this.runId} was cancelled.`,
        reason === undefined ? {} : { cause: reason },
      ),
    );
  }

  // ---- the ready loop ---------------------------------------------------------------------

  #pump(): void {
    if (this.#finished) return;
    if (this.#pumping) {
      this.#repump = true;
      return;
    }
    this.#pumping = true;
    try {
      const heap = this.#heap;
      const local = this.#local;
      const { resources } = this.#dag;
      const lookedUp = this.#lookedUp;
      const fast = this.#fast;
      do {
        this.#repump = false;
        while (!this.#stopping && heap.size > 0) {
          if (fast) {
            this.#burst();
            if (this.#stopping || heap.size === 0) break;
          }
          // The general path: one node that the burst does not take (or any node of a run
          // that is observed, strict, cached or packaged).
          const i = heap.peek();
          if (lookedUp !== undefined && lookedUp[i] === 0) {
            heap.pop();
            this.#lookup(i);
            continue;
          }
          let grant: GrantedResources | undefined = NO_GRANT;
          if (local !== undefined) {
            grant = local.tryAcquire(resources[i] as ResourceRequirements);
            if (grant === undefined) break;
          }
          heap.pop();
          this.#launch(i, grant);
        }
      } while (this.#repump);
      if (this.#endDebt >= 0) this.#clock();
    } catch (error) {
      // Only a bug in the executor itself lands here; fail the run rather than hang it.
      this.#pumping = false;
      this.#finished = true;
      this.#unlisten?.();
      this.#reject(error);
      return;
    }
    this.#pumping = false;
    this.#maybeFinish();
  }

  #input(i: number): unknown {
    const dag = this.#dag;
    const start = dag.depStart[i] as number;
    const end = dag.depStart[i + 1] as number;
    if (start === end) return this.#initial;
    if (end - start === 1) return this.#outputs[dag.depList[start] as number];
    // DagState copies the two arrays it is given, so one scratch pair of arrays per arity is
    // reused (and its outputs emptied again) instead of allocating two more arrays per node.
    const arity = end - start;
    let scratch = this.#scratch[arity];
    if (scratch === undefined) {
      scratch = [new Array<string>(arity).fill(''), new Array<unknown>(arity).fill(undefined)];
      this.#scratch[arity] = scratch;
    }
    // Index access, not destructuring: array destructuring runs the iterator protocol, which
    // costs more than the rest of this method until the JIT optimises it.
    const ids = scratch[0];
    const values = scratch[1];
    const outputs = this.#outputs;
    const { depList, ids: names } = dag;
    for (let e = start; e < end; e++) {
      const d = depList[e] as number;
      ids[e - start] = names[d] as string;
      values[e - start] = outputs[d];
    }
    const state = new DagState(ids, values);
    for (let k = 0; k < arity; k++) values[k] = undefined;
    return state;
  }

  #launch(i: number, grant: GrantedResources): void {
    const dag = this.#dag;
    const node = dag.nodes[i] as NodeSpec;
    const stage = node.stage;
    const attempt = (this.#attempts[i] as number) + 1;
    this.#attempts[i] = attempt;
    this.#move(i, S_RUNNING);
    this.#running++;
    const now = this.#clock();
    if (attempt === 1) {
      this.#firstStart[i] = now;
      this.#startSeq[this.#startCount++] = i;
    }
    this.#attemptStart[i] = now;
    this.#grants[i] = grant;
    const input = this.#input(i);
    if (this.#observed) this.#observeStart(i, attempt, input, now);
    const iso = dag.isolation[i] as number;
    const local = this.#local;
    const timeout = node.timeoutSeconds;
    let signal = this.#runSignal;
    if (timeout !== undefined || iso !== ISO_INLINE || local === undefined) {
      const ctrl = new AbortController();
      this.#controllers.set(i, ctrl);
      signal = ctrl.signal;
      if (timeout !== undefined) {
        this.#timers.set(i, setTimeout(this.#onTimeout, timeout * 1000, i, attempt));
      }
    }
    if (local === undefined) {
      this.#submit(i, attempt, input, signal);
      return;
    }
    if (iso !== ISO_INLINE) {
      const job: RemoteJob = {
        runId: this.runId,
        nodeId: dag.ids[i] as string,
        attempt,
        stage: stage.ref,
        label: stage.label,
        policy: this.#policyObject(),
        input,
        resources: grant,
        ...(this.#artifactsDir === undefined ? {} : { artifactsDir: this.#artifactsDir }),
      };
      local.run(ISOLATION_NAMES[iso] as Isolation, job, signal, this.#configFile).then(
        (out) => {
          this.#succeeded(i, attempt, out, undefined, undefined);
          this.#pump();
        },
        (error: unknown) => this.#failedAsync(i, attempt, error),
      );
      return;
    }
    const before = this.#strict ? hashState(input) : undefined;
    let out: StageResult | Promise<StageResult>;
    try {
      out = stage.process(
        input,
        new NodeContext(this, stage.config, signal, grant, dag.ids[i] as string, attempt),
      );
    } catch (error) {
      this.#attemptFailed(i, attempt, this.#toPhysError(i, error));
      return;
    }
    this.#afterProcess(i, attempt, out, input, before);
  }

  /** Completes an inline attempt synchronously, or waits for the promise it returned. */
  #afterProcess(
    i: number,
    attempt: number,
    out: StageResult | Promise<StageResult>,
    input: unknown,
    before: string | undefined,
  ): void {
    if (
      out !== null &&
      typeof out === 'object' &&
      typeof (out as Promise<StageResult>).then === 'function'
    ) {
      this.#inlineAsync.add(i);
      (out as Promise<StageResult>).then(
        (result) => {
          this.#inlineAsync.delete(i);
          this.#succeeded(i, attempt, result, input, before);
          this.#pump();
        },
        (error: unknown) => {
          this.#inlineAsync.delete(i);
          this.#attemptFailed(i, attempt, this.#toPhysError(i, error));
          this.#pump();
        },
      );
      return;
    }
    this.#succeeded(i, attempt, out as StageResult, input, before);
  }

  /**
   * The hot path: runs ready inline nodes back to back, in heap order, while the next one is
   * inline with no timeout and its slots are free, in a run that nothing observes, strictly
   * checks, caches or packages. The same bookkeeping as #launch → #succeeded → #finalize, done
   * in place with the run's arrays and counters held in locals (the loop runs a few hundred
   * times before the JIT optimises it, so every field load it saves counts). The first node
   * that does anything unusual (throws, returns a promise, metrics, artifacts or provenance)
   * is handed to the general path with the counters written back, and the burst ends.
   *
   * A node here goes READY → COMPLETED without passing through RUNNING: nothing can observe
   * the difference, since the stage runs synchronously and the run has no hooks or progress.
   */
  #burst(): void {
    const heap = this.#heap;
    const local = this.#local as LocalDispatch;
    const dag = this.#dag;
    const { nodes, ids, isolation, resources, depStart, depList, outStart, outList } = dag;
    const status = this.#status;
    const attempts = this.#attempts;
    const waiting = this.#waiting;
    const consumers = this.#consumers;
    const outputs = this.#outputs;
    const firstStart = this.#firstStart;
    const attemptStart = this.#attemptStart;
    const end = this.#end;
    const startSeq = this.#startSeq;
    const finishSeq = this.#finishSeq;
    const initial = this.#initial;
    const signal = this.#runSignal;
    let startCount = this.#startCount;
    let finishCount = this.#finishCount;
    let debt = this.#endDebt;
    let completed = 0;
    let readied = 0;
    // Nodes here run one at a time, so consecutive nodes asking for the same resources (the
    // same normalized object: the usual case) pass one grant along instead of releasing and
    // re-acquiring it per node. It is returned when the burst ends.
    let heldReq: ResourceRequirements | undefined;
    let held: GrantedResources | undefined;
    this.#bursting = true;
    try {
      while (heap.size > 0) {
        const i = heap.pop();
        const node = nodes[i] as NodeSpec;
        if (isolation[i] !== ISO_INLINE || node.timeoutSeconds !== undefined) {
          heap.push(i);
          return;
        }
        const req = resources[i] as ResourceRequirements;
        let grant = held;
        if (req !== heldReq) {
          if (held !== undefined) local.release(held, heldReq as ResourceRequirements);
          held = undefined;
          heldReq = undefined;
          grant = local.tryAcquire(req);
          if (grant === undefined) {
            heap.push(i);
            return;
          }
          held = grant;
          heldReq = req;
        }
        const attempt = (attempts[i] as number) + 1;
        attempts[i] = attempt;
        // One clock read per node: it starts this node and ends the previous one.
        const now = performance.now();
        if (debt >= 0) {
          end[debt] = now;
          debt = -1;
        }
        if (attempt === 1) {
          firstStart[i] = now;
          startSeq[startCount++] = i;
        }
        attemptStart[i] = now;
        const s = depStart[i] as number;
        const e = depStart[i + 1] as number;
        const input =
          s === e ? initial : e - s === 1 ? outputs[depList[s] as number] : this.#input(i);
        const stage = node.stage;
        let out: StageResult | Promise<StageResult> | undefined;
        let thrown: unknown;
        let threw = false;
        try {
          out = stage.process(
            input,
            new NodeContext(
              this,
              stage.config,
              signal,
              grant as GrantedResources,
              ids[i] as string,
              attempt,
            ),
          );
        } catch (error) {
          threw = true;
          thrown = error;
        }
        if (
          threw ||
          typeof out !== 'object' ||
          out === null ||
          typeof (out as Promise<StageResult>).then === 'function' ||
          !('state' in out) ||
          out.metrics !== undefined ||
          out.artifacts !== undefined ||
          out.provenance !== undefined
        ) {
          // Hand the node to the general path as a running attempt that owns its grant.
          held = undefined;
          heldReq = undefined;
          this.#startCount = startCount;
          this.#finishCount = finishCount;
          this.#endDebt = debt;
          this.#addCounts(completed, readied);
          completed = 0;
          readied = 0;
          this.#move(i, S_RUNNING);
          this.#running++;
          this.#grants[i] = grant;
          if (threw) this.#attemptFailed(i, attempt, this.#toPhysError(i, thrown));
          else this.#afterProcess(i, attempt, out as StageResult, input, undefined);
          return;
        }
        const os = outStart[i] as number;
        const oe = outStart[i + 1] as number;
        if (os === oe || (consumers[i] as number) > 0) outputs[i] = out.state;
        status[i] = S_COMPLETED;
        completed++;
        debt = i;
        finishSeq[finishCount++] = i;
        for (let q = s; q < e; q++) {
          const d = depList[q] as number;
          const left = (consumers[d] as number) - 1;
          consumers[d] = left;
          if (left === 0) outputs[d] = undefined;
        }
        // A stage that aborted the run (the user's AbortSignal, synchronously) stopped it: the
        // heap is empty now, nothing new may start, and the loop ends.
        const stopped = this.#stopping;
        for (let q = os; q < oe; q++) {
          const w = outList[q] as number;
          const left = (waiting[w] as number) - 1;
          waiting[w] = left;
          if (left === 0 && status[w] === S_PENDING && !stopped) {
            status[w] = S_READY;
            readied++;
            heap.push(w);
          }
        }
      }
    } finally {
      this.#bursting = false;
      if (held !== undefined) local.release(held, heldReq as ResourceRequirements);
      if (completed > 0 || readied > 0) {
        this.#startCount = startCount;
        this.#finishCount = finishCount;
        this.#endDebt = debt;
        this.#addCounts(completed, readied);
      }
      const deferred = this.#deferredStop;
      if (deferred !== undefined) {
        this.#deferredStop = undefined;
        this.#failInlineAsync(deferred);
      }
    }
  }

  /** `completed` nodes went READY → COMPLETED and `readied` nodes PENDING → READY. */
  #addCounts(completed: number, readied: number): void {
    const counts = this.#counts;
    counts[S_READY] = (counts[S_READY] as number) - completed + readied;
    counts[S_COMPLETED] = (counts[S_COMPLETED] as number) + completed;
    counts[S_PENDING] = (counts[S_PENDING] as number) - readied;
  }

  /** Reads the clock, first settling the end time a fast-path node left owing. */
  #clock(): number {
    const now = performance.now();
    if (this.#endDebt >= 0) {
      this.#end[this.#endDebt] = now;
      this.#endDebt = -1;
    }
    return now;
  }

  #submit(i: number, attempt: number, input: unknown, signal: AbortSignal): void {
    const dag = this.#dag;
    const node = dag.nodes[i] as NodeSpec;
    const task: SchedulerTask = {
      runId: this.runId,
      nodeId: dag.ids[i] as string,
      stage: node.stage.ref,
      resources: dag.resources[i] as ResourceRequirements,
      attempt,
      input,
      policy: this.#policyObject(),
      signal,
      ...(node.timeoutSeconds === undefined ? {} : { timeoutSeconds: node.timeoutSeconds }),
    };
    const scheduler = this.#scheduler;
    scheduler
      .submit(task)
      .then((handle) => {
        if (!this.#isCurrent(i, attempt)) {
          void scheduler.cancel(handle).catch(() => undefined);
          return undefined;
        }
        this.#handles.set(i, handle);
        return scheduler.wait(handle);
      })
      .then(
        (outcome: TaskOutcome | undefined) => {
          if (outcome === undefined) return;
          if (outcome.status === ExecutionStatus.COMPLETED) {
            this.#succeeded(i, attempt, outcome as StageOutput, undefined, undefined);
            this.#pump();
          } else {
            this.#failedAsync(i, attempt, outcomeError(outcome, dag.ids[i] as string));
          }
        },
        (error: unknown) => this.#failedAsync(i, attempt, error),
      );
  }

  #policyObject(): Readonly<Record<string, unknown>> {
    this.#policyJson ??= this.policy.toJSON();
    return this.#policyJson;
  }

  #isCurrent(i: number, attempt: number): boolean {
    return this.#status[i] === S_RUNNING && this.#attempts[i] === attempt;
  }

  readonly #onTimeout = (i: number, attempt: number): void => {
    if (!this.#isCurrent(i, attempt)) return;
    this.#timers.delete(i);
    const node = this.#dag.nodes[i] as NodeSpec;
    const error = new TimeoutError(
      `Node '${node.id}' exceeded its timeout of ${node.timeoutSeconds} s (attempt ${attempt}).`,
      { details: { nodeId: node.id, attempt, timeoutSeconds: node.timeoutSeconds } },
    );
    this.#controllers.get(i)?.abort(error);
    const handle = this.#handles.get(i);
    if (handle !== undefined) void this.#scheduler.cancel(handle).catch(() => undefined);
    // Inline work cannot be stopped from outside: the attempt ends now and its late result is
    // ignored. Threads and processes are stopped by their runner, which then reports the timeout.
    if (this.#local !== undefined && this.#dag.isolation[i] === ISO_INLINE) {
      this.#inlineAsync.delete(i);
      this.#attemptFailed(i, attempt, error);
      this.#pump();
    }
  };

  // ---- outcomes ---------------------------------------------------------------------------

  #succeeded(
    i: number,
    attempt: number,
    out: StageOutput,
    input: unknown,
    before: string | undefined,
  ): void {
    if (!this.#isCurrent(i, attempt)) return;
    if (typeof out !== 'object' || out === null || !('state' in out)) {
      const node = this.#dag.nodes[i] as NodeSpec;
      this.#attemptFailed(
        i,
        attempt,
        new StageContractError(
          `Stage '${node.stage.label}' (node '${node.id}') returned ${out === null ? 'null' : typeof out}; process() must return { state, metrics?, artifacts?, provenance? }.`,
          { details: { nodeId: node.id } },
        ),
      );
      return;
    }
    if (before !== undefined && hashState(input) !== before) {
      const node = this.#dag.nodes[i] as NodeSpec;
      this.#attemptFailed(
        i,
        attempt,
        new StageContractError(
          `Stage '${node.stage.label}' (node '${node.id}') mutated its input state. Stages must return new state instead of changing their input, which other nodes may share (detected by strict mode).`,
          { details: { nodeId: node.id } },
        ),
      );
      return;
    }
    const { metrics, artifacts, provenance } = out;
    if (metrics !== undefined) {
      const bad = badMetric(metrics);
      if (bad !== undefined) {
        const node = this.#dag.nodes[i] as NodeSpec;
        this.#attemptFailed(
          i,
          attempt,
          new StageContractError(
            `Metric '${bad}' of stage '${node.stage.label}' (node '${node.id}') must be a scalar finite number, got ${describe(metrics[bad])}. Put arrays and other data in artifacts instead.`,
            { details: { nodeId: node.id, metric: bad } },
          ),
        );
        return;
      }
    }
    this.#endAttempt(i);
    const dag = this.#dag;
    const sink = dag.outStart[i] === dag.outStart[i + 1];
    if (sink || (this.#consumers[i] as number) > 0) this.#outputs[i] = out.state;
    if (metrics !== undefined || artifacts !== undefined || provenance !== undefined) {
      this.#extras.set(i, {
        ...(metrics === undefined ? {} : { metrics: metrics as Record<string, number> }),
        ...(artifacts === undefined ? {} : { artifacts }),
        ...(provenance === undefined ? {} : { provenance }),
      });
    }
    if (this.#cache !== undefined) this.#store(i, out);
    this.#finalize(i, S_COMPLETED, out);
  }

  #failedAsync(i: number, attempt: number, error: unknown): void {
    this.#attemptFailed(i, attempt, this.#toPhysError(i, error));
    this.#pump();
  }

  #attemptFailed(i: number, attempt: number, error: PhysError): void {
    if (!this.#isCurrent(i, attempt)) return;
    this.#endAttempt(i);
    const node = this.#dag.nodes[i] as NodeSpec;
    if (!this.#stopping && shouldRetry(node.retry, attempt, error)) {
      this.#metrics?.emit('onRetry', {
        pipeline: this.#pipeline,
        runId: this.runId,
        node: node.id,
        attempt: attempt + 1,
        errorCode: error.code,
      });
      this.logger.warn(
        `node '${node.id}' failed (attempt ${attempt}), retrying: ${error.message}`,
        {
          node: node.id,
          code: error.code,
        },
      );
      const delay = retryDelaySeconds(node.retry as NonNullable<NodeSpec['retry']>, attempt);
      this.#move(i, S_DELAYED);
      this.#delayed++;
      if (delay <= 0) {
        this.#requeue(i);
      } else {
        this.#retryTimers.set(i, setTimeout(this.#retryNow, delay * 1000, i));
      }
      return;
    }
    this.#errors.set(i, error);
    const status =
      error.code === 'PHYS_TIMEOUT'
        ? S_TIMEOUT
        : error.code === 'PHYS_CANCELLED'
          ? S_CANCELLED
          : S_FAILED;
    if (this.#hooks !== undefined && status !== S_CANCELLED) {
      this.#hooks.emit('onError', {
        pipeline: this.#pipeline,
        runId: this.runId,
        step: node.id,
        error,
      });
    }
    this.#finalize(i, status, undefined);
  }

  readonly #retryNow = (i: number): void => {
    this.#retryTimers.delete(i);
    if (this.#status[i] !== S_DELAYED || this.#finished) return;
    this.#requeue(i);
    this.#pump();
  };

  #requeue(i: number): void {
    this.#delayed--;
    this.#move(i, S_READY);
    if (this.#readyAt !== undefined) this.#readyAt[i] = performance.now();
    this.#heap.push(i);
  }

  /** Ends the current attempt: returns its slots, clears its timer and controller. */
  #endAttempt(i: number): void {
    this.#running--;
    const grant = this.#grants[i];
    this.#grants[i] = undefined;
    if (this.#local !== undefined && grant !== undefined) {
      this.#local.release(grant, this.#dag.resources[i] as ResourceRequirements);
    }
    if (this.#controllers.size > 0) {
      this.#controllers.delete(i);
      const timer = this.#timers.get(i);
      if (timer !== undefined) {
        clearTimeout(timer);
        this.#timers.delete(i);
      }
      this.#handles.delete(i);
    }
  }

  #move(i: number, to: number): void {
    const counts = this.#counts;
    counts[this.#status[i] as number] = (counts[this.#status[i] as number] as number) - 1;
    counts[to] = (counts[to] as number) + 1;
    this.#status[i] = to;
  }

  /** A node reached a terminal status: release its inputs and its dependents (or their fate). */
  #finalize(i: number, status: number, out: StageOutput | undefined): void {
    this.#move(i, status);
    this.#end[i] = this.#clock();
    this.#finishSeq[this.#finishCount++] = i;
    const dag = this.#dag;
    const { depStart, depList, outStart, outList } = dag;
    for (let e = depStart[i] as number, end = depStart[i + 1] as number; e < end; e++) {
      const d = depList[e] as number;
      const left = (this.#consumers[d] as number) - 1;
      this.#consumers[d] = left;
      if (left === 0) this.#outputs[d] = undefined;
    }
    if (this.#observed) this.#observeEnd(i, status, out);
    if (this.#groups !== undefined) this.#settle(i, status);
    if (out !== undefined && (status === S_COMPLETED || status === S_CACHED)) {
      this.#packaging?.add(i, out, status === S_CACHED, {
        runId: this.runId,
        keys: this.#cacheKeys,
        logger: this.logger,
      });
    }
    if (status === S_COMPLETED || status === S_CACHED) {
      const waiting = this.#waiting;
      const readyAt = this.#readyAt;
      for (let e = outStart[i] as number, end = outStart[i + 1] as number; e < end; e++) {
        const w = outList[e] as number;
        const left = (waiting[w] as number) - 1;
        waiting[w] = left;
        // Once the run stops, nothing new starts: a node that still completes (a remote job
        // that finished before its cancel arrived) must not refill the ready heap, or the run
        // would wait for it forever. Its dependents stay PENDING and end CANCELLED.
        if (left === 0 && this.#status[w] === S_PENDING && !this.#stopping) {
          this.#move(w, S_READY);
          if (readyAt !== undefined) readyAt[w] = performance.now();
          this.#heap.push(w);
        }
      }
      return;
    }
    if (this.#stopping) return;
    this.#firstError ??= this.#errors.get(i);
    if (this.#failFast) {
      const error = this.#errors.get(i);
      this.#stop(
        new CancelledError(
          `Cancelled because node '${dag.ids[i]}' ended ${STATUS_NAMES[status]} (failureMode 'failFast').`,
          error === undefined ? {} : { cause: error },
        ),
      );
    } else {
      this.#skipDependents(i);
    }
  }

  #skipDependents(i: number): void {
    const { depStart, depList, outStart, outList } = this.#dag;
    const stack = [i];
    while (stack.length > 0) {
      const v = stack.pop() as number;
      for (let e = outStart[v] as number, end = outStart[v + 1] as number; e < end; e++) {
        const w = outList[e] as number;
        if (this.#status[w] !== S_PENDING) continue;
        this.#move(w, S_SKIPPED);
        this.#finishSeq[this.#finishCount++] = w;
        for (let q = depStart[w] as number, qe = depStart[w + 1] as number; q < qe; q++) {
          const d = depList[q] as number;
          const left = (this.#consumers[d] as number) - 1;
          this.#consumers[d] = left;
          if (left === 0) this.#outputs[d] = undefined;
        }
        if (this.#observed) this.#observeEnd(w, S_SKIPPED, undefined);
        stack.push(w);
      }
    }
  }

  /** failFast or cancellation: abort what runs, start nothing new. */
  #stop(reason: PhysError): void {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#firstError ??= reason;
    this.#heap.clear();
    for (const [i, timer] of this.#retryTimers) {
      clearTimeout(timer);
      this.#retryTimers.delete(i);
      this.#delayed--;
    }
    this.#runCtrl.abort(reason);
    for (const ctrl of [...this.#controllers.values()]) ctrl.abort(reason);
    for (const handle of [...this.#handles.values()]) {
      void this.#scheduler.cancel(handle).catch(() => undefined);
    }
    // Inline work cannot be interrupted; the nodes end now and their late results are ignored.
    // During a burst (a stage aborted the run synchronously) the burst's counters are not
    // written back yet, so the burst ends those nodes once it has.
    if (this.#bursting) this.#deferredStop = reason;
    else this.#failInlineAsync(reason);
  }

  #failInlineAsync(reason: PhysError): void {
    for (const i of [...this.#inlineAsync]) {
      this.#inlineAsync.delete(i);
      this.#attemptFailed(i, this.#attempts[i] as number, reason);
    }
  }

  #toPhysError(i: number, error: unknown): PhysError {
    if (PhysError.is(error)) return error;
    const node = this.#dag.nodes[i] as NodeSpec;
    const message = error instanceof Error ? error.message : String(error);
    return new StageExecutionError(
      node.stage.label,
      `Stage '${node.stage.label}' (node '${node.id}') failed: ${message}`,
      { cause: error, details: { nodeId: node.id } },
    );
  }

  // ---- cache --------------------------------------------------------------------------------
  //
  // Nodes of one run that share a key do identical work. The first of them to become ready (the
  // group's leader) is looked up and, on a miss, run; the others wait for it and are restored
  // from its result, so each key is looked up, computed and stored at most once per run. A cache
  // failure never fails the run: it is logged, counted, and treated as a miss.

  /** Keys of every node before anything runs; a state that cannot be hashed disables the cache. */
  #deriveKeys(): void {
    try {
      const { keys, inputs } = runCacheKeys(
        this.#dag,
        this.#initial,
        this.#policyHash,
        this.#fingerprintCode,
      );
      this.#cacheKeys = keys;
      this.#cacheInputs = inputs;
    } catch (error) {
      if (!PhysError.is(error) || error.code !== 'PHYS_STATE_UNSUPPORTED') throw error;
      const effect =
        this.#cache === undefined
          ? 'model packages get no cache keys'
          : 'this run neither reads nor writes the cache';
      if (this.#cache !== undefined) this.#cacheStats.errors++;
      this.logger.warn(`cannot derive cache keys, so ${effect}: ${error.message}`, {
        code: error.code,
      });
      this.#cache = undefined;
    }
  }

  /** A ready node whose key this run has not dealt with yet. */
  #lookup(i: number): void {
    (this.#lookedUp as Uint8Array)[i] = 1;
    const key = (this.#cacheKeys as string[])[i] as string;
    const groups = this.#groups as Map<string, KeyGroup>;
    const group = groups.get(key);
    if (group === undefined) {
      const led: KeyGroup = {
        leader: i,
        phase: G_ACTIVE,
        waiters: undefined,
        entry: undefined,
        extras: undefined,
        compute: undefined,
      };
      groups.set(key, led);
      (this.#leads as (KeyGroup | undefined)[])[i] = led;
      this.#move(i, S_LOOKUP);
      this.#lookups++;
      this.#cacheStats.lookups++;
      this.#ask(i, key, led);
      return;
    }
    if (group.phase === G_DONE) {
      this.#cacheStats.shared++;
      this.#restore(i, group);
    } else if (group.phase === G_FAILED) {
      // The identical work failed for another node (failureMode 'continue'): this node gets its
      // own attempts.
      this.#heap.push(i);
    } else {
      this.#move(i, S_LOOKUP);
      if (group.waiters === undefined) group.waiters = [i];
      else group.waiters.push(i);
    }
  }

  /**
   * Looks a leader's key up. Through `getOrCompute` when the cache has it: the cache then calls
   * back when this process should compute the entry (after a miss, holding the cross-process
   * lock of a shared cache) and stores what the node returns; another process's entry arrives as
   * a hit once that process publishes it.
   */
  #ask(i: number, key: string, group: KeyGroup): void {
    const cache = this.#cache as Cache & Partial<SingleFlightCache>;
    const getOrCompute = cache.getOrCompute;
    if (typeof getOrCompute !== 'function') {
      let found: Promise<CacheEntry | undefined>;
      try {
        found = cache.get(key);
      } catch (error) {
        found = Promise.reject(error);
      }
      found.then(
        (entry) => this.#looked(i, entry),
        (error: unknown) => {
          this.#cacheFailed('lookup', i, error);
          this.#looked(i, undefined);
        },
      );
      return;
    }
    let asked = false;
    const compute = (): Promise<CacheEntry> => {
      asked = true;
      const promise = new Promise<CacheEntry>((resolve, reject) => {
        group.compute = { resolve, reject };
      });
      this.#looked(i, undefined);
      return promise;
    };
    let flight: Promise<{ readonly entry: CacheEntry; readonly computed: boolean }>;
    try {
      flight = getOrCompute.call(cache, key, compute, { signal: this.#runSignal });
    } catch (error) {
      flight = Promise.reject(error);
    }
    this.#puts.push(
      flight.then(
        (outcome) => {
          if (!asked) this.#looked(i, outcome.entry);
          else if (outcome.computed) this.#cacheStats.stored++;
        },
        (error: unknown) => {
          if (!asked) {
            if (!this.#stopping) this.#cacheFailed('lookup', i, error);
            this.#looked(i, undefined);
          } else if (group.entry !== undefined && this.#status[i] === S_COMPLETED) {
            // The node succeeded; the cache could not store its result.
            this.#cacheFailed('store', i, error);
          }
        },
      ),
    );
  }

  /** A leader's lookup ended: restore it (and every node waiting on its key) or run it. */
  #looked(i: number, entry: CacheEntry | undefined): void {
    this.#lookups--;
    if (this.#finished || this.#stopping) {
      this.#maybeFinish();
      return;
    }
    if (entry !== undefined && !isEntry(entry)) {
      this.#cacheFailed(
        'lookup',
        i,
        new TypeError('the cache returned something that is not a CacheEntry'),
      );
      entry = undefined;
    }
    if (entry === undefined) {
      this.#cacheStats.misses++;
      this.#move(i, S_READY);
      if (this.#readyAt !== undefined) this.#readyAt[i] = performance.now();
      this.#heap.push(i);
    } else {
      this.#cacheStats.hits++;
      const group = (this.#leads as (KeyGroup | undefined)[])[i] as KeyGroup;
      share(group, entry);
      this.#restore(i, group);
    }
    this.#pump();
  }

  /** Node `i` becomes CACHED with the result its group holds. */
  #restore(i: number, group: KeyGroup): void {
    const entry = group.entry as CacheEntry;
    const dag = this.#dag;
    if (dag.outStart[i] === dag.outStart[i + 1] || (this.#consumers[i] as number) > 0) {
      this.#outputs[i] = entry.state;
    }
    this.#extras.set(i, group.extras as NodeExtras);
    this.#finalize(i, S_CACHED, entry);
  }

  /** A node ended: if it led its key's group, hand its result (or its failure) to the group. */
  #settle(i: number, status: number): void {
    const group = (this.#leads as (KeyGroup | undefined)[])[i];
    if (group === undefined || group.phase !== G_ACTIVE) return;
    const waiters = group.waiters;
    group.waiters = undefined;
    if ((status === S_COMPLETED || status === S_CACHED) && group.entry !== undefined) {
      group.phase = G_DONE;
      // A stopped run restores nothing more: waiting nodes end CANCELLED with the rest.
      if (waiters === undefined || this.#stopping) return;
      for (const w of waiters) {
        this.#cacheStats.shared++;
        this.#restore(w, group);
      }
      return;
    }
    group.phase = G_FAILED;
    abandon(group, this.#errors.get(i));
    if (waiters === undefined || this.#stopping) return;
    for (const w of waiters) {
      this.#move(w, S_READY);
      if (this.#readyAt !== undefined) this.#readyAt[w] = performance.now();
      this.#heap.push(w);
    }
  }

  /**
   * Stores a computed result with what its key was derived from (so `phys plan` can explain
   * later changes) and the original wall time (reported again when it is restored).
   */
  #store(i: number, out: StageOutput): void {
    const key = (this.#cacheKeys as string[])[i] as string;
    const node = this.#dag.nodes[i] as NodeSpec;
    const entry: CacheEntry = {
      state: out.state,
      metrics: (out.metrics ?? {}) as Record<string, number>,
      ...(out.artifacts === undefined ? {} : { artifacts: out.artifacts }),
      provenance: {
        ...out.provenance,
        node: node.id,
        stage: node.stage.name,
        version: node.stage.version,
        configHash: node.stage.configHash,
        ...(this.#policyHash === undefined ? {} : { policyHash: this.#policyHash }),
        wallTimeSeconds: (performance.now() - (this.#attemptStart[i] as number)) / 1000,
        cacheKey: key,
        [KEY_INPUTS_FIELD]: (this.#cacheInputs as DagKeyInputs[])[i],
      },
    };
    const group = (this.#leads as (KeyGroup | undefined)[])[i];
    if (group !== undefined) {
      share(group, entry);
      const compute = group.compute;
      if (compute !== undefined) {
        // getOrCompute stores it (and releases a shared cache's lock once it is published).
        group.compute = undefined;
        compute.resolve(entry);
        return;
      }
    }
    this.#puts.push(this.#put(i, key, entry));
  }

  async #put(i: number, key: string, entry: CacheEntry): Promise<void> {
    try {
      await (this.#cache as Cache).put(key, entry);
      this.#cacheStats.stored++;
    } catch (error) {
      this.#cacheFailed('store', i, error);
    }
  }

  #cacheFailed(what: 'lookup' | 'store', i: number, error: unknown): void {
    this.#cacheStats.errors++;
    const node = this.#dag.ids[i] as string;
    const code = PhysError.is(error) ? error.code : undefined;
    const message = error instanceof Error ? error.message : String(error);
    this.logger.warn(
      what === 'lookup'
        ? `cache lookup for node '${node}' failed, so it runs: ${message}`
        : `cannot cache the result of node '${node}' (the run goes on): ${message}`,
      { node, ...(code === undefined ? {} : { code }) },
    );
  }

  // ---- observation (only when hooks, collectors or a progress callback exist) ---------------

  #observeStart(i: number, attempt: number, input: unknown, now: number): void {
    const node = this.#dag.nodes[i] as NodeSpec;
    this.#hooks?.emit('onStepStart', {
      pipeline: this.#pipeline,
      runId: this.runId,
      step: node.id,
      attempt,
      inputs: input,
    });
    if (this.#metrics !== undefined) {
      this.#metrics.emit('onNodeStart', {
        pipeline: this.#pipeline,
        runId: this.runId,
        node: node.id,
        stage: node.stage.name,
        attempt,
        queueSeconds: (now - (this.#readyAt?.[i] ?? now)) / 1000,
      });
    }
    if (attempt === 1) this.#progress(i);
  }

  #observeEnd(i: number, status: number, out: StageOutput | undefined): void {
    const node = this.#dag.nodes[i] as NodeSpec;
    const name = STATUS_NAMES[status] as NodeStatus;
    const attempt = this.#attempts[i] as number;
    const started = this.#attemptStart[i] as number;
    const durationSeconds =
      started > 0 && status !== S_SKIPPED && status !== S_CACHED
        ? (performance.now() - started) / 1000
        : 0;
    if (this.#hooks !== undefined && (attempt > 0 || status === S_CACHED)) {
      this.#hooks.emit('onStepEnd', {
        pipeline: this.#pipeline,
        runId: this.runId,
        step: node.id,
        status: name,
        attempt,
        durationSeconds,
        outputs: out === undefined ? undefined : (out as StageResult),
      });
    }
    this.#metrics?.emit('onNodeEnd', {
      pipeline: this.#pipeline,
      runId: this.runId,
      node: node.id,
      stage: node.stage.name,
      status: name,
      attempt,
      durationSeconds,
      cacheHit: status === S_CACHED,
    });
    this.#progress(i);
  }

  #progress(i: number): void {
    const cb = this.#onProgress;
    if (cb === undefined) return;
    try {
      cb({
        node: this.#dag.ids[i] as string,
        status: STATUS_NAMES[this.#status[i] as number] as NodeStatus,
        counts: this.#countsObject(),
        total: this.#dag.n,
      });
    } catch (error) {
      this.logger.warn(`progress callback failed: ${String(error)}`);
    }
  }

  #countsObject(): Partial<Record<NodeStatus, number>> {
    const out: Partial<Record<NodeStatus, number>> = {};
    const c = this.#counts;
    for (let s = 0; s < c.length; s++) {
      const v = c[s] as number;
      if (v === 0) continue;
      const name = STATUS_NAMES[s] as NodeStatus;
      out[name] = (out[name] ?? 0) + v;
    }
    return out;
  }

  // ---- the end ------------------------------------------------------------------------------

  #maybeFinish(): void {
    if (
      this.#finished ||
      this.#pumping ||
      this.#running > 0 ||
      this.#lookups > 0 ||
      this.#delayed > 0 ||
      this.#heap.size > 0
    ) {
      return;
    }
    this.#finished = true;
    this.#unlisten?.();
    this.#userSignal?.removeEventListener('abort', this.#onUserAbort);
    this.#finish().then(this.#resolve, this.#reject);
  }

  async #finish(): Promise<DagRunResult> {
    const dag = this.#dag;
    const n = dag.n;
    if (this.#finishCount < n) {
      // Whatever never reached a terminal status was cancelled (failFast or a cancelled run).
      for (let i = 0; i < n; i++) {
        const s = this.#status[i] as number;
        if (s < S_COMPLETED || s === S_LOOKUP) {
          this.#move(i, S_CANCELLED);
          this.#finishSeq[this.#finishCount++] = i;
          if (this.#onProgress !== undefined || this.#metrics !== undefined)
            this.#observeEnd(i, S_CANCELLED, undefined);
        }
      }
    }
    const counts = this.#countsObject();
    const status: ExecutionStatus = this.#cancelled
      ? ExecutionStatus.CANCELLED
      : (counts.FAILED ?? 0) + (counts.TIMEOUT ?? 0) + (counts.CANCELLED ?? 0) > 0 || this.#stopping
        ? ExecutionStatus.FAILED
        : ExecutionStatus.COMPLETED;

    let orderIdx: Int32Array | undefined;
    // Nodes restored from the cache all carry provenance; only metrics and artifacts need the
    // recorded order (which costs a sort of the ids), so runs without any skip it.
    if (this.#extras.size > 0 && recordsAny(this.#extras)) {
      orderIdx = recordedOrder(dag);
      for (const i of orderIdx) {
        const extras = this.#extras.get(i);
        if (
          extras === undefined ||
          (extras.metrics === undefined && extras.artifacts === undefined)
        )
          continue;
        try {
          await this.acc.consume(dag.ids[i] as string, {
            state: undefined,
            ...(extras.metrics === undefined ? {} : { metrics: extras.metrics }),
            ...(extras.artifacts === undefined ? {} : { artifacts: extras.artifacts as never }),
          });
        } catch (error) {
          this.logger.warn(`cannot record artifacts of node '${dag.ids[i]}': ${String(error)}`);
        }
      }
    }
    // Computations a shared cache handed to nodes that never ran: let other processes take over.
    if (this.#groups !== undefined) for (const group of this.#groups.values()) abandon(group);
    if (this.#puts.length > 0) await Promise.all(this.#puts);
    const packages = await this.#packaging?.settle();

    const outputs: Record<string, unknown> = {};
    const { outStart } = dag;
    for (let i = 0; i < n; i++) {
      if (outStart[i] !== outStart[i + 1]) continue;
      const s = this.#status[i];
      if (s === S_COMPLETED || s === S_CACHED) outputs[dag.ids[i] as string] = this.#outputs[i];
    }
    const durationSeconds = (performance.now() - this.#t0) / 1000;
    const firstError = this.#firstError;
    const error: SerializedPhysError | undefined =
      status === ExecutionStatus.COMPLETED || firstError === undefined
        ? undefined
        : firstError.toJSON();
    this.#hooks?.emit('onPipelineEnd', {
      pipeline: this.#pipeline,
      runId: this.runId,
      status,
      durationSeconds,
      error: status === ExecutionStatus.COMPLETED ? undefined : firstError,
    });
    await this.#hooks?.flush();
    await this.#metrics?.end({
      pipeline: this.#pipeline,
      runId: this.runId,
      status,
      durationSeconds,
      counts,
    });
    const record: RunRecord = {
      dag,
      status: this.#status,
      attempts: this.#attempts,
      firstStartMs: this.#firstStart,
      attemptStartMs: this.#attemptStart,
      endMs: this.#end,
      errors: this.#errors,
      extras: this.#extras,
      startSeq: this.#startSeq,
      startCount: this.#startCount,
      finishSeq: this.#finishSeq,
      finishCount: this.#finishCount,
      policyHash: this.#policyHash,
      ...(packages === undefined ? {} : { packages }),
    };
    return new DagRunResult({
      runId: this.runId,
      pipeline: this.#pipeline,
      status,
      durationSeconds,
      outputs,
      metrics: this.#acc?.metrics ?? {},
      artifacts: this.#acc?.artifacts ?? {},
      counts,
      error,
      hookFailures: this.#hooks?.failures ?? [],
      record,
      ...(orderIdx === undefined ? {} : { orderIdx }),
      ...(this.#hasCache ? { cache: { ...this.#cacheStats } satisfies DagCacheSummary } : {}),
    });
  }
}

// Phases of a key group.
const G_ACTIVE = 0;
const G_DONE = 1;
const G_FAILED = 2;

/** The nodes of one run that share a cache key. */
interface KeyGroup {
  /** The node that is looked up and, on a miss, run for all of them. */
  readonly leader: number;
  phase: number;
  /** Nodes ready while the leader was still looked up or running. */
  waiters: number[] | undefined;
  /** The result, once known (restored or computed). */
  entry: CacheEntry | undefined;
  /** What a node restored from `entry` records: its metrics, artifacts, and provenance. */
  extras: NodeExtras | undefined;
  /** Settles the computation a `getOrCompute` cache handed to this run. */
  compute:
    | { readonly resolve: (entry: CacheEntry) => void; readonly reject: (error: unknown) => void }
    | undefined;
}

/** The single-flight method of `DiskCache` and `SharedDiskCache` (not part of core's Cache). */
interface SingleFlightCache {
  getOrCompute(
    key: string,
    compute: () => CacheEntry | Promise<CacheEntry>,
    options?: { readonly signal?: AbortSignal },
  ): Promise<{ readonly entry: CacheEntry; readonly computed: boolean }>;
}

function isEntry(entry: unknown): entry is CacheEntry {
  return typeof entry === 'object' && entry !== null && 'state' in entry;
}

/**
 * Gives a group its result. Restored nodes report the original provenance (wall time included)
 * marked `cached: true`; one frozen record serves every node of the group.
 */
function share(group: KeyGroup, entry: CacheEntry): void {
  group.entry = entry;
  const metrics = entry.metrics ?? {};
  let hasMetrics = false;
  for (const _ in metrics) {
    hasMetrics = true;
    break;
  }
  group.extras = Object.freeze({
    ...(hasMetrics ? { metrics } : {}),
    ...(entry.artifacts === undefined ? {} : { artifacts: entry.artifacts }),
    provenance: Object.freeze({ ...entry.provenance, cached: true }),
  });
}

function recordsAny(extras: ReadonlyMap<number, NodeExtras>): boolean {
  for (const e of extras.values()) {
    if (e.metrics !== undefined || e.artifacts !== undefined) return true;
  }
  return false;
}

/** Fails the computation a `getOrCompute` cache handed over, so it stores nothing. */
function abandon(group: KeyGroup, error?: PhysError): void {
  const compute = group.compute;
  if (compute === undefined) return;
  group.compute = undefined;
  compute.reject(error ?? new CancelledError('The node computing this cache entry did not run.'));
}

function outcomeError(outcome: TaskOutcome, nodeId: string): PhysError {
  if (outcome.error !== undefined) return deserializeError(outcome.error);
  if (outcome.status === ExecutionStatus.TIMEOUT)
    return new TimeoutError(`Node '${nodeId}' timed out.`);
  if (outcome.status === ExecutionStatus.CANCELLED)
    return new CancelledError(`Node '${nodeId}' was cancelled.`);
  return new PhysError(
    'PHYS_TASK_FAILED',
    `Node '${nodeId}' ended ${outcome.status} without an error.`,
  );
}

function badMetric(metrics: Readonly<Record<string, unknown>>): string | undefined {
  for (const key in metrics) {
    const v = metrics[key];
    if (
      typeof v === 'number' ? !Number.isFinite(v) : typeof v !== 'boolean' && typeof v !== 'bigint'
    )
      return key;
    if (typeof v === 'bigint' && !Number.isFinite(Number(v))) return key;
  }
  return undefined;
}

function describe(value: unknown): string {
  return typeof value === 'object' && value !== null
    ? (value.constructor?.name ?? 'object')
    : String(value);
}
