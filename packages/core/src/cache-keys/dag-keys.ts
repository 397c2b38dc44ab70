// DAG cache keys. A key names a unit of work, not a place in one graph: it chains on the keys of
// the node's dependencies (Merkle-style, as Snakemake, Turborepo and Dagster do), so a change
// anywhere upstream changes every key below it, while the node id stays out of the key so that
// identical work is shared across renamed nodes and sweep clones.

import { validateDag } from '../dag/validate-dag.js';
import { UsageError } from '../errors.js';
import type { NodeSpec } from '../node-spec.js';
import type { PipelineStage, StageDefinition } from '../stage.js';
import { hashState } from '../state/hash.js';

/**
 * Version of the key layout; part of every key. Changing how keys are derived must change it,
 * which invalidates every cached result on purpose.
 * @public
 */
export const DAG_KEY_FORMAT = 'phys-dag-key/1';

/**
 * Provenance field that carries a node's {@link DagKeyInputs}. Executors put each computed
 * result with its key inputs under this field, so a cache that keeps them (as `@phys/cache-disk`
 * does) lets `phys plan` explain why a node's key changed.
 * @public
 */
export const KEY_INPUTS_FIELD = 'cacheKeyInputs';

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
  const graph = validateDag(nodes, { order: true });
  const { depStart, depList } = graph;
  const order = graph.order as Int32Array;
  const n = nodes.length;
  const keyOf = new Array<string>(n);
  const result = new Map<string, NodeCacheKey>();
  // Nodes doing identical work (sweep clones, the layers of a grid) have identical inputs, so
  // their key is hashed once. The memo is a trie over (stage identity, dep keys); its keys are
  // string objects that already exist (a stage's identity is built once per stage object, dep
  // keys are earlier results), so each step is a Map lookup on a string with a cached hash.
  const identities = new Map<PipelineStage, MemoNode>();
  const byText = new Map<string, MemoNode>();
  for (let o = 0; o < n; o++) {
    const i = order[o] as number;
    const node = nodes[i] as NodeSpec;
    const stage = node.stage;
    let at = identities.get(stage);
    if (at === undefined) {
      const code = fingerprint ? (codeFingerprint(stage) ?? null) : null;
      // Equal stages built separately (same name, version, config and code) share one trie.
      const text = `${stage.name}\0${stage.version}\0${stage.configHash}\0${code}`;
      at = byText.get(text);
      if (at === undefined) {
        at = { code, found: undefined, next: undefined };
        byText.set(text, at);
      }
      identities.set(stage, at);
    }
    const from = depStart[i] as number;
    const to = depStart[i + 1] as number;
    let leaf = at;
    for (let e = from; e < to; e++) {
      const depKey = keyOf[depList[e] as number] as string;
      leaf.next ??= new Map();
      let step = leaf.next.get(depKey);
      if (step === undefined) {
        step = { code: at.code, found: undefined, next: undefined };
        leaf.next.set(depKey, step);
      }
      leaf = step;
    }
    let found = leaf.found;
    if (found === undefined) {
      const base = {
        formatVersion: DAG_KEY_FORMAT,
        stageName: stage.name,
        stageVersion: stage.version,
        configHash: stage.configHash,
        policyHash,
        codeFingerprint: at.code,
      };
      let inputs: DagKeyInputs;
      if (from === to) {
        inputs = { ...base, rootInputHash: initialStateHash };
      } else {
        const depKeys = new Array<string>(to - from);
        for (let e = from; e < to; e++) depKeys[e - from] = keyOf[depList[e] as number] as string;
        inputs = { ...base, depKeys };
      }
      found = { key: dagCacheKey(inputs), inputs };
      leaf.found = found;
    }
    keyOf[i] = found.key;
    result.set(node.id, {
      id: node.id,
      key: found.key,
      inputs: found.inputs,
      deps: node.deps ?? NO_DEPS,
    });
  }
  return result;
}

const NO_DEPS: readonly string[] = Object.freeze([]);

/** One step of the memo trie of {@link computeDagKeys}. */
interface MemoNode {
  readonly code: string | null;
  found: { readonly key: string; readonly inputs: DagKeyInputs } | undefined;
  next: Map<string, MemoNode> | undefined;
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
  | { readonly kind: 'damaged' }
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
    case 'damaged':
      return 'entry damaged (it failed verification and will be recomputed)';
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
