import type { ResourceRequirements, ResourceSpec } from './resources.js';
import type { RetryPolicy } from './retry.js';
import type { PipelineStage } from './stage.js';

/** Retry policy of one node: the one {@link RetryPolicy} of core. @public */
export type NodeRetryPolicy = RetryPolicy;

/** Isolation of a node's execution. @public */
export type Isolation = 'inline' | 'thread' | 'process';

/**
 * One node of a DAG: a configured stage, its dependencies (order matters: it is the order of
 * `DagState` inputs), resources, retry and timeout.
 * @public
 */
export interface NodeSpec {
  readonly id: string;
  readonly stage: PipelineStage;
  readonly deps?: readonly string[];
  readonly resources?: ResourceRequirements | ResourceSpec;
  readonly retry?: NodeRetryPolicy;
  /** Per-attempt time limit in seconds; exceeding it ends the node as TIMEOUT. */
  readonly timeoutSeconds?: number;
  /** Overrides the stage's preferred isolation. */
  readonly isolation?: Isolation;
  readonly tags?: Readonly<Record<string, string>>;
  /** Package the node's result as a model (through the `PackagerToken` packager) once it completes or is restored from the cache. */
  readonly modelArtifact?: boolean;
  /**
   * The name under which each dep's output reaches the stage in its `DagState`, by dep id; a dep
   * not listed appears under its own id. Every key must be one of `deps`, and no two deps may end
   * up with one name. A sweep gives each copy of a node the declared ids of its parents here
   * (`{ 'mesh[n=64]': 'mesh' }`), so the stage reads `state.get('mesh')` in every copy. Names do
   * not enter cache keys, which never depend on ids.
   */
  readonly inputNames?: Readonly<Record<string, string>>;
  /**
   * The parameter values this node is a copy for, such as a sweep point (`{ dt: 0.1 }`); the stage
   * reads them as `ctx.point`. Plain data: it travels to worker threads, processes and cluster
   * jobs. It identifies the copy and is not part of the cache key (the values it names are,
   * through the swept configs), so a result restored from the cache may have been computed for
   * another point of equal work.
   */
  readonly point?: Readonly<Record<string, unknown>>;
}
