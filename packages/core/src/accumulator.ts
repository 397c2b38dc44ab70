import type {
  ArtifactData,
  ArtifactRecorder,
  ArtifactRef,
  ArtifactWriter,
  LazyArtifact,
} from './artifacts.js';
import { StageContractError } from './errors.js';
import type { ArtifactValue, StageResult } from './stage.js';

/** Arrays and typed arrays up to this many elements are kept inline when not recording. */
export const INLINE_ARRAY_LIMIT = 2048;
const PREVIEW_HEAD = 16;

/** A per-stage provenance record as it appears in run provenance. @public */
export type StageProvenance = Readonly<Record<string, unknown>> & { readonly stage: string };

/** Run-level provenance of a pipeline run. @public */
export interface RunProvenance {
  readonly stages: StageProvenance[];
  policyHash?: string;
}

/** Summary of a large array kept instead of the data when recording is off. @public */
export interface ArrayPreview {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly head: readonly (number | string)[];
}

/**
 * Merges per-stage results under dotted namespaces (`pipeline.stage.key`), checks that metrics
 * are finite scalars, and applies the artifact policy: small values inline, large arrays as
 * previews, lazy artifacts evaluated and everything persisted only when recording is on.
 * @public
 */
export class RunAccumulator {
  readonly metrics: Record<string, number> = {};
  readonly artifacts: Record<string, unknown> = {};
  readonly provenance: RunProvenance = { stages: [] };
  readonly #ns: readonly string[];
  readonly #recorder: ArtifactRecorder | undefined;

  constructor(
    options: { namespace?: readonly string[]; recorder?: ArtifactRecorder | undefined } = {},
  ) {
    this.#ns = (options.namespace ?? []).filter((s) => s !== '');
    this.#recorder = options.recorder;
  }

  get recording(): boolean {
    return this.#recorder !== undefined;
  }

  /** The namespaced key of `key` produced by stage `label`. */
  key(label: string, key: string): string {
    const prefix = label === '' ? this.#ns : [...this.#ns, label];
    return prefix.length === 0 ? key : `${prefix.join('.')}.${key}`;
  }

  /** An artifact writer for one stage, writing under this accumulator's namespace. */
  writer(label: string): ArtifactWriter {
    const recorder = this.#recorder;
    return {
      recording: recorder !== undefined,
      write: async (name: string, data: ArtifactData | LazyArtifact) => {
        if (recorder === undefined) return undefined;
        const key = this.key(label, name);
        const value = typeof data === 'function' ? await data() : data;
        const ref = await recorder.record(key, value);
        this.artifacts[key] = ref;
        return ref;
      },
    };
  }

  /** Checks and merges a stage result. Throws StageContractError for a non-scalar metric. */
  async consume(label: string, result: StageResult): Promise<void> {
    if (result.metrics !== undefined) {
      for (const [k, v] of Object.entries(result.metrics)) {
        this.metrics[this.key(label, k)] = coerceMetric(label, k, v);
      }
    }
    if (result.artifacts !== undefined) {
      for (const [k, v] of Object.entries(result.artifacts)) {
        this.artifacts[this.key(label, k)] = await this.#artifact(this.key(label, k), v);
      }
    }
    if (result.provenance !== undefined && Object.keys(result.provenance).length > 0) {
      this.provenance.stages.push({ ...result.provenance, stage: label });
    }
  }

  async #artifact(key: string, value: ArtifactValue): Promise<unknown> {
    if (value === null || typeof value === 'number' || typeof value === 'boolean') return value;
    if (isArtifactRef(value)) return value;
    if (this.#recorder === undefined) {
      if (typeof value === 'function') return { lazy: true, recorded: false };
      return inlineOrPreview(value);
    }
    const data = typeof value === 'function' ? await value() : value;
    const ref: ArtifactRef = await this.#recorder.record(key, data);
    return ref;
  }
}

function isArtifactRef(value: unknown): value is ArtifactRef {
  return (
    typeof value === 'object' &&
    value !== null &&
    !ArrayBuffer.isView(value) &&
    typeof (value as ArtifactRef).path === 'string' &&
    typeof (value as ArtifactRef).sha256 === 'string'
  );
}

function coerceMetric(label: string, key: string, value: unknown): number {
  let n: number | undefined;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'boolean') n = value ? 1 : 0;
  else if (typeof value === 'bigint') n = Number(value);
  if (n === undefined || !Number.isFinite(n)) {
    const shown =
      typeof value === 'object' && value !== null
        ? (value.constructor?.name ?? 'object')
        : String(value);
    throw new StageContractError(
      `Metric '${key}' of stage '${label}' must be a scalar finite number, got ${shown}. Put arrays and other data in artifacts instead.`,
      { details: { stage: label, metric: key } },
    );
  }
  return n;
}

/** The inline form of an artifact when recording is off. @public */
export function inlineOrPreview(value: unknown): unknown {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    const arr = value as unknown as ArrayLike<number | bigint> & { constructor: { name: string } };
    if (arr.length <= INLINE_ARRAY_LIMIT) return value;
    return preview(arr.constructor.name, arr);
  }
  if (Array.isArray(value)) {
    if (value.length <= INLINE_ARRAY_LIMIT) return value;
    return preview('Array', value);
  }
  return value;
}

function preview(dtype: string, arr: ArrayLike<unknown>): ArrayPreview {
  const head: (number | string)[] = [];
  for (let i = 0; i < Math.min(PREVIEW_HEAD, arr.length); i++) {
    const v = arr[i];
    head.push(typeof v === 'number' ? v : typeof v === 'bigint' ? v.toString() : JSON.stringify(v));
  }
  return { dtype, shape: [arr.length], head };
}
