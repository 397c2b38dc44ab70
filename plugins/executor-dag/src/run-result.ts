import {
  deserializeError,
  type ExecutionStatus,
  type HookFailure,
  NodeStatus,
  PhysError,
  type SerializedPhysError,
  type StageProvenance,
  serializeError,
} from '@phys/core';
import { type CompiledDag, recordedOrder } from './compile.js';

// Node states while a run is in flight; the terminal ones map onto NodeStatus.
export const S_PENDING = 0;
export const S_READY = 1;
export const S_RUNNING = 2;
export const S_DELAYED = 3;
export const S_COMPLETED = 4;
export const S_FAILED = 5;
export const S_CANCELLED = 6;
export const S_TIMEOUT = 7;
export const S_SKIPPED = 8;
export const S_CACHED = 9;
export const S_LOOKUP = 10;
/** Not looked up yet: waits until a node that will run needs it, or until nothing can. */
export const S_IDLE = 11;

export const STATUS_NAMES: readonly NodeStatus[] = [
  NodeStatus.QUEUED,
  NodeStatus.QUEUED,
  NodeStatus.RUNNING,
  NodeStatus.QUEUED,
  NodeStatus.COMPLETED,
  NodeStatus.FAILED,
  NodeStatus.CANCELLED,
  NodeStatus.TIMEOUT,
  NodeStatus.SKIPPED,
  NodeStatus.CACHED,
  NodeStatus.QUEUED,
  NodeStatus.QUEUED,
];

/** Extra output of a node beyond its state; kept only for nodes that produced any. */
export interface NodeExtras {
  readonly metrics?: Readonly<Record<string, number>>;
  readonly artifacts?: Readonly<Record<string, unknown>>;
  readonly provenance?: Readonly<Record<string, unknown>>;
}

/** Everything a finished run recorded, in integer-indexed form. */
export interface RunRecord {
  readonly dag: CompiledDag;
  readonly status: Uint8Array;
  readonly attempts: Uint16Array;
  /** performance.now() of the first attempt's start, of the last attempt's start, and of the end. */
  readonly firstStartMs: Float64Array;
  readonly attemptStartMs: Float64Array;
  readonly endMs: Float64Array;
  readonly errors: ReadonlyMap<number, PhysError>;
  readonly extras: ReadonlyMap<number, NodeExtras>;
  readonly startSeq: Int32Array;
  readonly startCount: number;
  readonly finishSeq: Int32Array;
  readonly finishCount: number;
  readonly policyHash: string | undefined;
  /** Model packages written for `modelArtifact` nodes, in recorded order. */
  readonly packages?: readonly ModelPackageRecord[];
  /** 1 for a SKIPPED node that nothing needed (the others were skipped after a failure). */
  readonly notNeeded?: Uint8Array | undefined;
}

/**
 * Why a node was SKIPPED: `upstream-failed` (failureMode 'continue': a node it depends on
 * failed), or `not-needed` (the cache holds no result for it, and no node that ran and no output
 * of the run needed one, so it was not run). @public
 */
export type SkipReason = 'upstream-failed' | 'not-needed';

/** A model package the run wrote for a node marked `modelArtifact: true`. @public */
export interface ModelPackageRecord {
  readonly nodeId: string;
  /** The package directory; absent when packaging failed. */
  readonly path?: string;
  /** Why packaging failed (the node then ended FAILED with this error). */
  readonly error?: SerializedPhysError;
}

/**
 * What a run did with its cache. Nodes that share a key are looked up once: `hits + misses`
 * counts distinct keys (a key is asked again only when a node needs it after it was found
 * missing for a node that did not), and CACHED nodes are `hits` plus `shared`.
 * @public
 */
export interface DagCacheSummary {
  /** Keys looked up in the cache. */
  readonly lookups: number;
  /** Lookups that found an entry. */
  readonly hits: number;
  /** Lookups that found none (their nodes ran). */
  readonly misses: number;
  /** Nodes restored from the result of another node of this run with the same key. */
  readonly shared: number;
  /** Entries written. */
  readonly stored: number;
  /** Cache reads and writes that failed (each logged, treated as a miss; the run went on). */
  readonly errors: number;
}

/** What the executor hands to {@link DagRunResult}. */
interface ResultFields {
  runId: string;
  pipeline: string;
  status: ExecutionStatus;
  durationSeconds: number;
  outputs: Record<string, unknown>;
  metrics: Record<string, number>;
  artifacts: Record<string, unknown>;
  counts: Partial<Record<NodeStatus, number>>;
  error: SerializedPhysError | undefined;
  hookFailures: readonly HookFailure[];
  record: RunRecord;
  orderIdx?: Int32Array | undefined;
  cache?: DagCacheSummary;
}

/** What happened to one node. @public */
export interface NodeRunRecord {
  readonly id: string;
  readonly status: NodeStatus;
  /** Attempts started (0 for SKIPPED, CACHED and nodes cancelled before they started). */
  readonly attempts: number;
  readonly stage: string;
  readonly version: string;
  /** Epoch milliseconds of the first attempt's start; undefined if it never started. */
  readonly startedAt: number | undefined;
  /** Epoch milliseconds of the end of its last attempt (or of the cache hit). */
  readonly finishedAt: number | undefined;
  /** Seconds from the first start to the end, including retries and backoff. */
  readonly durationSeconds: number | undefined;
  /** Seconds of the last attempt alone. */
  readonly wallTimeSeconds: number | undefined;
  readonly cacheHit: boolean;
  /** Why a SKIPPED node did not run; absent for every other status. */
  readonly skipReason?: SkipReason;
  readonly error?: SerializedPhysError;
}

/** Provenance of a DAG run. @public */
export interface DagRunProvenance {
  /** Hash of the run's policy (when one was given). */
  readonly policyHash?: string;
  /**
   * One record per COMPLETED or CACHED node in recorded order: `stage` (the node id),
   * `name`, `version`, `configHash`, `policyHash`, `wallTimeSeconds`, `attempts`, `cacheHit`,
   * and whatever provenance the stage returned.
   */
  readonly stages: readonly StageProvenance[];
  /** One record per node in recorded order, whatever its status. */
  readonly nodeRuns: readonly NodeRunRecord[];
  /** Model packages of the nodes marked `modelArtifact: true` (only when a packager is set). */
  readonly modelPackages?: readonly ModelPackageRecord[];
}

/**
 * The result of {@link DagExecutor.run}: every node's status, attempts, timings and error,
 * the namespaced metrics and artifacts (`nodeId.key`), provenance, and the states of the sink
 * nodes. Per-node views are built on first access, so a million-node run pays for them only
 * when they are read.
 * @public
 */
export class DagRunResult {
  readonly runId: string;
  readonly pipeline: string;
  readonly status: ExecutionStatus;
  readonly durationSeconds: number;
  /** States of the nodes nothing depends on, by node id (successful ones only). */
  readonly outputs: Readonly<Record<string, unknown>>;
  readonly metrics: Readonly<Record<string, number>>;
  readonly artifacts: Readonly<Record<string, unknown>>;
  /** Number of nodes per status. */
  readonly counts: Readonly<Partial<Record<NodeStatus, number>>>;
  /** The first failure (or the cancellation) that decided the run's status. */
  readonly error: SerializedPhysError | undefined;
  /** Hooks that threw (the run went on regardless). */
  readonly hookFailures: readonly HookFailure[];
  /** What the run did with its cache; undefined when it had none. */
  readonly cache: DagCacheSummary | undefined;
  readonly #record: RunRecord;
  #order: readonly string[] | undefined;
  #orderIdx: Int32Array | undefined;
  #nodes: Readonly<Record<string, NodeRunRecord>> | undefined;
  #provenance: DagRunProvenance | undefined;

  /** Made by the executor; not meant to be constructed by users. @internal */
  constructor(init: object) {
    const fields = init as ResultFields;
    this.runId = fields.runId;
    this.pipeline = fields.pipeline;
    this.status = fields.status;
    this.durationSeconds = fields.durationSeconds;
    this.outputs = fields.outputs;
    this.metrics = fields.metrics;
    this.artifacts = fields.artifacts;
    this.counts = fields.counts;
    this.error = fields.error;
    this.hookFailures = fields.hookFailures;
    this.cache = fields.cache;
    this.#record = fields.record;
    this.#orderIdx = fields.orderIdx;
  }

  /** True when every node COMPLETED, was CACHED, or was not needed (SKIPPED, `not-needed`). */
  get ok(): boolean {
    return this.status === 'COMPLETED';
  }

  /** Node ids in the deterministic recorded order: topological, ties broken by id. */
  get order(): readonly string[] {
    if (this.#order === undefined) {
      const ids = this.#record.dag.ids;
      this.#order = Object.freeze(Array.from(this.#orderIndex(), (i) => ids[i] as string));
    }
    return this.#order;
  }

  /** Node ids in the order their first attempt actually started (timing-dependent). */
  get startOrder(): readonly string[] {
    const { startSeq, startCount, dag } = this.#record;
    return Array.from(startSeq.subarray(0, startCount), (i) => dag.ids[i] as string);
  }

  /** Node ids in the order they reached a terminal status (timing-dependent). */
  get finishOrder(): readonly string[] {
    const { finishSeq, finishCount, dag } = this.#record;
    return Array.from(finishSeq.subarray(0, finishCount), (i) => dag.ids[i] as string);
  }

  /** Every node's record, keyed by id, in recorded order. */
  get nodes(): Readonly<Record<string, NodeRunRecord>> {
    if (this.#nodes === undefined) {
      const out: Record<string, NodeRunRecord> = {};
      for (const i of this.#orderIndex()) {
        const rec = this.#nodeRecord(i);
        out[rec.id] = rec;
      }
      this.#nodes = Object.freeze(out);
    }
    return this.#nodes;
  }

  /** The record of node `id`, or undefined when the DAG has no such node. */
  node(id: string): NodeRunRecord | undefined {
    if (this.#nodes !== undefined) return this.#nodes[id];
    const i = this.#record.dag.ids.indexOf(id);
    return i < 0 ? undefined : this.#nodeRecord(i);
  }

  /** Status of node `id`. */
  statusOf(id: string): NodeStatus | undefined {
    const i = this.#record.dag.ids.indexOf(id);
    return i < 0 ? undefined : STATUS_NAMES[this.#record.status[i] as number];
  }

  get provenance(): DagRunProvenance {
    if (this.#provenance === undefined) {
      const { policyHash, status, dag, extras, packages } = this.#record;
      const stages: StageProvenance[] = [];
      const nodeRuns: NodeRunRecord[] = [];
      for (const i of this.#orderIndex()) {
        const rec = this.#nodeRecord(i);
        nodeRuns.push(rec);
        const s = status[i];
        if (s !== S_COMPLETED && s !== S_CACHED) continue;
        const stage = dag.nodes[i]?.stage;
        stages.push({
          name: rec.stage,
          version: rec.version,
          configHash: stage?.configHash,
          ...(policyHash === undefined ? {} : { policyHash }),
          wallTimeSeconds: rec.wallTimeSeconds ?? 0,
          attempts: rec.attempts,
          cacheHit: rec.cacheHit,
          ...extras.get(i)?.provenance,
          stage: rec.id,
        });
      }
      this.#provenance = Object.freeze({
        ...(policyHash === undefined ? {} : { policyHash }),
        stages: Object.freeze(stages),
        nodeRuns: Object.freeze(nodeRuns),
        ...(packages === undefined ? {} : { modelPackages: Object.freeze([...packages]) }),
      });
    }
    return this.#provenance;
  }

  /** Throws the run's first failure (a PhysError) unless every node completed or was cached. */
  throwIfFailed(): this {
    if (this.status === 'COMPLETED') return this;
    const first = [...this.#record.errors.values()][0];
    if (first !== undefined) throw first;
    throw this.error === undefined
      ? new PhysError('PHYS_TASK_FAILED', `Run ${this.runId} ended ${this.status}.`)
      : deserializeError(this.error);
  }

  #orderIndex(): Int32Array {
    this.#orderIdx ??= recordedOrder(this.#record.dag);
    return this.#orderIdx;
  }

  #nodeRecord(i: number): NodeRunRecord {
    const r = this.#record;
    const s = r.status[i] as number;
    const node = r.dag.nodes[i];
    const first = r.firstStartMs[i] as number;
    const end = r.endMs[i] as number;
    const started = first > 0;
    const ended = end > 0;
    const origin = performance.timeOrigin;
    const error = r.errors.get(i);
    return {
      id: r.dag.ids[i] as string,
      status: STATUS_NAMES[s] as NodeStatus,
      attempts: r.attempts[i] as number,
      stage: node?.stage?.name ?? '',
      version: node?.stage?.version ?? '',
      startedAt: started ? origin + first : undefined,
      finishedAt: ended ? origin + end : undefined,
      durationSeconds: started && ended ? (end - first) / 1000 : undefined,
      wallTimeSeconds:
        ended && started
          ? (end - (r.attemptStartMs[i] as number)) / 1000
          : s === S_CACHED
            ? 0
            : undefined,
      cacheHit: s === S_CACHED,
      ...(s === S_SKIPPED
        ? { skipReason: r.notNeeded?.[i] === 1 ? 'not-needed' : 'upstream-failed' }
        : {}),
      ...(error === undefined ? {} : { error: serializeError(error) }),
    };
  }
}
