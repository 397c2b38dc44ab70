import { ResourceError } from './errors.js';

/**
 * What a node asks for, as written by users: cpu `2` or `"500m"`, memory `"4Gi"` / `"512Mi"` /
 * `"2G"` or bytes, gpu count, mpi ranks, wall time `"02:00:00"` / `"1-00:00:00"` / `"90m"` or seconds.
 * @public
 */
export interface ResourceSpec {
  readonly cpu?: number | string;
  readonly memory?: number | string;
  readonly gpu?: number;
  readonly mpiRanks?: number;
  readonly wallTime?: number | string;
  /** Free-form labels for schedulers (partition hints, constraints). */
  readonly tags?: Readonly<Record<string, string>>;
}

const MEMORY_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  B: 1,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  // Accepted because the legacy dict form used them (`memory: "4GB"`); same decimal units as K/M/G/T.
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
};

/**
 * Parsed, validated resource requirements of a node. Parse once, read many times.
 * @public
 */
export class ResourceRequirements {
  /** CPU cores; fractional for millicores (`"500m"` → 0.5). */
  readonly cpu: number;
  /** Memory in bytes, or undefined when not stated. */
  readonly memoryBytes: number | undefined;
  readonly gpu: number;
  readonly mpiRanks: number;
  /** Wall-time limit in seconds, or undefined when not stated. */
  readonly wallTimeSeconds: number | undefined;
  readonly tags: Readonly<Record<string, string>>;

  constructor(spec: ResourceSpec = {}) {
    const known = new Set(['cpu', 'memory', 'gpu', 'mpiRanks', 'wallTime', 'tags']);
    const unknown = Object.keys(spec).filter((k) => !known.has(k));
    if (unknown.length > 0) {
      throw new ResourceError(
        `Unknown resource key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}; use cpu, memory, gpu, mpiRanks, wallTime or tags.`,
      );
    }
    this.cpu = spec.cpu === undefined ? 1 : parseCpu(spec.cpu);
    this.memoryBytes = spec.memory === undefined ? undefined : parseMemory(spec.memory);
    this.gpu = spec.gpu === undefined ? 0 : count('gpu', spec.gpu, 0);
    this.mpiRanks = spec.mpiRanks === undefined ? 1 : count('mpiRanks', spec.mpiRanks, 1);
    this.wallTimeSeconds = spec.wallTime === undefined ? undefined : parseWallTime(spec.wallTime);
    this.tags = Object.freeze({ ...(spec.tags ?? {}) });
    Object.freeze(this);
  }

  /** CPU slots this node occupies: every mpi rank takes `cpu` cores. */
  get cpuSlots(): number {
    return this.cpu * this.mpiRanks;
  }

  /** True when `value` is a ResourceRequirements (also from another copy of `@phys/core`). */
  static is(value: unknown): value is ResourceRequirements {
    return (
      typeof value === 'object' &&
      value !== null &&
      (value as Record<symbol, unknown>)[RESOURCES] === true
    );
  }

  toJSON(): ResourceSpec {
    return {
      cpu: this.cpu,
      ...(this.memoryBytes === undefined ? {} : { memory: this.memoryBytes }),
      gpu: this.gpu,
      mpiRanks: this.mpiRanks,
      ...(this.wallTimeSeconds === undefined ? {} : { wallTime: this.wallTimeSeconds }),
      ...(Object.keys(this.tags).length === 0 ? {} : { tags: this.tags }),
    };
  }
}
const RESOURCES = Symbol.for('@phys/core:ResourceRequirements');
Object.defineProperty(ResourceRequirements.prototype, RESOURCES, { value: true });

/** Alias kept for the v2 API name. @public */
export type NodeResources = ResourceRequirements;

/** Builds {@link ResourceRequirements} from a spec. @public */
export function resources(spec: ResourceSpec = {}): ResourceRequirements {
  return new ResourceRequirements(spec);
}

/** Default requirements: one cpu, nothing else. @public */
export const DEFAULT_RESOURCES: ResourceRequirements = new ResourceRequirements();

let warnedPlainObject = false;

/**
 * Accepts a {@link ResourceRequirements}, or (deprecated) a plain object — including the
 * old `{ memory_gb, mpi_ranks }` keys — which is converted with a one-time DeprecationWarning.
 * @public
 */
export function normalizeResources(
  value: ResourceRequirements | ResourceSpec | Readonly<Record<string, unknown>> | undefined,
): ResourceRequirements {
  if (value === undefined) return DEFAULT_RESOURCES;
  if (ResourceRequirements.is(value)) return value;
  if (typeof value !== 'object' || value === null) {
    throw new ResourceError(
      `Resources must be an object like { cpu: 2, memory: '4Gi' }, got ${typeof value}.`,
    );
  }
  if (!warnedPlainObject) {
    warnedPlainObject = true;
    process.emitWarning(
      'Plain-object resources are deprecated and will be removed in 1.0; wrap them with resources({ ... }) from @phys/core.',
      { type: 'DeprecationWarning', code: 'PHYS_DEP_PLAIN_RESOURCES' },
    );
  }
  const raw = { ...(value as Record<string, unknown>) };
  if ('memory_gb' in raw) {
    const gb = raw.memory_gb;
    delete raw.memory_gb;
    if (gb !== undefined && gb !== null) raw.memory = `${String(gb)}G`;
  }
  if ('mpi_ranks' in raw) {
    raw.mpiRanks = raw.mpi_ranks;
    delete raw.mpi_ranks;
  }
  if ('wall_time' in raw) {
    raw.wallTime = raw.wall_time;
    delete raw.wall_time;
  }
  if (typeof raw.cpu === 'string' && /^\d+$/.test(raw.cpu.trim())) raw.cpu = Number(raw.cpu);
  return new ResourceRequirements(raw as ResourceSpec);
}

/** Test hook: lets the one-time deprecation warning fire again. @internal */
export function resetResourceDeprecationWarning(): void {
  warnedPlainObject = false;
}

/** Parses a CPU amount: `2`, `0.5`, `"2"`, `"500m"`. @public */
export function parseCpu(value: number | string): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value > 0) return value;
  } else {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(m?)\s*$/.exec(value);
    if (m) {
      const n = Number(m[1]) / (m[2] === 'm' ? 1000 : 1);
      if (n > 0) return n;
    }
  }
  throw new ResourceError(
    `Invalid cpu ${JSON.stringify(value)}: use a positive number of cores (2, 0.5) or millicores ("500m").`,
  );
}

/** Parses memory to bytes: `"4Gi"`, `"512Mi"`, `"2G"` (= `"2GB"`), `"1024"` or a number of bytes. @public */
export function parseMemory(value: number | string): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value > 0) return Math.round(value);
  } else {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]i|[KMGT]B?|B)?\s*$/.exec(value);
    const unit = MEMORY_UNITS[m?.[2] ?? ''];
    if (m && unit !== undefined) {
      const bytes = Math.round(Number(m[1]) * unit);
      if (bytes > 0) return bytes;
    }
  }
  throw new ResourceError(
    `Invalid memory ${JSON.stringify(value)}: use a positive size such as "512Mi", "4Gi" (binary), "2G" / "2GB" (decimal) or a number of bytes.`,
  );
}

/**
 * Parses a wall time to seconds: seconds as a number, `"MM:SS"`, `"HH:MM:SS"`,
 * `"D-HH"`, `"D-HH:MM"`, `"D-HH:MM:SS"` (as Slurm reads them), or `"90s"`, `"30m"`, `"2h"`, `"1d"`.
 * @public
 */
export function parseWallTime(value: number | string): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value > 0) return value;
  } else {
    const text = value.trim();
    const unit = /^(\d+(?:\.\d+)?)\s*([smhd])$/.exec(text);
    if (unit) {
      const scale = { s: 1, m: 60, h: 3600, d: 86400 }[unit[2] as 's' | 'm' | 'h' | 'd'];
      const seconds = Number(unit[1]) * scale;
      if (seconds > 0) return seconds;
    }
    const seconds = clockSeconds(text);
    if (seconds !== undefined && seconds > 0) return seconds;
  }
  throw new ResourceError(
    `Invalid wall time ${JSON.stringify(value)}: use seconds, "MM:SS", "HH:MM:SS", "D-HH:MM:SS" or "90s" / "30m" / "2h" / "1d".`,
  );
}

// Slurm's clock forms. The leading field may exceed its range ("90:00" is 90 minutes); the
// fields after it may not ("1:90:00" is a typo, not 2.5 hours).
function clockSeconds(text: string): number | undefined {
  const withDays = /^(\d+)-(\d+)(?::(\d{2}))?(?::(\d{2}))?$/.exec(text);
  if (withDays) {
    const [, d, h, m = '0', s = '0'] = withDays;
    if (Number(h) >= 24 || Number(m) >= 60 || Number(s) >= 60) return undefined;
    return Number(d) * 86400 + Number(h) * 3600 + Number(m) * 60 + Number(s);
  }
  const clock = /^(\d+):(\d{2})(?::(\d{2}))?$/.exec(text);
  if (!clock) return undefined;
  const [, first, second, third] = clock;
  if (third === undefined) {
    if (Number(second) >= 60) return undefined;
    return Number(first) * 60 + Number(second);
  }
  if (Number(second) >= 60 || Number(third) >= 60) return undefined;
  return Number(first) * 3600 + Number(second) * 60 + Number(third);
}

function count(name: string, value: number, min: number): number {
  if (Number.isInteger(value) && value >= min) return value;
  throw new ResourceError(`Invalid ${name} ${JSON.stringify(value)}: use a whole number ≥ ${min}.`);
}
