import {
  asPolicy,
  computeDagKeys,
  type DagKeyInputs,
  hashState,
  type NodeCacheKey,
  type NodeSpec,
  type PolicyLike,
} from '@phys/core';
import { type CompiledDag, compileDag } from './compile.js';

/** Every node's key and key inputs, by node index. */
export interface RunCacheKeys {
  readonly keys: string[];
  readonly inputs: DagKeyInputs[];
}

/**
 * Keys of every node of a compiled DAG, derived before anything runs by core's
 * `computeDagKeys` (the one key function every cache and executor shares), by node index.
 */
export function runCacheKeys(
  dag: CompiledDag,
  initialState: unknown,
  policyHash: string | undefined,
  fingerprintCode = true,
): RunCacheKeys {
  const byId = computeDagKeys(dag.nodes, {
    initialStateHash: hashState(initialState),
    policyHash: policyHash ?? null,
    fingerprintCode,
  });
  const keys = new Array<string>(dag.n);
  const inputs = new Array<DagKeyInputs>(dag.n);
  for (let i = 0; i < dag.n; i++) {
    const node = byId.get(dag.ids[i] as string) as NodeCacheKey;
    keys[i] = node.key;
    inputs[i] = node.inputs;
  }
  return { keys, inputs };
}

/**
 * The cache key of every node, by node id, without running anything: the keys a
 * {@link DagExecutor} run with the same initial state and policy looks up. Validates the DAG like
 * a run would.
 * @public
 */
export function dagCacheKeys(
  nodes: readonly NodeSpec[],
  options: {
    readonly initialState?: unknown;
    readonly policy?: PolicyLike;
    readonly fingerprintCode?: boolean;
  } = {},
): Map<string, string> {
  const dag = compileDag(nodes, { defaultIsolation: 'inline' });
  const { keys } = runCacheKeys(
    dag,
    options.initialState,
    asPolicy(options.policy)?.hash(),
    options.fingerprintCode ?? true,
  );
  return new Map(dag.ids.map((id, i) => [id, keys[i] as string]));
}
