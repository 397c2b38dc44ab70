import {
  type Logger,
  type ModelPackager,
  type NodeSpec,
  type StageResult,
  serializeError,
} from '@phys/core';
import { type CompiledDag, recordedOrder } from './compile.js';
import type { ModelPackageRecord } from './run-result.js';

type Output = {
  readonly state: unknown;
  readonly metrics?: Readonly<Record<string, unknown>>;
  readonly artifacts?: Readonly<Record<string, unknown>>;
  readonly provenance?: Readonly<Record<string, unknown>>;
};

/**
 * Packages `modelArtifact` nodes of one run as they complete, cache hits included: the original
 * skipped cached nodes, so a warm run lost its model packages. A packaging failure is logged and
 * recorded; the node's own outcome stands.
 */
export class ModelPackaging {
  readonly #packager: ModelPackager;
  readonly #dag: CompiledDag;
  readonly #pending = new Map<number, Promise<ModelPackageRecord>>();
  #order: Int32Array | undefined;

  private constructor(packager: ModelPackager, dag: CompiledDag) {
    this.#packager = packager;
    this.#dag = dag;
  }

  /** Undefined when no node asks to be packaged, so that such runs pay nothing. */
  static create(packager: ModelPackager, dag: CompiledDag): ModelPackaging | undefined {
    return dag.nodes.some((n) => n.modelArtifact === true)
      ? new ModelPackaging(packager, dag)
      : undefined;
  }

  add(
    i: number,
    out: Output,
    cached: boolean,
    run: {
      readonly runId: string;
      readonly keys: readonly string[] | undefined;
      readonly logger: Logger;
    },
  ): void {
    const node = this.#dag.nodes[i] as NodeSpec;
    if (node.modelArtifact !== true) return;
    const keys = run.keys;
    const stage = node.stage;
    const task = this.#packager
      .package(node.id, out as StageResult, {
        stage: {
          name: stage.name,
          version: stage.version,
          label: stage.label,
          configHash: stage.configHash,
        },
        config: stage.config,
        ...(out.metrics === undefined ? {} : { metrics: out.metrics as Record<string, number> }),
        ...(out.provenance === undefined ? {} : { provenance: out.provenance }),
        ...(keys === undefined ? {} : { cacheKey: keys[i] as string }),
        lineage: this.#upstream(i).map((u) => ({
          nodeId: this.#dag.ids[u] as string,
          ...(keys === undefined ? {} : { cacheKey: keys[u] as string }),
        })),
        runId: run.runId,
        cached,
      })
      .then(
        (pkg): ModelPackageRecord => ({ nodeId: node.id, path: pkg.path }),
        (error: unknown): ModelPackageRecord => {
          run.logger.warn(`cannot package the model of node '${node.id}': ${String(error)}`);
          return { nodeId: node.id, error: serializeError(error) };
        },
      );
    this.#pending.set(i, task);
  }

  /** Every package of the run, in recorded order, once all are written. */
  async settle(): Promise<ModelPackageRecord[]> {
    const out: ModelPackageRecord[] = [];
    if (this.#pending.size === 0) return out;
    for (const i of this.#recorded()) {
      const task = this.#pending.get(i);
      if (task !== undefined) out.push(await task);
    }
    return out;
  }

  #recorded(): Int32Array {
    this.#order ??= recordedOrder(this.#dag);
    return this.#order;
  }

  /** Every node upstream of `i`, in recorded order. */
  #upstream(i: number): number[] {
    const { depStart, depList } = this.#dag;
    const seen = new Set<number>();
    const stack = [i];
    while (stack.length > 0) {
      const v = stack.pop() as number;
      for (let e = depStart[v] as number, end = depStart[v + 1] as number; e < end; e++) {
        const d = depList[e] as number;
        if (!seen.has(d)) {
          seen.add(d);
          stack.push(d);
        }
      }
    }
    return Array.from(this.#recorded()).filter((v) => seen.has(v));
  }
}
