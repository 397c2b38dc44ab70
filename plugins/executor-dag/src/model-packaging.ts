import { type ModelPackager, type NodeSpec, PhysError, type StageResult } from '@phys/core';
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
 * skipped cached nodes, so a warm run lost its model packages. The user asked for the package, so
 * a packaging failure fails the node (`failed`), with the packager's error; the run's result is
 * assembled only once every package has settled.
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
      /** Called when the package cannot be written, with the error the node ends with. */
      readonly failed: (error: PhysError) => void;
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
          const failure = packagingError(node.id, error);
          run.failed(failure);
          return { nodeId: node.id, error: failure.toJSON() };
        },
      );
    this.#pending.set(i, task);
  }

  /** Every package of the run, in recorded order, once all are written or have failed. */
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

/**
 * The error a node whose package cannot be written ends with: the packager's own code (which
 * names the cause: `PHYS_PACKAGE_WRITE_FAILED` with the errno, `PHYS_STATE_UNSUPPORTED`, ...),
 * with the node named when the packager's message does not; `PHYS_PACKAGE_FAILED` for an error
 * without a code.
 */
function packagingError(nodeId: string, error: unknown): PhysError {
  if (PhysError.is(error)) {
    if (error.message.includes(`'${nodeId}'`)) return error;
    return new PhysError(
      error.code,
      `Cannot package the model of node '${nodeId}': ${error.message}`,
      {
        cause: error,
        retryable: error.retryable,
        details: { ...error.details, nodeId },
      },
    );
  }
  const errno = (error as { code?: unknown } | undefined)?.code;
  return new PhysError(
    'PHYS_PACKAGE_FAILED',
    `Cannot package the model of node '${nodeId}': ${error instanceof Error ? error.message : String(error)}${typeof errno === 'string' && !String(error).includes(errno) ? ` (${errno})` : ''}. The packager gave no error code; see its documentation.`,
    { cause: error, details: { nodeId, ...(typeof errno === 'string' ? { errno } : {}) } },
  );
}
