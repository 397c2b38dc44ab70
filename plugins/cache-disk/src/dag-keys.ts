// DAG cache keys. A key names a unit of work, not a place in one graph: it chains on the keys of
// the node's dependencies (Merkle-style, as Snakemake, Turborepo and Dagster do), so a change
// anywhere upstream changes every key below it, while the node id stays out of the key so that
// identical work is shared across renamed nodes and sweep clones.

import {
  DagValidationError,
  hashState,
  type NodeSpec,
  type PipelineStage,
  type StageDefinition,
  UsageError,
} from '@phys/core';

/**
 * Version of the key layout; part of every key. Changing how keys are derived must change it,
 * which invalidates every cached result on purpose.
 * @public
 */
export const DAG_KEY_FORMAT = 'phys-dag-key/1';

/**
 * Everything a node's cache key is derived from. Stored beside each cache entry, so that
 * `phys plan` can say why a node will run ({@link explainKeyChange}).
 * @public
 */
export interface DagKeyInputs {
  /** {@link DAG_KEY_FORMAT} when built by {@link computeDagKeys}. */
  readonly formatVersion: string;
  /** The stage's registered name. */
  readonly stageName: string;
  /** The stage's declared version: the explicit lever for changes no fingerprint can see. */
  readonly stageVersion: string;
  /** The stage's `configHash` (covers name, version and the validated config). */
  readonly configHash: string;
  /** Hash of the run's effective policy; null when the run has none. */
  readonly policyHash: string | null;
  /** For a root node: `hashState(initialState)`. Exactly one of this and `depKeys`. */
  readonly rootInputHash?: string;
  /** For a node with dependencies: their keys, in `deps` order. */
  readonly depKeys?: readonly string[];
  /** Hash of the stage's `process` source ({@link codeFingerprint}); null when not fingerprinted. */
  readonly codeFingerprint?: string | null;
}

const fingerprints = new WeakMap<object, string>();

/**
 * Fingerprint of a stage's code: the SHA-256 of its definition's `source` (the text of the
 * `process` function given to `defineStage`), or undefined for a stage not made by `defineStage`.
 *
 * @remarks
 * It sees only the text of `process` itself. Helpers it calls from other functions or files,
 * imported libraries, native programs a command stage runs, and data files are invisible to it:
 * bump the stage's `version` when any of those change. The text is what the JavaScript engine
 * holds, so a different transpiler or bundler output for the same code also changes it.
 * @public
 */
export function codeFingerprint(stage: PipelineStage | StageDefinition): string | undefined {
  const definition = (typeof stage === 'function' ? stage : stage.definition) as
    | StageDefinition
    | undefined;
  if (definition === undefined || typeof definition.source !== 'string') return undefined;
  let fingerprint = fingerprints.get(definition);
  if (fingerprint === undefined) {
    fingerprint = hashState(definition.source);
    fingerprints.set(definition, fingerprint);
  }
  return fingerprint;
}

/**
 * The cache key (64 hex digits) of one node: SHA-256 over a canonical, type-tagged encoding of
 * its {@link DagKeyInputs}. Throws `PHYS_USAGE` unless exactly one of `rootInputHash` and a
 * non-empty `depKeys` is given.
 * @public
 */
export function dagCacheKey(inputs: DagKeyInputs): string {
  const { rootInputHash, depKeys } = inputs;
  const isRoot = rootInputHash !== undefined;
  if (isRoot === (depKeys !== undefined) || (depKeys !== undefined && depKeys.length === 0)) {
    throw new UsageError(
      `dagCacheKey(): give exactly one of rootInputHash (a node without deps) and a non-empty depKeys (the keys of its deps, in order) for stage '${inputs.stageName}'.`,
    );
  }
  // An array, not an object: its order is the encoding, so nothing needs sorting.
  return hashState([
    inputs.formatVersion,
    inputs.stageName,
    inputs.stageVersion,
    inputs.configHash,
    inputs.policyHash,
    isRoot ? 'root' : 'deps',
    isRoot ? rootInputHash : depKeys,
    inputs.codeFingerprint ?? null,
  ]);
}

/** A node's key, the inputs it was derived from, and its deps. @public */
export interface NodeCacheKey {
  /** The node id (not part of the key). */
  readonly id: string;
  /** 64 hex digits. */
  readonly key: string;
  /** What `key` was derived from (store it with the entry to explain later changes). */
  readonly inputs: DagKeyInputs;
  /** The node's deps, in order (`inputs.depKeys[i]` is the key of `deps[i]`). */
  readonly deps: readonly string[];
}

/** Options of {@link computeDagKeys}. @public */
export interface ComputeDagKeysOptions {
  /** `hashState(initialState)`: the input of every root node. */
  readonly initialStateHash: string;
  /** Hash of the run's effective policy (`PolicyBag.hash()`); omit or null for none. */
  readonly policyHash?: string | null | undefined;
  /** Include each stage's {@link codeFingerprint} in its key (default true). */
  readonly fingerprintCode?: boolean;
}

/**
 * Keys of every node of a DAG, derived before anything runs, in O(nodes + edges). The result
 * is in topological order (ties keep the order of `nodes`). Invalid graphs (duplicate ids,
 * missing or repeated deps, cycles) throw a `DagValidationError` that names the nodes.
 * @public
 */
export function computeDagKeys(
  nodes: readonly NodeSpec[],
  options: ComputeDagKeysOptions,
): Map<string, NodeCacheKey> {
  const { initialStateHash } = options;
  if (typeof initialStateHash !== 'string' || initialStateHash === '') {
    throw new UsageError(
      'computeDagKeys(): initialStateHash is required; pass hashState(initialState).',
    );
  }
  const policyHash = options.policyHash ?? null;
  const fingerprint = options.fingerprintCode !== false;
  const order = topologicalOrder(nodes);
  const keys = new Map<string, NodeCacheKey>();
  for (const i of order) {
    const node = nodes[i] as NodeSpec;
    const deps = node.deps ?? [];
    const stage = node.stage;
    const base = {
      formatVersion: DAG_KEY_FORMAT,
      stageName: stage.name,
      stageVersion: stage.version,
      configHash: stage.configHash,
      policyHash,
      codeFingerprint: fingerprint ? (codeFingerprint(stage) ?? null) : null,
    };
    const inputs: DagKeyInputs =
      deps.length === 0
        ? { ...base, rootInputHash: initialStateHash }
        : { ...base, depKeys: deps.map((d) => (keys.get(d) as NodeCacheKey).key) };
    keys.set(node.id, { id: node.id, key: dagCacheKey(inputs), inputs, deps: [...deps] });
  }
  return keys;
}

/** Indices of `nodes` in topological order (Kahn's algorithm, FIFO so ties keep input order). */
function topologicalOrder(nodes: readonly NodeSpec[]): number[] {
  const n = nodes.length;
  const index = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const node = nodes[i] as NodeSpec;
    if (index.has(node.id)) {
      throw new DagValidationError(
        `Node id '${node.id}' is used twice. Give every node a unique id.`,
        { details: { node: node.id } },
      );
    }
    index.set(node.id, i);
  }
  const pending = new Int32Array(n);
  const dependents: number[][] = Array.from({ length: n }, () => []);
  for (let i = 0; i < n; i++) {
    const node = nodes[i] as NodeSpec;
    const deps = node.deps ?? [];
    const seen = new Set<string>();
    for (const dep of deps) {
      const j = index.get(dep);
      if (j === undefined) {
        throw new DagValidationError(
          `Node '${node.id}' depends on '${dep}', which is not a node of this DAG. Add it or remove the dependency.`,
          { details: { node: node.id, missing: dep } },
        );
      }
      if (seen.has(dep)) {
        throw new DagValidationError(
          `Node '${node.id}' lists dependency '${dep}' twice. List each dependency once.`,
          { details: { node: node.id, dep } },
        );
      }
      seen.add(dep);
      (dependents[j] as number[]).push(i);
    }
    pending[i] = deps.length;
  }
  const order: number[] = [];
  for (let i = 0; i < n; i++) if (pending[i] === 0) order.push(i);
  for (let head = 0; head < order.length; head++) {
    for (const k of dependents[order[head] as number] as number[]) {
      if (--(pending[k] as number) === 0) order.push(k);
    }
  }
  if (order.length < n) {
    const cycle = findCycle(nodes, index, pending);
    throw new DagValidationError(
      `The DAG has a cycle: ${cycle.join(' -> ')}. Remove one of these dependencies.`,
      { details: { cycle } },
    );
  }
  return order;
}

/** One cycle among the nodes Kahn's algorithm could not order (those with pending deps). */
function findCycle(
  nodes: readonly NodeSpec[],
  index: ReadonlyMap<string, number>,
  pending: Int32Array,
): string[] {
  const start = pending.findIndex((p) => p > 0);
  const step = new Map<number, number>();
  let at = start;
  // Every unordered node has an unordered dep, so following those deps must revisit a node.
  while (!step.has(at)) {
    const deps = (nodes[at] as NodeSpec).deps ?? [];
    const next = deps.map((d) => index.get(d) as number).find((j) => (pending[j] as number) > 0);
    step.set(at, next as number);
    at = next as number;
  }
  const cycle: string[] = [];
  let i = at;
  do {
    cycle.push((nodes[i] as NodeSpec).id);
    i = step.get(i) as number;
  } while (i !== at);
  cycle.push((nodes[at] as NodeSpec).id);
  return cycle.reverse();
}

/**
 * Why a node's key differs from the one it had before. `new`: no earlier entry of this node is
 * known; `missing`: the lineage names this very key, but its entry is gone (evicted, deleted
 * or found corrupt).
 * @public
 */
export type KeyChangeReason =
  | { readonly kind: 'new' }
  | { readonly kind: 'missing' }
  | { readonly kind: 'format'; readonly from: string; readonly to: string }
  | { readonly kind: 'stage'; readonly from: string; readonly to: string }
  | { readonly kind: 'version'; readonly from: string; readonly to: string }
  | { readonly kind: 'code' }
  | { readonly kind: 'config' }
  | { readonly kind: 'policy' }
  | { readonly kind: 'input' }
  | { readonly kind: 'deps' }
  | { readonly kind: 'upstream'; readonly deps: readonly string[] };

/**
 * The reasons two key inputs of the same node differ (empty when they derive the same key).
 * `depIds` names the deps of `next` for `upstream` reasons (default: their indices).
 * @public
 */
export function explainKeyChange(
  previous: DagKeyInputs | undefined,
  next: DagKeyInputs,
  depIds?: readonly string[],
): KeyChangeReason[] {
  if (previous === undefined) return [{ kind: 'new' }];
  const reasons: KeyChangeReason[] = [];
  if (previous.formatVersion !== next.formatVersion) {
    reasons.push({ kind: 'format', from: previous.formatVersion, to: next.formatVersion });
  }
  if (previous.stageName !== next.stageName) {
    reasons.push({ kind: 'stage', from: previous.stageName, to: next.stageName });
  }
  if (previous.stageVersion !== next.stageVersion) {
    reasons.push({ kind: 'version', from: previous.stageVersion, to: next.stageVersion });
  }
  if ((previous.codeFingerprint ?? null) !== (next.codeFingerprint ?? null)) {
    reasons.push({ kind: 'code' });
  }
  // The config hash covers name and version too: only report it when those did not explain it.
  if (
    previous.configHash !== next.configHash &&
    previous.stageName === next.stageName &&
    previous.stageVersion === next.stageVersion
  ) {
    reasons.push({ kind: 'config' });
  }
  if ((previous.policyHash ?? null) !== (next.policyHash ?? null)) {
    reasons.push({ kind: 'policy' });
  }
  const before = previous.depKeys ?? [];
  const after = next.depKeys ?? [];
  if (previous.rootInputHash !== undefined && next.rootInputHash !== undefined) {
    if (previous.rootInputHash !== next.rootInputHash) reasons.push({ kind: 'input' });
  } else if (before.length !== after.length) {
    reasons.push({ kind: 'deps' });
  } else {
    const changed: string[] = [];
    for (let i = 0; i < after.length; i++) {
      if (before[i] !== after[i]) changed.push(depIds?.[i] ?? String(i));
    }
    if (changed.length > 0) reasons.push({ kind: 'upstream', deps: changed });
  }
  return reasons;
}

/**
 * One line for people: `new key`, `changed config, changed upstream (a, b)`, ...
 * @public
 */
export function formatKeyChange(reasons: readonly KeyChangeReason[]): string {
  if (reasons.length === 0) return 'unchanged';
  return reasons.map(describeReason).join(', ');
}

function describeReason(r: KeyChangeReason): string {
  switch (r.kind) {
    case 'new':
      return 'new key (no earlier result of this node in the cache)';
    case 'missing':
      return 'entry missing (evicted, deleted or corrupt)';
    case 'format':
      return `cache key format changed (${r.from} -> ${r.to})`;
    case 'stage':
      return `stage changed (${r.from} -> ${r.to})`;
    case 'version':
      return `changed version (${r.from} -> ${r.to})`;
    case 'code':
      return 'changed code';
    case 'config':
      return 'changed config';
    case 'policy':
      return 'changed policy';
    case 'input':
      return 'changed initial state';
    case 'deps':
      return 'changed dependencies';
    case 'upstream':
      return `changed upstream (${r.deps.join(', ')})`;
  }
}
