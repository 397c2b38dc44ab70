import { asPolicy, hashState, type NodeSpec, type PolicyLike } from '@phys/core';
import { type CompiledDag, compileDag, recordedOrder } from './compile.js';

/** Version of the cache-key layout; part of every key. @public */
export const DAG_CACHE_KEY_FORMAT = 'phys-dag-key/1';

/**
 * Keys of every node of a compiled DAG, derived before anything runs:
 * `H(format, stage name, stage version, config hash, policy hash, root input hash | keys of deps
 * in deps order)`. Keys chain on upstream keys, so a change anywhere upstream changes every key
 * below it, and the node id is not part of the key (identical work is shared across renames).
 */
export function computeCacheKeys(
  dag: CompiledDag,
  initialState: unknown,
  policyHash: string | undefined,
): string[] {
  const keys = new Array<string>(dag.n);
  let rootHash: string | undefined;
  for (const i of recordedOrder(dag)) {
    const stage = dag.nodes[i]?.stage;
    const start = dag.depStart[i] as number;
    const end = dag.depStart[i + 1] as number;
    let input: string | string[];
    if (start === end) {
      rootHash ??= hashState(initialState);
      input = rootHash;
    } else {
      input = [];
      for (let e = start; e < end; e++) input.push(keys[dag.depList[e] as number] as string);
    }
    keys[i] = hashState({
      format: DAG_CACHE_KEY_FORMAT,
      stage: stage?.name ?? '',
      version: stage?.version ?? '',
      configHash: stage?.configHash ?? '',
      policyHash: policyHash ?? null,
      input,
    });
  }
  return keys;
}

/**
 * The cache key of every node, by node id, without running anything (what `phys plan` shows).
 * Validates the DAG like a run would.
 * @public
 */
export function dagCacheKeys(
  nodes: readonly NodeSpec[],
  options: { readonly initialState?: unknown; readonly policy?: PolicyLike } = {},
): Map<string, string> {
  const dag = compileDag(nodes, { defaultIsolation: 'inline' });
  const keys = computeCacheKeys(dag, options.initialState, asPolicy(options.policy)?.hash());
  return new Map(dag.ids.map((id, i) => [id, keys[i] as string]));
}
