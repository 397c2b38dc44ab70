import {
  ConfigError,
  type ConfigIssue,
  DagValidationError,
  formatIssues,
  type NodeSpec,
  PhysError,
  type PipelineStage,
  type StageDefinition,
} from '@phys/core';
import { collectResults } from './collect-results.js';
import { isPlainObject, renderPoint, type SweepValue } from './render-value.js';
import {
  checkSpace,
  countPoints,
  gridPoints,
  type Space,
  sampledPoints,
  sizeOf,
  zipPoints,
} from './samplers.js';
import { declaresKey, unknownKey } from './schema-keys.js';
import {
  DEFAULT_MAX_POINTS,
  MAX_POINTS_CEILING,
  type SweepCollect,
  type SweepMode,
  type SweepOptions,
  type SweepSpec,
} from './spec.js';

/** One point of a sweep. @public */
export interface SweepPoint {
  /** Position in the sweep, from 0, in generation order. */
  readonly index: number;
  /** The point's parameters rendered as in ids: `bs=32,lr=0.01`. */
  readonly label: string;
  /**
   * Values by column name: the parameter name, or `node.param` when several nodes are swept.
   */
  readonly params: Readonly<Record<string, SweepValue>>;
  /** Values by swept node id, then parameter name. */
  readonly assignments: Readonly<Record<string, Readonly<Record<string, SweepValue>>>>;
  /**
   * The id of this point's copy of every duplicated node, by original id. Points of a sweep over
   * several nodes share the copies of nodes that depend on only some of the swept nodes.
   */
  readonly nodes: Readonly<Record<string, string>>;
}

/** Everything {@link planSweep} worked out. @public */
export interface SweepPlan {
  /** The expanded DAG: untouched nodes as they were, duplicated ones replaced by their copies. */
  readonly nodes: readonly NodeSpec[];
  /** Every point, in generation order (duplicates removed). */
  readonly points: readonly SweepPoint[];
  /** How the points were made. */
  readonly mode: SweepMode;
  /** Parameter column names in table order (sorted). */
  readonly params: readonly string[];
  /** Ids of the swept nodes, sorted. */
  readonly swept: readonly string[];
  /** Original ids of every duplicated node (swept or downstream of one), in input order. */
  readonly expanded: readonly string[];
  /** Id of the collect node, when one was asked for. */
  readonly collect: string | undefined;
  /** Original ids of the nodes feeding the collect node. */
  readonly collectFrom: readonly string[];
}

/** One parameter of one swept node. */
interface Dim {
  readonly node: string;
  readonly param: string;
  readonly space: Space;
}

/** Nodes may hold any stage; a sweep needs to rebuild swept ones from their definition. */
function definitionOf(stage: PipelineStage | undefined): StageDefinition | undefined {
  const def = (stage as { definition?: unknown } | undefined)?.definition;
  return typeof def === 'function' ? (def as StageDefinition) : undefined;
}

function invalid(issues: readonly ConfigIssue[], what: string): ConfigError {
  return new ConfigError(
    'PHYS_SWEEP_INVALID',
    `${what} (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${formatIssues(issues)}`,
    { issues, details: { issues } },
  );
}

/**
 * Expands a sweep over a DAG and returns the new nodes: every swept node and everything
 * downstream of it is duplicated once per point, with ids like `train[bs=32,lr=0.01]` and edges
 * rewired to the matching copies. A copy's stage still sees its parents under their declared ids
 * (the copy's `inputNames`) and gets its parameters as `ctx.point` (the copy's `point`). See
 * {@link planSweep} for the points and their copies.
 * @public
 */
export function expandSweep(
  nodes: readonly NodeSpec[],
  spec: SweepSpec | readonly SweepSpec[],
  options: SweepOptions = {},
): NodeSpec[] {
  return [...planSweep(nodes, spec, options).nodes];
}

/**
 * Works out a sweep without running anything: checks the specs (unknown nodes and parameters,
 * empty or malformed spaces), counts the points and refuses more than `maxPoints`
 * (`PHYS_SWEEP_TOO_LARGE`, before anything is expanded), makes the points one at a time,
 * validates every point's config against its
 * stage's schema (all bad points reported together in one `ConfigError`, code
 * `PHYS_SWEEP_INVALID`, with paths like `train[lr=-1].lr`), and builds the expanded DAG.
 * @public
 */
export function planSweep(
  nodes: readonly NodeSpec[],
  spec: SweepSpec | readonly SweepSpec[],
  options: SweepOptions = {},
): SweepPlan {
  const mode: SweepMode = options.mode ?? 'grid';
  if (!['grid', 'zip', 'random', 'lhs'].includes(mode)) {
    throw new PhysError(
      'PHYS_SWEEP_INVALID',
      `Unknown sweep mode ${JSON.stringify(mode)}; use 'grid', 'zip', 'random' or 'lhs'.`,
    );
  }
  const specs: readonly SweepSpec[] = Array.isArray(spec) ? spec : [spec as SweepSpec];
  const byId = indexNodes(nodes);
  const maxPoints = options.maxPoints ?? DEFAULT_MAX_POINTS;
  const dims = checkSpecs(specs, byId, mode, options, maxPoints);
  const sweptIds = [...new Set(dims.map((d) => d.node))].sort();
  const several = sweptIds.length > 1;
  const samples = (options as { samples?: number }).samples ?? 0;
  const count = countPoints(
    dims.map((d) => sizeOf(d.space)),
    mode,
    samples,
  );
  if (count > BigInt(maxPoints)) throw tooLarge(count, maxPoints, mode, dims);

  // Points: one value per dimension, made one at a time (no product is built) and deduplicated
  // (random draws can repeat).
  let raw: Iterable<SweepValue[]>;
  if (mode === 'grid') raw = gridPoints(dims.map((d) => valuesOf(d.space)));
  else if (mode === 'zip') raw = zipPoints(dims.map((d) => valuesOf(d.space)));
  else {
    const sampled = options as { samples: number; seed: number | string };
    raw = sampledPoints(
      dims.map((d) => d.space),
      mode,
      sampled.samples,
      sampled.seed,
    );
  }

  const ancestry = sweptAncestry(nodes, byId, new Set(sweptIds));
  const seen = new Set<string>();
  const points: { label: string; values: SweepValue[] }[] = [];
  for (const values of raw) {
    const label = renderPoint(columnsOf(dims, values, () => true, several));
    if (seen.has(label)) continue;
    seen.add(label);
    points.push({ label, values });
  }

  // Validate every distinct config of every swept node before building anything.
  const stages = buildStages(dims, sweptIds, byId, points);

  const sweptIndex = new Map(sweptIds.map((id, i) => [id, i]));
  /** The parameters of a node's copy at a point: those of the swept nodes it descends from. */
  const copyPoint = (id: string, values: readonly SweepValue[]): Record<string, SweepValue> => {
    const among = ancestry.get(id) as ReadonlySet<string>;
    return columnsOf(dims, values, (d) => among.has(d.node), among.size > 1);
  };
  const copyId = (id: string, values: readonly SweepValue[]): string =>
    `${id}[${renderPoint(copyPoint(id, values))}]`;

  const out: NodeSpec[] = [];
  const expanded: string[] = [];
  const made = new Set<string>();
  const pointNodes = points.map(() => ({}) as Record<string, string>);
  for (const node of nodes) {
    const among = ancestry.get(node.id) as ReadonlySet<string>;
    if (among.size === 0) {
      out.push(node);
      continue;
    }
    expanded.push(node.id);
    points.forEach((point, p) => {
      const id = copyId(node.id, point.values);
      (pointNodes[p] as Record<string, string>)[node.id] = id;
      if (made.has(id)) return;
      made.add(id);
      // Copies of parents keep the parents' declared ids as input names, so the stage reads
      // `state.get('<declared id>')` in every copy.
      const given = node.inputNames;
      const inputNames: Record<string, string> = {};
      const deps = (node.deps ?? []).map((dep) => {
        const name = given !== undefined && Object.hasOwn(given, dep) ? given[dep] : undefined;
        const swept = (ancestry.get(dep)?.size ?? 0) > 0;
        const depId = swept ? copyId(dep, point.values) : dep;
        if (swept || name !== undefined) inputNames[depId] = name ?? dep;
        return depId;
      });
      const stage = sweptIndex.has(node.id)
        ? (stages.get(`${node.id}\n${ownLabel(dims, node.id, point.values)}`) as PipelineStage)
        : node.stage;
      out.push({
        ...node,
        id,
        stage,
        ...(node.deps === undefined ? {} : { deps }),
        ...(Object.keys(inputNames).length === 0 ? {} : { inputNames }),
        point: Object.freeze({ ...node.point, ...copyPoint(node.id, point.values) }),
        tags: {
          ...node.tags,
          'sweep.node': node.id,
          'sweep.point': id.slice(node.id.length + 1, -1),
        },
      });
    });
  }

  const sweepPoints: SweepPoint[] = points.map((point, index) => {
    const assignments: Record<string, Record<string, SweepValue>> = {};
    dims.forEach((d, k) => {
      assignments[d.node] ??= {};
      (assignments[d.node] as Record<string, SweepValue>)[d.param] = point.values[k] as SweepValue;
    });
    return Object.freeze({
      index,
      label: point.label,
      params: Object.freeze(columnsOf(dims, point.values, () => true, several)),
      assignments: Object.freeze(assignments),
      nodes: Object.freeze(pointNodes[index] as Record<string, string>),
    });
  });
  const params = dims.map((d) => columnName(d, several)).sort();

  const taken = new Set(out.map((n) => n.id));
  if (taken.size !== out.length) {
    const clash = out.find((n, i) => out.findIndex((m) => m.id === n.id) !== i);
    throw new DagValidationError(
      `The sweep made node id '${clash?.id}' twice: an existing node already has the id of a point's copy. Rename that node.`,
    );
  }

  let collectFrom: string[] = [];
  if (options.collect !== undefined) {
    const collected = collectNode(options.collect, expanded, nodes, byId, sweepPoints, params);
    if (taken.has(collected.node.id)) {
      throw new PhysError(
        'PHYS_SWEEP_INVALID',
        `The collect node id '${collected.node.id}' is already used by another node; pick another id.`,
      );
    }
    out.push(collected.node);
    collectFrom = collected.from;
  }

  return Object.freeze({
    nodes: Object.freeze(out),
    points: Object.freeze(sweepPoints),
    mode,
    params: Object.freeze(params),
    swept: Object.freeze(sweptIds),
    expanded: Object.freeze(expanded),
    collect: options.collect?.id,
    collectFrom: Object.freeze(collectFrom),
  });
}

function indexNodes(nodes: readonly NodeSpec[]): Map<string, NodeSpec> {
  if (!Array.isArray(nodes)) {
    throw new DagValidationError(
      `expandSweep needs the DAG's nodes as an array of { id, stage, deps? }, got ${typeof nodes}.`,
    );
  }
  const byId = new Map<string, NodeSpec>();
  for (const node of nodes) {
    if (byId.has(node.id)) {
      throw new DagValidationError(
        `Duplicate node id '${node.id}'; node ids must be unique before a sweep expands them.`,
      );
    }
    byId.set(node.id, node);
  }
  return byId;
}

/** A grid or zip axis's values; after the point count, every such axis has been expanded. */
function valuesOf(space: Space): readonly SweepValue[] {
  return space.kind === 'values' ? space.values : [];
}

/** 1234567 as `1,234,567`; a number too long to read as `about 1.2e+40`. */
function formatCount(n: bigint): string {
  const digits = n.toString();
  if (digits.length > 18) return `about ${Number(n).toPrecision(2)}`;
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** The error of a sweep with more points than `maxPoints`: the count, its make-up, the way out. */
function tooLarge(
  count: bigint,
  maxPoints: number,
  mode: SweepMode,
  dims: readonly Dim[],
): ConfigError {
  const axes = dims.map((d) => ({ path: `${d.node}.${d.param}`, size: sizeOf(d.space) }));
  const makeUp =
    mode === 'random' || mode === 'lhs'
      ? `${mode}: samples = ${formatCount(count)}`
      : mode === 'zip'
        ? `zip: ${axes.length === 1 ? 'a list' : 'lists'} of ${formatCount(count)} values`
        : `grid: ${axes.map((a) => `${a.path} ${formatCount(BigInt(a.size))}`).join(' × ')}`;
  const raise =
    count > BigInt(MAX_POINTS_CEILING)
      ? `That is more than one sweep can hold (${formatCount(BigInt(MAX_POINTS_CEILING))} points at most): sweep fewer values, or split the study into several sweeps.`
      : `Sweep fewer values${mode === 'random' || mode === 'lhs' ? ' (smaller samples)' : ' or steps'}, or raise the limit: for phys sweep, plugins: [['sweep', { maxPoints: ${count.toString()} }]] in the config; from code, planSweep(nodes, spec, { maxPoints: ${count.toString()} }).`;
  return new ConfigError(
    'PHYS_SWEEP_TOO_LARGE',
    `The sweep has ${formatCount(count)} points (${makeUp}), more than maxPoints allows (${formatCount(BigInt(maxPoints))}); nothing was expanded. ${raise}`,
    {
      details: {
        points: count <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(count) : count.toString(),
        maxPoints,
        mode,
        axes,
      },
    },
  );
}

function columnName(d: Dim, qualified: boolean): string {
  return qualified ? `${d.node}.${d.param}` : d.param;
}

function columnsOf(
  dims: readonly Dim[],
  values: readonly SweepValue[],
  keep: (d: Dim) => boolean,
  qualified: boolean,
): Record<string, SweepValue> {
  const out: Record<string, SweepValue> = {};
  dims.forEach((d, k) => {
    if (keep(d)) out[columnName(d, qualified)] = values[k] as SweepValue;
  });
  return out;
}

/** The label of a swept node's own parameters at a point: what its config depends on. */
function ownLabel(dims: readonly Dim[], node: string, values: readonly SweepValue[]): string {
  return renderPoint(columnsOf(dims, values, (d) => d.node === node, false));
}

/** Checks the specs and returns the dimensions sorted by node id, then parameter name. */
function checkSpecs(
  specs: readonly SweepSpec[],
  byId: ReadonlyMap<string, NodeSpec>,
  mode: SweepMode,
  options: SweepOptions,
  maxPoints: number,
): Dim[] {
  const issues: ConfigIssue[] = [];
  const dims: Dim[] = [];
  const seen = new Set<string>();
  if (specs.length === 0) issues.push({ path: '', message: 'no sweep spec given' });
  if (!(Number.isInteger(maxPoints) && maxPoints >= 1 && maxPoints <= MAX_POINTS_CEILING)) {
    issues.push({
      path: 'maxPoints',
      message: `must be a whole number from 1 to ${MAX_POINTS_CEILING} (one sweep cannot hold more points), got ${String(maxPoints)}`,
    });
  }
  if (mode === 'random' || mode === 'lhs') {
    const { samples, seed } = options as { samples?: unknown; seed?: unknown };
    if (typeof samples !== 'number' || !Number.isInteger(samples) || samples < 1) {
      issues.push({
        path: 'samples',
        message: `${mode} mode needs \`samples\`, a whole number >= 1, got ${String(samples)}`,
      });
    }
    if (!(typeof seed === 'string' || (typeof seed === 'number' && Number.isFinite(seed)))) {
      issues.push({
        path: 'seed',
        message: `${mode} mode needs a \`seed\` (number or string) so that its points can be drawn again`,
      });
    }
  }
  for (const spec of specs) {
    const nodeId = spec?.node;
    const node = typeof nodeId === 'string' ? byId.get(nodeId) : undefined;
    if (node === undefined) {
      const known = [...byId.keys()];
      issues.push({
        path: String(nodeId),
        message: `no node with this id in the DAG (nodes: ${known.slice(0, 20).join(', ')}${known.length > 20 ? ', ...' : ''})`,
      });
      continue;
    }
    const definition = definitionOf(node.stage);
    if (definition === undefined) {
      issues.push({
        path: node.id,
        message:
          'its stage was not made by defineStage, so the sweep cannot rebuild it with other configs',
      });
      continue;
    }
    const params = isPlainObject(spec.params) ? spec.params : {};
    if (Object.keys(params).length === 0) {
      issues.push({
        path: node.id,
        message: 'the spec sweeps no parameter; list some in `params`',
      });
    }
    for (const [param, space] of Object.entries(params)) {
      const path = `${node.id}.${param}`;
      if (seen.has(path)) {
        issues.push({ path, message: 'swept twice (by two specs); give its values once' });
        continue;
      }
      seen.add(path);
      const unknown = unknownKey(definition.schema, param.split('.'));
      if (unknown !== undefined) {
        issues.push({
          path,
          message: `unknown parameter: the config of stage '${definition.stageName}' has no key '${unknown.segment}' (it has: ${unknown.known.join(', ') || 'no keys'})`,
        });
        continue;
      }
      const checked = checkSpace(space, mode, path, issues, maxPoints);
      if (checked !== undefined) dims.push({ node: node.id, param, space: checked });
    }
  }
  dims.sort((a, b) => (a.node === b.node ? compare(a.param, b.param) : compare(a.node, b.node)));
  if (mode === 'zip' && dims.length > 1) {
    const lengths = dims.map((d) => sizeOf(d.space));
    if (new Set(lengths).size > 1) {
      issues.push({
        path: '',
        message: `zip mode pairs the i-th values of every parameter, so all need as many values; got ${dims.map((d, k) => `${d.node}.${d.param}: ${lengths[k]}`).join(', ')}`,
      });
    }
  }
  if (issues.length > 0) throw invalid(issues, 'Invalid sweep');
  return dims;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * For every node, the swept nodes it is or descends from. A node with none is left alone; the
 * others are duplicated once per distinct combination of those swept nodes' parameters.
 */
function sweptAncestry(
  nodes: readonly NodeSpec[],
  byId: ReadonlyMap<string, NodeSpec>,
  swept: ReadonlySet<string>,
): Map<string, ReadonlySet<string>> {
  const memo = new Map<string, ReadonlySet<string>>();
  const none: ReadonlySet<string> = new Set();
  const visiting = new Set<string>();
  const visit = (id: string): ReadonlySet<string> => {
    const done = memo.get(id);
    if (done !== undefined) return done;
    const node = byId.get(id);
    // A missing dependency is the executor's to report; it carries no sweep.
    if (node === undefined) return none;
    if (visiting.has(id)) {
      throw new DagValidationError(
        `The DAG has a cycle through node '${id}', so it cannot be swept; run it once without the sweep to see the cycle's nodes.`,
      );
    }
    visiting.add(id);
    let set: Set<string> | undefined = swept.has(id) ? new Set([id]) : undefined;
    for (const dep of node.deps ?? []) {
      const up = visit(dep);
      if (up.size === 0) continue;
      set ??= new Set();
      for (const s of up) set.add(s);
    }
    visiting.delete(id);
    const result = set ?? none;
    memo.set(id, result);
    return result;
  };
  for (const node of nodes) visit(node.id);
  return memo;
}

/** Rebuilds each swept node's stage for each distinct assignment of its own parameters. */
function buildStages(
  dims: readonly Dim[],
  sweptIds: readonly string[],
  byId: ReadonlyMap<string, NodeSpec>,
  points: readonly { values: SweepValue[] }[],
): Map<string, PipelineStage> {
  const issues: ConfigIssue[] = [];
  const configs = new Map<string, { node: NodeSpec; config: unknown }>();
  for (const id of sweptIds) {
    const node = byId.get(id) as NodeSpec;
    const definition = definitionOf(node.stage) as StageDefinition;
    for (const point of points) {
      const label = ownLabel(dims, id, point.values);
      const key = `${id}\n${label}`;
      if (configs.has(key)) continue;
      let config: Record<string, unknown>;
      try {
        config = structuredClone(node.stage.config) as Record<string, unknown>;
      } catch (error) {
        throw new PhysError(
          'PHYS_SWEEP_INVALID',
          `Cannot sweep node '${id}': its stage config holds values that cannot be copied (${(error as Error).message}). Sweep stages whose configs are plain data.`,
          { cause: error },
        );
      }
      dims.forEach((d, k) => {
        if (d.node === id) setPath(config, d.param.split('.'), point.values[k]);
      });
      try {
        definition.parseConfig(config);
      } catch (error) {
        const found = (error as { issues?: readonly ConfigIssue[] }).issues;
        if (!PhysError.is(error) || found === undefined) throw error;
        const prefix = `${id}[${label}]`;
        for (const issue of found) {
          issues.push({
            path: issue.path === '' ? prefix : `${prefix}.${issue.path}`,
            message: issue.message,
          });
        }
      }
      configs.set(key, { node, config });
    }
  }
  if (issues.length > 0) {
    throw invalid(issues, 'Invalid sweep: some points give configs their stage rejects');
  }
  const stages = new Map<string, PipelineStage>();
  for (const [key, { node, config }] of configs) {
    const definition = definitionOf(node.stage) as StageDefinition;
    stages.set(key, definition(config, { label: node.stage.label }));
  }
  return stages;
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let at = target;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i] as string;
    const next = at[key];
    if (!isPlainObject(next)) at[key] = {};
    at = at[key] as Record<string, unknown>;
  }
  at[path[path.length - 1] as string] = value;
}

function collectNode(
  collect: SweepCollect,
  expanded: readonly string[],
  nodes: readonly NodeSpec[],
  byId: ReadonlyMap<string, NodeSpec>,
  points: readonly SweepPoint[],
  params: readonly string[],
): { node: NodeSpec; from: string[] } {
  if (typeof collect.id !== 'string' || collect.id === '') {
    throw new PhysError(
      'PHYS_SWEEP_INVALID',
      "The collect node needs a non-empty `id`, e.g. collect: { id: 'results' }.",
    );
  }
  const inExpanded = new Set(expanded);
  let from: string[];
  if (collect.from === undefined) {
    const fed = new Set<string>();
    for (const node of nodes) {
      if (!inExpanded.has(node.id)) continue;
      for (const dep of node.deps ?? []) if (inExpanded.has(dep)) fed.add(dep);
    }
    from = expanded.filter((id) => !fed.has(id));
  } else {
    from = typeof collect.from === 'string' ? [collect.from] : [...collect.from];
    const wrong = from.filter((id) => !inExpanded.has(id));
    if (wrong.length > 0) {
      throw new PhysError(
        'PHYS_SWEEP_INVALID',
        `collect.from names ${wrong.map((id) => `'${id}'`).join(', ')}, but ${wrong.length === 1 ? 'it is' : 'they are'} ${wrong.every((id) => byId.has(id)) ? 'not swept nor downstream of a swept node (one copy serves every point)' : 'not in the DAG'}. Pick from: ${expanded.join(', ')}.`,
      );
    }
  }
  const deps: string[] = [];
  const seen = new Set<string>();
  for (const point of points) {
    for (const id of from) {
      const copy = point.nodes[id] as string;
      if (!seen.has(copy)) {
        seen.add(copy);
        deps.push(copy);
      }
    }
  }
  let stage = collect.stage ?? collectResults();
  const definition = definitionOf(stage);
  if (definition !== undefined && declaresKey(definition.schema, 'points')) {
    const base = isPlainObject(stage.config) ? stage.config : {};
    stage = definition(
      {
        ...base,
        params: [...params],
        points: points.map((p) => ({
          label: p.label,
          params: p.params,
          inputs: Object.fromEntries(from.map((id) => [id, p.nodes[id] as string])),
        })),
      },
      { label: stage.label },
    );
  }
  return { node: { id: collect.id, stage, deps }, from };
}
