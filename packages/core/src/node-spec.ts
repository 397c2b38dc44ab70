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
}
