import type { ResourceRequirements } from '@phys/core';

/**
 * `HH:MM:SS` for a walltime in seconds, rounded up to whole seconds (PBS counts hours past
 * 99, e.g. `120:00:00`).
 * @public
 */
export function formatWalltime(seconds: number): string {
  const total = Math.max(1, Math.ceil(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}

/** Seconds of a PBS duration: `HH:MM:SS`, `MM:SS` or plain seconds. @public */
export function parseWalltime(text: string): number | undefined {
  const parts = text.trim().split(':');
  if (parts.length > 3 || parts.some((p) => !/^\d+(\.\d+)?$/.test(p))) return undefined;
  return parts.reduce((acc, p) => acc * 60 + Number(p), 0);
}

const UNITS = [
  ['tb', 2 ** 40],
  ['gb', 2 ** 30],
  ['mb', 2 ** 20],
  ['kb', 2 ** 10],
] as const;

/** A PBS size (`mem=`) for a byte count: the largest unit that divides it, else kb rounded up. @public */
export function formatMemory(bytes: number): string {
  for (const [unit, size] of UNITS) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${Math.ceil(bytes / 1024)}kb`;
}

/** Bytes of a PBS size (`8gb`, `512mb`, `1024kb`, `100b`, `2w` words of 8 bytes). @public */
export function parsePbsSize(text: string): number | undefined {
  const match = /^(\d+)(b|kb|mb|gb|tb|pb|w|kw|mw|gw|tw)?$/i.exec(text.trim());
  if (match === null) return undefined;
  const unit = (match[2] ?? 'b').toLowerCase();
  const word = unit.endsWith('w');
  const scale = { b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 }[
    (unit === 'b' || unit === 'w' ? 'b' : unit[0]) as 'b' | 'k' | 'm' | 'g' | 't' | 'p'
  ];
  return Number(match[1]) * scale * (word ? 8 : 1);
}

/**
 * The `select` statement of one chunk holding the whole task: `ncpus` covers every MPI rank
 * (`cpu × mpiRanks`, whole cores), `mpiprocs` the ranks, then `mem` and `ngpus` when asked for.
 * @public
 */
export function selectStatement(req: ResourceRequirements): string {
  const parts = [`1:ncpus=${Math.max(1, Math.ceil(req.cpu * req.mpiRanks))}`];
  if (req.mpiRanks > 1) parts.push(`mpiprocs=${req.mpiRanks}`);
  if (req.memoryBytes !== undefined) parts.push(`mem=${formatMemory(req.memoryBytes)}`);
  if (req.gpu > 0) parts.push(`ngpus=${req.gpu}`);
  return parts.join(':');
}

/** Everything that makes up one job script's `#PBS` header. @public */
export interface DirectiveInput {
  /** Job name (`-N`). */
  readonly name: string;
  /** Resources of the task (every task of an array asks for the same). */
  readonly req: ResourceRequirements;
  /** `-l walltime`; undefined leaves the queue's default. */
  readonly walltimeSeconds: number | undefined;
  /** `-q`. */
  readonly queue?: string | undefined;
  /** `-A`. */
  readonly account?: string | undefined;
  /** `-P`. */
  readonly project?: string | undefined;
  /** Subjob count of a job array (`-J 0-(n-1)`), undefined for a single job. */
  readonly arraySize?: number | undefined;
  /** Job ids it runs after (`-W depend=afterok:...`). */
  readonly afterOk?: readonly string[] | undefined;
  /** `-o` (`^array_index^` is replaced by PBS for subjobs). */
  readonly outputPath: string;
  /** `-e`; absent: stderr joins stdout in `outputPath` (`-j oe`). */
  readonly errorPath?: string | undefined;
  /** Further directives, written as given. */
  readonly extra?: readonly string[] | undefined;
}

/** The `#PBS` lines of a job script, in the order qsub reads them. @public */
export function pbsDirectives(input: DirectiveInput): string[] {
  const lines = [`-N ${input.name}`, `-l select=${selectStatement(input.req)}`];
  if (input.walltimeSeconds !== undefined) {
    lines.push(`-l walltime=${formatWalltime(input.walltimeSeconds)}`);
  }
  if (input.queue !== undefined) lines.push(`-q ${input.queue}`);
  if (input.account !== undefined) lines.push(`-A ${input.account}`);
  if (input.project !== undefined) lines.push(`-P ${input.project}`);
  if (input.arraySize !== undefined) lines.push(`-J 0-${input.arraySize - 1}`);
  if (input.afterOk !== undefined && input.afterOk.length > 0) {
    lines.push(`-W depend=afterok:${input.afterOk.join(':')}`);
  }
  lines.push(`-o ${input.outputPath}`);
  lines.push(input.errorPath === undefined ? '-j oe' : `-e ${input.errorPath}`);
  for (const extra of input.extra ?? []) lines.push(extra);
  return lines.map((line) => `#PBS ${line}`);
}

/** A job name PBS accepts: starts with a letter, safe characters only, at most 63 long. @public */
export function jobName(prefix: string, label: string): string {
  const cleaned = label.replace(/[^A-Za-z0-9_.-]/g, '_');
  return `${prefix}-${cleaned}`.slice(0, 63);
}

/** Quotes a value for a POSIX shell. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
