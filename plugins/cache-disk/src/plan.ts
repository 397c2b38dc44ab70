import { asPolicy, type Cache, hashState, type NodeSpec, type PolicyLike } from '@phys/core';
import {
  computeDagKeys,
  type DagKeyInputs,
  explainKeyChange,
  type KeyChangeReason,
} from './dag-keys.js';
import type { LineageRecord } from './disk-cache.js';

/** A cache that can name the newest entry each node wrote (as {@link DiskCache} does). @public */
export interface LineageSource {
  /** The newest entry each node id wrote, by node id. */
  lineage(): Promise<ReadonlyMap<string, LineageRecord>>;
}

/** Options of {@link planDag}. @public */
export interface PlanDagOptions {
  /** The run's initial state (hashed), or give `initialStateHash`. */
  readonly initialState?: unknown;
  /** `hashState(initialState)`, when already known. */
  readonly initialStateHash?: string;
  /** The run's effective policy (hashed), or give `policyHash`. */
  readonly policy?: PolicyLike;
  /** `PolicyBag.hash()` of the effective policy; null for none. */
  readonly policyHash?: string | null;
  /** Include stage code fingerprints in keys (default true; must match the executor's). */
  readonly fingerprintCode?: boolean;
}

/** One node of a {@link DagPlan}. @public */
export interface PlannedNode {
  /** The node id. */
  readonly id: string;
  /** The node's cache key. */
  readonly key: string;
  /** The cache holds an entry under `key`: the node would be restored, not run. */
  readonly cached: boolean;
  /** Why the node will run (empty when cached). */
  readonly reasons: readonly KeyChangeReason[];
  /** What the key was derived from. */
  readonly inputs: DagKeyInputs;
  /** The node's deps, in order. */
  readonly deps: readonly string[];
}

/** What a run would do, decided without running anything. @public */
export interface DagPlan {
  /** In topological order. */
  readonly nodes: readonly PlannedNode[];
  /** Nodes whose entry the cache holds. */
  readonly cached: number;
  /** Nodes that would run. */
  readonly toRun: number;
}

function hasLineage(cache: Cache): cache is Cache & LineageSource {
  return typeof (cache as Partial<LineageSource>).lineage === 'function';
}

/**
 * Which nodes of a DAG are cached and which will run, and why (what `phys plan` prints). A
 * node's reasons compare its key inputs with those recorded by the newest entry that node wrote,
 * when the cache keeps that record ({@link LineageSource}); otherwise a miss reads `new`.
 * @public
 */
export async function planDag(
  nodes: readonly NodeSpec[],
  cache: Cache,
  options: PlanDagOptions = {},
): Promise<DagPlan> {
  const initialStateHash = options.initialStateHash ?? hashState(options.initialState);
  const policyHash =
    options.policyHash !== undefined
      ? options.policyHash
      : (asPolicy(options.policy)?.hash() ?? null);
  const keys = computeDagKeys(nodes, {
    initialStateHash,
    policyHash,
    ...(options.fingerprintCode === undefined ? {} : { fingerprintCode: options.fingerprintCode }),
  });
  let lineage: ReadonlyMap<string, LineageRecord> | undefined;
  const planned: PlannedNode[] = [];
  let cached = 0;
  for (const node of keys.values()) {
    if (await cache.has(node.key)) {
      cached++;
      planned.push({ ...node, cached: true, reasons: [] });
      continue;
    }
    lineage ??= hasLineage(cache) ? await cache.lineage() : new Map();
    const previous = lineage.get(node.id);
    let reasons: KeyChangeReason[];
    if (previous === undefined) reasons = [{ kind: 'new' }];
    else if (previous.key === node.key) reasons = [{ kind: 'missing' }];
    else if (previous.keyInputs === undefined) reasons = [{ kind: 'new' }];
    else reasons = explainKeyChange(previous.keyInputs, node.inputs, node.deps);
    planned.push({ ...node, cached: false, reasons });
  }
  return { nodes: planned, cached, toRun: planned.length - cached };
}
