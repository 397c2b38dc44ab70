import { createHash } from 'node:crypto';
import { z } from 'zod';

/** Version tag of the package layout; the first field of every manifest. @public */
export const MODEL_PACKAGE_FORMAT = 'phys-model-package/1' as const;

const fileSchema = z.object({
  /** Path inside the package, `/`-separated. */
  path: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().min(0),
  /** `state` (state.bin), `model` (a model file under files/), or `card` (README.md). */
  role: z.enum(['state', 'model', 'card']),
  mediaType: z.string(),
});

const lineageSchema = z.object({ nodeId: z.string(), cacheKey: z.string().optional() });

/** zod schema of `manifest.json`; `load` and `verify` parse manifests with it. @public */
export const modelManifestSchema = z.object({
  format: z.literal(MODEL_PACKAGE_FORMAT),
  name: z.string().min(1),
  version: z.string().min(1),
  /** SHA-256 of what defines the model: stage, config, metrics, lineage, values and model files. */
  contentHash: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: z.string(),
  node: z.object({
    id: z.string(),
    runId: z.string().optional(),
    /** The result came from the cache rather than from a run of the stage. */
    cached: z.boolean(),
  }),
  stage: z
    .object({
      name: z.string(),
      version: z.string(),
      label: z.string().optional(),
      configHash: z.string().optional(),
    })
    .nullable(),
  config: z.unknown(),
  metrics: z.record(z.string(), z.union([z.number(), z.string()])),
  provenance: z.object({
    cacheKey: z.string().optional(),
    lineage: z.array(lineageSchema),
    /** What the stage and the executor recorded (wall time, attempts, ...). */
    run: z.record(z.string(), z.unknown()),
  }),
  environment: z.object({
    node: z.string(),
    platform: z.string(),
    arch: z.string(),
    packages: z.record(z.string(), z.string()),
    git: z.object({ commit: z.string(), dirty: z.boolean() }).optional(),
  }),
  /** Scalar artifacts (numbers, booleans, null), kept in the manifest rather than as files. */
  values: z.record(z.string(), z.union([z.number(), z.string(), z.boolean(), z.null()])),
  files: z.array(fileSchema),
  /** `sha256-<hex>` of the canonical JSON of this manifest without this field. */
  integrity: z.string().regex(/^sha256-[0-9a-f]{64}$/),
});

/** The typed content of `manifest.json`. @public */
export type ModelManifest = z.output<typeof modelManifestSchema>;

/** One file of a package as the manifest lists it. @public */
export type ManifestFile = ModelManifest['files'][number];

/**
 * JSON text with object keys sorted at every depth and no whitespace: the same value always
 * gives the same text, so hashes over it are stable.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.keys(value)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Converts a value to what it reads as after a JSON round trip, so that hashes taken before
 * writing equal hashes taken after reading: bigints and non-finite numbers become strings,
 * typed arrays arrays, Maps objects, Sets arrays, Dates ISO strings; undefined and functions
 * are dropped.
 */
export function jsonValue(value: unknown, depth = 0): unknown {
  if (depth > 64) return '[too deep]';
  switch (typeof value) {
    case 'bigint':
      return String(value);
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'string':
    case 'boolean':
      return value;
    case 'object': {
      if (value === null) return null;
      if (value instanceof Date) return value.toISOString();
      if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
        return Array.from(value as unknown as ArrayLike<number | bigint>, (v) => jsonValue(v));
      }
      if (Array.isArray(value)) return value.map((v) => jsonValue(v, depth + 1) ?? null);
      if (value instanceof Set) return [...value].map((v) => jsonValue(v, depth + 1) ?? null);
      const entries: [string, unknown][] =
        value instanceof Map
          ? [...value].map(([k, v]) => [String(k), v])
          : Object.entries(value as Record<string, unknown>);
      const out: Record<string, unknown> = {};
      for (const [k, v] of entries) {
        const j = jsonValue(v, depth + 1);
        if (j !== undefined) out[k] = j;
      }
      return out;
    }
    default:
      return undefined;
  }
}

/** The manifest's integrity field for its other fields. */
export function integrityOf(manifest: Readonly<Record<string, unknown>>): string {
  const { integrity: _ignored, ...rest } = manifest;
  return `sha256-${sha256Hex(canonicalJson(rest))}`;
}

/** What the content hash covers: everything that defines the model, nothing about when or where. */
export function contentHashOf(manifest: Omit<ModelManifest, 'contentHash' | 'integrity'>): string {
  return sha256Hex(
    canonicalJson({
      format: manifest.format,
      stage: manifest.stage,
      config: manifest.config,
      metrics: manifest.metrics,
      cacheKey: manifest.provenance.cacheKey,
      lineage: manifest.provenance.lineage,
      values: manifest.values,
      files: manifest.files
        .filter((f) => f.role !== 'card')
        .map((f) => ({ path: f.path, sha256: f.sha256, bytes: f.bytes })),
    }),
  );
}

/** How `manifest.json` is written: two-space JSON and a final newline. */
export function renderManifest(manifest: ModelManifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}
