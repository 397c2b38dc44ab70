import type { Isolation, NodeSpec } from '@phys/core';
import { Analyze, Collect, Integrate, Launch } from './stages.js';

/** What a launch-angle sweep varies and keeps fixed. */
export interface SweepOptions {
  /** Launch angles (degrees), one chain of nodes each. */
  readonly angles: readonly number[];
  readonly speed: number;
  readonly height?: number;
  readonly dt?: number;
  /** Drag constant k = ½·ρ·C_d·A (kg/m). */
  readonly k?: number;
  readonly mass?: number;
  /** Where the integration nodes run (the other nodes are trivial and stay inline). */
  readonly isolation?: Isolation;
}

/** Node id of one stage of the chain for `angleDeg`, e.g. `integrate-37.5`. */
export function nodeId(step: 'launch' | 'integrate' | 'analyze', angleDeg: number): string {
  return `${step}-${angleDeg}`;
}

/**
 * A DAG that fans out over launch angles (launch → integrate → analyze per angle, independent of
 * each other) and fans in to one `collect` node that finds the angle of longest range.
 */
export function sweepNodes(options: SweepOptions): NodeSpec[] {
  const nodes: NodeSpec[] = [];
  for (const angleDeg of options.angles) {
    nodes.push({
      id: nodeId('launch', angleDeg),
      stage: Launch({ speed: options.speed, angleDeg, height: options.height ?? 0 }),
    });
    nodes.push({
      id: nodeId('integrate', angleDeg),
      stage: Integrate({
        ...(options.dt === undefined ? {} : { dt: options.dt }),
        ...(options.k === undefined ? {} : { k: options.k }),
        ...(options.mass === undefined ? {} : { mass: options.mass }),
      }),
      deps: [nodeId('launch', angleDeg)],
      ...(options.isolation === undefined ? {} : { isolation: options.isolation }),
    });
    nodes.push({
      id: nodeId('analyze', angleDeg),
      stage: Analyze(),
      deps: [nodeId('integrate', angleDeg)],
    });
  }
  nodes.push({
    id: 'collect',
    stage: Collect(),
    deps: options.angles.map((a) => nodeId('analyze', a)),
  });
  return nodes;
}
