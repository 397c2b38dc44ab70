import { DagState } from '@phys/core';

/** A recorded artifact as a run's outputs carry it. @public */
export interface ArtifactReference {
  readonly kind: 'artifact';
  /** Where the recorder wrote it. */
  readonly path: string;
  readonly bytes: number;
  /** Hex SHA-256 of its bytes. */
  readonly sha256: string;
  readonly mediaType: string;
}

function isArtifactRef(value: object): value is Omit<ArtifactReference, 'kind'> {
  const v = value as Record<string, unknown>;
  return (
    typeof v.path === 'string' &&
    typeof v.bytes === 'number' &&
    typeof v.sha256 === 'string' &&
    typeof v.mediaType === 'string'
  );
}

/**
 * A plain JSON copy of a run's result value, complete (no previews): typed arrays become arrays,
 * Maps objects, Sets arrays, bigints and non-finite numbers strings, Dates ISO strings, recorded
 * artifacts `{ kind: 'artifact', path, bytes, sha256, mediaType }`, errors `{ name, message }`;
 * functions (lazy artifacts that were not recorded) and `undefined` are left out, cycles become
 * `"[cycle]"`.
 * @public
 */
export function toJsonSafe(value: unknown, seen: Set<object> = new Set()): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object') return undefined; // functions, symbols, undefined
  if (seen.has(value)) return '[cycle]';
  seen.add(value);
  try {
    if (value instanceof Date) return value.toISOString();
    if (ArrayBuffer.isView(value)) {
      if (value instanceof DataView) return { bytes: value.byteLength };
      return Array.from(value as unknown as ArrayLike<number | bigint>, (v) => toJsonSafe(v, seen));
    }
    if (value instanceof ArrayBuffer) return { bytes: value.byteLength };
    if (Array.isArray(value)) return value.map((v) => toJsonSafe(v, seen) ?? null);
    if (DagState.is(value)) {
      const inputs: Record<string, unknown> = {};
      for (const [k, v] of value.inputs) inputs[k] = toJsonSafe(v, seen);
      return { inputs };
    }
    if (value instanceof Map) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of value) {
        const converted = toJsonSafe(v, seen);
        if (converted !== undefined) out[String(k)] = converted;
      }
      return out;
    }
    if (value instanceof Set) return [...value].map((v) => toJsonSafe(v, seen) ?? null);
    if (value instanceof Error) return { name: value.name, message: value.message };
    if (isArtifactRef(value)) {
      return {
        kind: 'artifact',
        path: value.path,
        bytes: value.bytes,
        sha256: value.sha256,
        mediaType: value.mediaType,
      };
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const converted = toJsonSafe(v, seen);
      if (converted !== undefined) out[k] = converted;
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

/** {@link toJsonSafe} of a run's outputs: an object (a value that is not one as `{ value }`). */
export function outputsOf(value: unknown): Record<string, unknown> {
  const safe = toJsonSafe(value);
  if (safe === undefined || safe === null) return {};
  if (typeof safe === 'object' && !Array.isArray(safe)) return safe as Record<string, unknown>;
  return { value: safe };
}
