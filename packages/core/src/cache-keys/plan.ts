import type { Cache } from '../contracts/cache.js';
import type { NodeSpec } from '../node-spec.js';
import { asPolicy, type PolicyLike } from '../policy.js';
import { hashState } from '../state/hash.js';
import {
  computeDagKeys,
  type DagKeyInputs,
  explainKeyChange,
  type KeyChangeReason,
  type NodeCacheKey,
} from './dag-keys.js';

/** The newest entry a node produced, with what its key was derived from. @public */
export interface LineageRecord {
  /** The key of that entry. */
  readonly key: string;
  /** When it was written. */
  readonly createdAt: Date;
  /** Its stage name, when recorded. */
  readonly stage?: string;
  /** What its key was derived from, when recorded. */
  readonly keyInputs?: DagKeyInputs;
}

/**
 * A cache that can name the newest entry each node wrote (as `DiskCache` of `@phys/cache-disk`
 * does); {@link planDag} uses it to explain why a node will run.
 * @public
 */
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
  /**
   * Read every entry the cache holds for the DAG, as a run would, instead of only asking whether
   * it exists (default false): an entry that fails the cache's checks (a checksum, a torn write)
   * then plans as `damaged`, to be recomputed, rather than as cached. Costs a read of each
   * entry, and the cache treats a damaged one as a run would (a disk cache moves it aside).
   */
  readonly verify?: boolean;
}

/** One node of a {@link DagPlan}. @public */
export interface PlannedNode {
  /** The node id. */
  readonly id: string;
  /** The node's cache key. */
  readonly key: string;
  /** The cache holds an entry under `key`: the node would be restored, not run. */
  readonly cached: boolean;
  /**
   * The run needs the result of `key`: an output of the run (a node nothing depends on, or one
   * marked `modelArtifact`) has it, or a node that runs depends on a node that has it. A node
   * neither cached nor needed is not run (`phys plan` says "not needed"); a node that is
   * cached is restored whether it is needed or not.
   */
  readonly needed: boolean;
  /** Why the node will run (empty when cached or not needed). */
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
  /** Nodes neither cached nor needed: a run neither restores nor runs them. */
  readonly notNeeded: number;
}

function hasLineage(cache: Cache): cache is Cache & LineageSource {
  return typeof (cache as Partial<LineageSource>).lineage === 'function';
}

/**
 * Which nodes of a DAG are cached, which will run and why, and which are not needed (what
 * `phys plan` prints). A node that is not cached runs only if the run needs its result (see
 * {@link PlannedNode.needed}): the outputs of the run need theirs, and a node that runs needs
 * its deps'. A node's reasons compare its key inputs with those recorded by the newest entry
 * that node wrote, when the cache keeps that record ({@link LineageSource}); otherwise a miss
 * reads `new`. Nodes that share a key (identical work) share the explanation of whichever of
 * them left a record. Nothing runs and nothing is written: the cache is asked `has` once per
 * distinct key (and, with `verify`, reads each entry it holds).
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
  const present = new Map<string, boolean>();
  const damaged = new Set<string>();
  for (const node of keys.values()) {
    if (present.has(node.key)) continue;
    let held = await cache.has(node.key);
    if (held && options.verify === true) {
      held = (await cache.get(node.key)) !== undefined;
      if (!held) damaged.add(node.key);
    }
    present.set(node.key, held);
  }
  let lineage: ReadonlyMap<string, LineageRecord> = new Map();
  if ([...present.values()].some((cached) => !cached) && hasLineage(cache)) {
    lineage = await cache.lineage();
  }
  // The record a node left, else one left by another node with the same key (identical work,
  // so the same inputs changed; only the dep ids differ, and those are this node's own).
  const recordOf = new Map<string, LineageRecord>();
  for (const node of keys.values()) {
    const record = lineage.get(node.id);
    if (record !== undefined && present.get(node.key) === false && !recordOf.has(node.key)) {
      recordOf.set(node.key, record);
    }
  }
  const needed = neededKeys(nodes, keys, present);
  const planned: PlannedNode[] = [];
  let cached = 0;
  let notNeeded = 0;
  for (const node of keys.values()) {
    const isNeeded = needed.has(node.key);
    if (present.get(node.key) === true) {
      cached++;
      planned.push({ ...node, cached: true, needed: isNeeded, reasons: [] });
      continue;
    }
    if (!isNeeded) {
      notNeeded++;
      planned.push({ ...node, cached: false, needed: false, reasons: [] });
      continue;
    }
    const previous = lineage.get(node.id) ?? recordOf.get(node.key);
    let reasons: KeyChangeReason[];
    if (damaged.has(node.key)) reasons = [{ kind: 'damaged' }];
    else if (previous === undefined) reasons = [{ kind: 'new' }];
    else if (previous.key === node.key) reasons = [{ kind: 'missing' }];
    else if (previous.keyInputs === undefined) reasons = [{ kind: 'new' }];
    else reasons = explainKeyChange(previous.keyInputs, node.inputs, node.deps);
    planned.push({ ...node, cached: false, needed: true, reasons });
  }
  return { nodes: planned, cached, toRun: planned.length - cached - notNeeded, notNeeded };
}

/**
 * The keys a run needs, as the executor decides them: the keys of its outputs (nodes nothing
 * depends on, and nodes marked `modelArtifact`), and the dep keys of every needed key the cache
 * does not hold (a node that runs needs its deps). Decided by key, not by node: nodes that share
 * a key do the same work, which a run computes once.
 */
function neededKeys(
  nodes: readonly NodeSpec[],
  keys: ReadonlyMap<string, NodeCacheKey>,
  present: ReadonlyMap<string, boolean>,
): Set<string> {
  const hasDependents = new Set<string>();
  for (const node of keys.values()) for (const dep of node.deps) hasDependents.add(dep);
  const stack: string[] = [];
  for (const spec of nodes) {
    if (!hasDependents.has(spec.id) || spec.modelArtifact === true) {
      stack.push((keys.get(spec.id) as NodeCacheKey).key);
    }
  }
  const depKeys = new Map<string, readonly string[]>();
  for (const node of keys.values()) depKeys.set(node.key, node.inputs.depKeys ?? []);
  const needed = new Set<string>();
  for (let key = stack.pop(); key !== undefined; key = stack.pop()) {
    if (needed.has(key)) continue;
    needed.add(key);
    if (present.get(key) === true) continue;
    for (const dep of depKeys.get(key) ?? []) if (!needed.has(dep)) stack.push(dep);
  }
  return needed;
}
