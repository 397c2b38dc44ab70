import { randomUUID } from 'node:crypto';
import {
  type ArtifactRecorder,
  CancelledError,
  type GrantedResources,
  type Logger,
  type NodeSpec,
  type PhysError,
  PolicyBag,
  type ResourceRequirements,
  RunAccumulator,
  type Scheduler,
  silentLogger,
} from '@phys/core';
import { FileArtifactRecorder } from '@phys/runtime';
import { attemptFailed } from './attempts.js';
import { CacheCoordinator, type CacheCounters, deriveKeys } from './cache-coordination.js';
import { type CompiledDag, ISO_THREAD } from './compile.js';
import type { DagExecutorOptions, DagRunOptions } from './dag-executor.js';
import { Demand } from './demand.js';
import { launch } from './dispatch.js';
import { burst } from './fast-path.js';
import type { LocalDispatch } from './local-scheduler.js';
import { ModelPackaging } from './model-packaging.js';
import { RunObserver } from './observation.js';
import { assembleResult } from './result-assembly.js';
import type { DagRunResult } from './run-result.js';
import { S_PENDING, S_READY } from './run-result.js';
import { RunState } from './run-state.js';

/** The grant of a node run through a plain Scheduler, which accounts for resources itself. */
const NO_GRANT: GrantedResources = Object.freeze({
  cpu: 1,
  gpuIds: Object.freeze([]) as readonly number[],
  mpiRanks: 1,
  memoryBytes: undefined,
});

/**
 * One run of a {@link DagExecutor}: the run's settings and collaborators on top of its
 * {@link RunState}, and its lifecycle — start, the ready loop, stop and cancel, and the end. The
 * executor's other modules are functions of a DagRun: attempts start in dispatch.ts and end in
 * attempts.ts, nodes end in completion.ts, the fast path is fast-path.ts, the cache is
 * cache-coordination.ts, hooks and metrics are observation.ts, and result-assembly.ts builds
 * the result.
 */
export class DagRun extends RunState {
  readonly runId: string;
  readonly policy: PolicyBag;
  readonly policyHash: string | undefined;
  readonly logger: Logger;
  readonly pipeline: string;
  readonly scheduler: Scheduler;
  /** The LocalScheduler's in-process interface; undefined for any other scheduler. */
  readonly local: LocalDispatch | undefined;
  readonly configFile: string | undefined;
  /** Where thread and process nodes write artifacts (a FileArtifactRecorder's root). */
  readonly artifactsDir: string | undefined;
  readonly failFast: boolean;
  readonly strict: boolean;
  readonly observer: RunObserver | undefined;
  readonly packaging: ModelPackaging | undefined;
  /** Undefined when the executor has no cache; kept when the run cannot use it (for its errors). */
  readonly cacheCounters: CacheCounters | undefined;
  /** Set by start() when the executor has a cache and the keys could be derived. */
  cache: CacheCoordinator | undefined;
  cacheKeys: readonly string[] | undefined;
  /** What the run needs; set with `cache` (a run without one runs every node). */
  demand: Demand | undefined;
  /**
   * Whether ready inline nodes may take the fast path: a LocalScheduler, and nothing that needs
   * more than recordSuccess does for a plain result (no hooks or progress callback, strict check,
   * cache or packager; collectors hear of its nodes as of any other).
   */
  readonly fast: boolean;
  readonly t0: number;

  // ---- run control ------------------------------------------------------------------------
  readonly runCtrl = new AbortController();
  /** The signal of inline attempts without a timeout; aborted when the run stops. */
  readonly runSignal: AbortSignal = this.runCtrl.signal;
  /** Nothing new starts; set by failFast and cancellation. */
  stopping = false;
  cancelled = false;
  firstError: PhysError | undefined;
  finished = false;
  /** A stop that came while the fast path ran a node in place (see {@link stop}). */
  #deferredStop: PhysError | undefined;
  #pumping = false;
  #repump = false;
  readonly #userSignal: AbortSignal | undefined;
  #unlisten: (() => void) | undefined;
  #resolve!: (result: DagRunResult) => void;
  #reject!: (error: unknown) => void;

  readonly #executor: DagExecutorOptions;
  readonly #recorder: ArtifactRecorder | undefined;
  #acc: RunAccumulator | undefined;
  #policyJson: Readonly<Record<string, unknown>> | undefined;

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
    const runId = options.runId ?? randomUUID();
    const logger = options.logger ?? executor.logger ?? silentLogger;
    const pipeline = options.pipeline ?? executor.name ?? 'dag';
    const observer = RunObserver.create(executor, options, pipeline, runId, logger);
    super(dag, initialState, observer?.metrics !== undefined);
    this.runId = runId;
    this.logger = logger;
    this.pipeline = pipeline;
    this.observer = observer;
    this.policy = policy ?? PolicyBag.empty;
    this.policyHash = policy?.hash();
    const recorder = options.recordArtifacts === true ? options.recorder : undefined;
    this.#recorder = recorder;
    this.artifactsDir = recorder instanceof FileArtifactRecorder ? recorder.root : undefined;
    this.scheduler = scheduler;
    this.local = local;
    this.configFile = configFile;
    this.failFast = (options.failureMode ?? executor.failureMode ?? 'failFast') === 'failFast';
    this.strict = options.strict ?? executor.strict ?? false;
    this.#executor = executor;
    this.cacheCounters =
      executor.cache === undefined
        ? undefined
        : { lookups: 0, hits: 0, misses: 0, shared: 0, stored: 0, errors: 0 };
    this.cache = undefined;
    this.cacheKeys = undefined;
    this.demand = undefined;
    this.packaging =
      executor.packager === undefined ? undefined : ModelPackaging.create(executor.packager, dag);
    this.#userSignal = options.signal;
    this.fast =
      local !== undefined &&
      (observer === undefined || observer.metricsOnly) &&
      !this.strict &&
      executor.cache === undefined &&
      this.packaging === undefined;
    this.t0 = performance.now();
  }

  /** Namespaced metrics and artifacts; made on first use (most runs of trivial stages never need it). */
  get acc(): RunAccumulator {
    this.#acc ??= new RunAccumulator({ recorder: this.#recorder });
    return this.#acc;
  }

  /** The accumulator if any node used it (undefined: nothing to report). */
  get accumulated(): RunAccumulator | undefined {
    return this.#acc;
  }

  /** The policy as JSON, for nodes that run outside this thread; made once per run. */
  policyObject(): Readonly<Record<string, unknown>> {
    this.#policyJson ??= this.policy.toJSON();
    return this.#policyJson;
  }

  start(): Promise<DagRunResult> {
    const promise = new Promise<DagRunResult>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    const dag = this.dag;
    const n = dag.n;
    try {
      const cache = this.#executor.cache;
      if (cache !== undefined || this.packaging !== undefined) {
        const keys = deriveKeys(
          dag,
          this.initial,
          this.policyHash,
          this.#executor.fingerprintCode ?? true,
          this.cacheCounters,
          this.logger,
        );
        if (keys !== undefined) {
          this.cacheKeys = keys.keys;
          if (cache !== undefined) {
            this.cache = new CacheCoordinator(
              this,
              cache,
              keys,
              this.cacheCounters as CacheCounters,
            );
          }
        }
      }
      this.observer?.runStart(this, this.policyHash);
      const { depStart, outStart } = dag;
      if (this.cache !== undefined) {
        // With a cache, nodes are looked up from the outputs up, and only what is needed runs.
        for (let i = 0; i < n; i++) {
          this.waiting[i] = (depStart[i + 1] as number) - (depStart[i] as number);
          this.consumers[i] = (outStart[i + 1] as number) - (outStart[i] as number);
        }
        this.demand = new Demand(this);
        this.demand.start();
      } else {
        const heap = this.heap;
        const readyAt = this.readyAt;
        const now = readyAt === undefined ? 0 : performance.now();
        let roots = 0;
        for (let i = 0; i < n; i++) {
          const deps = (depStart[i + 1] as number) - (depStart[i] as number);
          this.waiting[i] = deps;
          this.consumers[i] = (outStart[i + 1] as number) - (outStart[i] as number);
          if (deps === 0) {
            this.status[i] = S_READY;
            roots++;
            if (readyAt !== undefined) readyAt[i] = now;
            heap.push(i);
          }
        }
        this.counts[S_PENDING] = n - roots;
        this.counts[S_READY] = roots;
      }
      const signal = this.#userSignal;
      if (signal !== undefined) {
        if (signal.aborted) this.#cancel();
        else signal.addEventListener('abort', this.#onUserAbort, { once: true });
      }
      if (this.local !== undefined) this.#unlisten = this.local.onRelease(this.#pumpLater);
      this.pump();
    } catch (error) {
      this.#reject(error);
    }
    return promise;
  }

  readonly #onUserAbort = (): void => {
    this.#cancel();
    this.pump();
  };

  readonly #pumpLater = (): void => {
    if (!this.finished) queueMicrotask(() => this.pump());
  };

  #cancel(): void {
    if (this.stopping) return;
    this.cancelled = true;
    const reason = this.#userSignal?.reason as unknown;
    this.stop(
      new CancelledError(
        `Run ${this.runId} was cancelled.`,
        reason === undefined ? {} : { cause: reason },
      ),
    );
  }

  /**
   * The ready loop: starts ready nodes in heap order while slots are free, through the fast path
   * when the run allows it and the general path otherwise. Reentrant calls (a completion inside
   * the loop) only ask for another round.
   */
  pump(): void {
    if (this.finished) return;
    if (this.#pumping) {
      this.#repump = true;
      return;
    }
    this.#pumping = true;
    try {
      const heap = this.heap;
      const local = this.local;
      const resources = this.dag.resources;
      const isolation = this.dag.isolation;
      const cache = this.cache;
      const lookedUp = cache?.lookedUp;
      const fast = this.fast;
      do {
        this.#repump = false;
        while (!this.stopping && heap.size > 0) {
          if (fast) {
            burst(this);
            if (this.stopping || heap.size === 0) break;
          }
          // The general path: one node that the burst does not take (or any node of a run
          // that is observed, strict, cached or packaged). With a cache, the heap also holds
          // nodes to look up, needed or not, and ready or not (see demand.ts).
          const i = heap.peek();
          if (lookedUp !== undefined && lookedUp[i] === 0) {
            heap.pop();
            // A node restored from the cache took from here to its restore (observation.ts).
            if (this.readyAt !== undefined) this.readyAt[i] = performance.now();
            (cache as CacheCoordinator).lookup(i);
            continue;
          }
          let grant: GrantedResources | undefined = NO_GRANT;
          let pipelined = false;
          if (local !== undefined) {
            const req = resources[i] as ResourceRequirements;
            grant = local.tryAcquire(req);
            if (grant === undefined) {
              // No slot free: a short thread attempt may still queue on a thread (pipelining),
              // unless it has a timeout, which would count its time in that queue.
              const node = this.dag.nodes[i] as NodeSpec;
              if (
                isolation[i] !== ISO_THREAD ||
                node.timeoutSeconds !== undefined ||
                local.tryPipeline === undefined
              ) {
                break;
              }
              grant = local.tryPipeline(req, node.stage.ref, this.configFile);
              if (grant === undefined) break;
              pipelined = true;
            }
          }
          heap.pop();
          launch(this, i, grant, pipelined);
        }
      } while (this.#repump);
      if (this.endDebt >= 0) this.clock();
    } catch (error) {
      // Only a bug in the executor itself lands here; fail the run rather than hang it.
      this.#pumping = false;
      this.finished = true;
      this.#unlisten?.();
      this.#reject(error);
      return;
    }
    this.#pumping = false;
    this.maybeFinish();
  }

  /** failFast or cancellation: abort what runs, start nothing new. */
  stop(reason: PhysError): void {
    if (this.stopping) return;
    this.stopping = true;
    this.firstError ??= reason;
    this.heap.clear();
    for (const [i, timer] of this.retryTimers) {
      clearTimeout(timer);
      this.retryTimers.delete(i);
      this.delayed--;
    }
    this.runCtrl.abort(reason);
    for (const ctrl of [...this.controllers.values()]) ctrl.abort(reason);
    for (const handle of [...this.handles.values()]) {
      void this.scheduler.cancel(handle).catch(() => undefined);
    }
    // Inline work cannot be interrupted; the nodes end now and their late results are ignored.
    // When the stop comes from a stage the fast path is running in place (it aborted the run
    // synchronously), they end once that node has: it finishes first, and it alone owes its end
    // time (see RunState.endDebt).
    if (this.bursting) this.#deferredStop = reason;
    else this.#failInlineAsync(reason);
  }

  /** The fast path finished the node it ran in place: end what a stop meanwhile left running. */
  endDeferredStop(): void {
    const deferred = this.#deferredStop;
    if (deferred === undefined) return;
    this.#deferredStop = undefined;
    this.#failInlineAsync(deferred);
  }

  #failInlineAsync(reason: PhysError): void {
    for (const i of [...this.inlineAsync]) {
      this.inlineAsync.delete(i);
      attemptFailed(this, i, this.attempts[i] as number, reason);
    }
  }

  /** Resolves the run once nothing is ready, running, delayed or being looked up. */
  maybeFinish(): void {
    if (
      this.finished ||
      this.#pumping ||
      this.running > 0 ||
      this.lookups > 0 ||
      this.delayed > 0 ||
      this.heap.size > 0
    ) {
      return;
    }
    // No node can need a missing key any more: what waited for one was not needed. (A stopped
    // run leaves them to end CANCELLED with the rest.)
    if (!this.stopping && this.cache !== undefined) {
      this.cache.skipUnneeded();
      if (this.heap.size > 0) {
        this.pump();
        return;
      }
    }
    this.finished = true;
    this.#unlisten?.();
    this.#userSignal?.removeEventListener('abort', this.#onUserAbort);
    assembleResult(this).then(this.#resolve, this.#reject);
  }
}
