// `phys sweep <pipeline> --set node.param=v1,v2`: loaded by the CLI only when the command runs.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import {
  type CliCommandContext,
  type CliCommandHandler,
  type ExecuteResult,
  ExecutionStatus,
  isFailed,
  type NodeStatus,
  type SerializedPhysError,
  UsageError,
} from '@phys/core';
import { planSweep, type SweepPlan } from '../expand-sweep.js';
import type { SweepValue } from '../render-value.js';
import {
  type ResultsJson,
  type ResultsTable,
  rowCells,
  tableColumns,
  toCsv,
  toJson,
} from '../results-table.js';
import type { ParamSpace, SweepOptions, SweepSpec } from '../spec.js';
import { sweepResults } from '../sweep-results.js';

/** Options of `phys sweep`, as the CLI parses them from {@link sweepCommand}'s data. */
interface SweepCommandOptions {
  readonly set: readonly string[];
  readonly mode: 'grid' | 'zip' | 'random' | 'lhs';
  readonly samples?: string;
  readonly seed?: string;
  readonly out?: string;
  readonly progress: 'auto' | 'live' | 'plain' | 'none';
}

/** What `phys sweep --json` prints. */
interface SweepReport {
  readonly pipeline: string;
  readonly runId: string;
  readonly status: ExecutionStatus;
  readonly mode: SweepPlan['mode'];
  readonly durationSeconds: number;
  readonly points: number;
  readonly results: ResultsJson;
  readonly counts: Readonly<Partial<Record<NodeStatus, number>>>;
  readonly nodes: ExecuteResult['nodes'];
  readonly out?: string;
  readonly error?: SerializedPhysError;
  readonly exitCode: number;
}

// Rows the human table shows before pointing at --out and --json.
const MAX_ROWS = 50;
const MAX_FAILED_NODES = 10;

/** `--set key=v1,v2,...` before node ids are known: the key and the values as written. */
interface RawSet {
  readonly key: string;
  readonly values: readonly string[];
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** Splits on commas outside brackets, braces and double quotes, so `[1,2],[3,4]` is two values. */
function splitValues(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '\\') i++;
      else if (ch === '"') quoted = false;
    } else if (ch === '"') quoted = true;
    else if (ch === '[' || ch === '{') depth++;
    else if (ch === ']' || ch === '}') depth--;
    else if (ch === ',' && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out;
}

function parseSets(pairs: readonly string[]): RawSet[] {
  if (pairs.length === 0) {
    throw new UsageError(
      'phys sweep needs at least one --set node.param=v1,v2,... (e.g. --set train.lr=0.01,0.1).',
    );
  }
  return pairs.map((pair) => {
    const eq = pair.indexOf('=');
    if (eq <= 0 || eq === pair.length - 1) {
      throw new UsageError(
        `--set expects node.param=v1,v2,..., got '${pair}'. Example: --set train.lr=0.01,0.1.`,
      );
    }
    return { key: pair.slice(0, eq), values: splitValues(pair.slice(eq + 1)) };
  });
}

/** A value as JSON when it parses as JSON, else the plain string (`adam` means "adam"). */
function parseValue(raw: string): SweepValue {
  try {
    return JSON.parse(raw) as SweepValue;
  } catch {
    return raw;
  }
}

/** A value that starts as a range does: a number, then `..`. */
const RANGE_START = /^-?[\d.]*\d[\d.]*(?:e[-+]?\d+)?\.\./i;
const RANGE = /^(-?[\d.]+(?:e[-+]?\d+)?)\.\.(-?[\d.]+(?:e[-+]?\d+)?)((?::[^:]*)*)$/i;
const RANGE_FORM =
  'Write lo..hi[:steps][:log][:int], e.g. 1..2:5 or 1e-4..1:5:log (a value meant as text is written as JSON:';

/** A `--set` value that is not a usable range: what is wrong with it and how to write one. */
function badRange(key: string, text: string, problem: string): UsageError {
  return new UsageError(
    `--set ${key}: '${text}' is not a valid range: ${problem}. ${RANGE_FORM} '${JSON.stringify(text)}').`,
    { details: { key, value: text } },
  );
}

/**
 * One `--set` value list as a parameter space: a list, or one range `lo..hi` with optional
 * `:log`, `:int` and `:<steps>` (a grid needs steps: `1.5..3:16`). A value that starts like a
 * range but is not one is a usage error, not a string for the stage to reject.
 */
function spaceOf(key: string, values: readonly string[]): ParamSpace {
  const texts = values.map((v) => v.trim());
  const ranged = texts.filter((t) => RANGE_START.test(t));
  if (ranged.length === 0) return values.map(parseValue);
  const text = ranged[0] as string;
  if (texts.length > 1) {
    throw new UsageError(
      `--set ${key}: '${values.join(',')}' mixes a range (${text}) with other values. Give either a range alone (lo..hi[:steps][:log][:int]) or a list of values (v1,v2,...).`,
      { details: { key, value: values.join(',') } },
    );
  }
  const range = RANGE.exec(text);
  if (range === null) return badRangeBounds(key, text);
  const min = Number(range[1]);
  const max = Number(range[2]);
  if (!Number.isFinite(min) || !Number.isFinite(max)) return badRangeBounds(key, text);
  let steps: number | undefined;
  let log = false;
  let integer = false;
  for (const flag of (range[3] ?? '').split(':').slice(1)) {
    const word = flag.trim().toLowerCase();
    if (word === 'log') log = true;
    else if (word === 'int') integer = true;
    else if (word !== '' && Number.isFinite(Number(word))) {
      const n = Number(word);
      if (!Number.isInteger(n) || n < 1) {
        throw badRange(
          key,
          text,
          `the number of steps (how many values from lo to hi) must be a whole number >= 1, got '${flag}'`,
        );
      }
      if (steps !== undefined) {
        throw badRange(
          key,
          text,
          `it gives the number of steps twice (${steps} and ${n}); give it once`,
        );
      }
      steps = n;
    } else {
      throw badRange(
        key,
        text,
        `unknown option ':${flag}' after lo..hi; the options are :<steps> (a whole number >= 1), :log and :int`,
      );
    }
  }
  return {
    min,
    max,
    ...(log ? { log: true } : {}),
    ...(integer ? { integer: true } : {}),
    ...(steps === undefined ? {} : { steps }),
  };
}

function badRangeBounds(key: string, text: string): never {
  throw badRange(key, text, 'lo and hi must both be numbers, as in 1..2 or -1.5..2e3');
}

/** Groups `--set` entries into specs, splitting each key at the longest node id it starts with. */
function specsFor(sets: readonly RawSet[], nodeIds: readonly string[]): SweepSpec[] {
  const byNode = new Map<string, Record<string, ParamSpace>>();
  for (const { key, values } of sets) {
    const node = nodeIds
      .filter((id) => key.startsWith(`${id}.`) && key.length > id.length + 1)
      .sort((a, b) => b.length - a.length)[0];
    if (node === undefined) {
      throw new UsageError(
        `--set ${key}: no node of the pipeline matches; write node.param with one of the node ids: ${nodeIds.join(', ')}.`,
      );
    }
    const params = byNode.get(node) ?? {};
    params[key.slice(node.length + 1)] = spaceOf(key, values);
    byNode.set(node, params);
  }
  return [...byNode].map(([node, params]) => ({ node, params }));
}

/** The sweep plugin's `maxPoints`, as configured (the plugin's parsed options carry the default). */
function maxPointsOf(ctx: CliCommandContext): number | undefined {
  const plugin = ctx.runtime.plugins.find((p) => p.name === 'sweep');
  const value = (plugin?.options as { maxPoints?: unknown } | undefined)?.maxPoints;
  return typeof value === 'number' ? value : undefined;
}

function sweepOptions(options: SweepCommandOptions, maxPoints: number | undefined): SweepOptions {
  const limit = maxPoints === undefined ? {} : { maxPoints };
  if (options.mode === 'grid' || options.mode === 'zip') {
    if (options.samples !== undefined || options.seed !== undefined) {
      throw new UsageError(
        `--samples and --seed belong to --mode random or lhs, not ${options.mode}.`,
      );
    }
    return { mode: options.mode, ...limit };
  }
  const samples = Number(options.samples);
  if (options.samples === undefined || !Number.isInteger(samples) || samples < 1) {
    throw new UsageError(
      `--mode ${options.mode} needs --samples N (a whole number >= 1)${options.samples === undefined ? '' : `, got '${options.samples}'`}.`,
    );
  }
  if (options.seed === undefined) {
    throw new UsageError(
      `--mode ${options.mode} needs --seed S, so that the same points can be drawn again.`,
    );
  }
  const numeric = Number(options.seed);
  return {
    mode: options.mode,
    samples,
    seed: options.seed.trim() !== '' && Number.isFinite(numeric) ? numeric : options.seed,
    ...limit,
  };
}

/** Runs a DAG pipeline once per point and prints (or writes) the results table. */
const sweep: CliCommandHandler = async (ctx) => {
  const [name] = ctx.args as [string];
  const options = ctx.options as unknown as SweepCommandOptions;
  const sets = parseSets(options.set);
  const modeOptions = sweepOptions(options, maxPointsOf(ctx));
  const declaration = ctx.runtime.pipeline(name);
  if (declaration.kind !== 'dag') {
    throw new UsageError(
      `phys sweep runs DAG pipelines, and '${name}' is sequential. Declare it with kind: 'dag' and nodes, or use phys run with --set for a single policy value.`,
    );
  }
  const plan = planSweep(
    declaration.nodes,
    specsFor(
      sets,
      declaration.nodes.map((n) => n.id),
    ),
    modeOptions,
  );
  const run = await ctx.runDag({
    pipeline: name,
    nodes: plan.nodes,
    initialState: declaration.initialState,
    ...(declaration.policy === undefined ? {} : { policy: declaration.policy }),
    progress: options.progress,
    title: `phys sweep ${name} (${plural(plan.points.length, 'point')})`,
  });
  const { result } = run;
  const results = sweepResults(plan, result.metrics);
  let out: string | undefined;
  if (options.out !== undefined) {
    out = resolve(ctx.cwd, options.out);
    await mkdir(dirname(out), { recursive: true });
    const text = /\.json$/i.test(out)
      ? `${JSON.stringify(toJson(results), null, 2)}\n`
      : toCsv(results);
    await writeFile(out, text);
  }
  const report: SweepReport = {
    pipeline: name,
    runId: run.runId,
    status: result.status,
    mode: plan.mode,
    durationSeconds: result.durationSeconds,
    points: plan.points.length,
    results: toJson(results),
    counts: run.counts,
    nodes: result.nodes,
    ...(out === undefined ? {} : { out }),
    ...(result.status === ExecutionStatus.COMPLETED
      ? {}
      : { error: (result as { error?: SerializedPhysError }).error }),
    exitCode: run.exitCode,
  };
  if (ctx.json) ctx.out(JSON.stringify(report, null, 2));
  else printSweep(ctx, report, plan, results);
  return report.exitCode;
};

export default sweep;

function printSweep(
  ctx: CliCommandContext,
  report: SweepReport,
  plan: SweepPlan,
  results: ResultsTable,
): void {
  const { format } = ctx;
  const ok = report.status === ExecutionStatus.COMPLETED;
  ctx.out(
    `${ok ? '✓' : '✗'} sweep ${report.pipeline}: ${report.status} in ${format.duration(report.durationSeconds)} (${plan.mode}, ${plural(report.points, 'point')}, ${plural(Object.keys(report.nodes).length, 'node')})`,
  );
  ctx.out(`  run ${report.runId}`);
  ctx.out(`  nodes: ${format.counts(report.counts)}`);
  const failed = Object.entries(report.nodes).filter(
    ([, n]) => n.error !== undefined && isFailed(n.status),
  );
  if (failed.length > 0) {
    ctx.err();
    ctx.err(`failed nodes (${failed.length}):`);
    for (const [id, node] of failed.slice(0, MAX_FAILED_NODES)) {
      ctx.err(`  ${id} ${node.status}: ${node.error?.code} ${node.error?.message}`);
    }
    if (failed.length > MAX_FAILED_NODES) {
      ctx.err(`  ... and ${failed.length - MAX_FAILED_NODES} more (see --json)`);
    }
  }
  ctx.out();
  const header = tableColumns(results);
  const rows = results.rows.slice(0, MAX_ROWS).map((row) => {
    const cells = rowCells(results, row);
    // Metrics are shown to 6 significant digits here; --out and --json keep every digit.
    return cells.map((cell, i) => {
      if (i <= results.params.length) return cell;
      const value = row.metrics[results.metrics[i - 1 - results.params.length] as string];
      return value === null || value === undefined ? '-' : format.number(value);
    });
  });
  const align = header.map((_, i): 'left' | 'right' =>
    i <= results.params.length ? 'left' : 'right',
  );
  for (const line of format.table([header, ...rows], align)) ctx.out(`  ${line}`);
  if (results.rows.length > MAX_ROWS) {
    ctx.out(`  ... and ${results.rows.length - MAX_ROWS} more points (see --out or --json)`);
  }
  if (report.out !== undefined) {
    ctx.out();
    ctx.out(`  results written to ${report.out}`);
  }
}
