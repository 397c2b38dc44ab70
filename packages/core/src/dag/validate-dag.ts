import { DagValidationError } from '../errors.js';

/**
 * What is wrong with a DAG. The graph's own problems are listed here; executors add their own
 * kinds (a missing stage, impossible resources) to the same list.
 * @public
 */
export type DagProblemKind =
  | 'invalid-node'
  | 'duplicate-id'
  | 'missing-dependency'
  | 'self-dependency'
  | 'duplicate-dependency'
  | 'cycle'
  | 'invalid-input-names'
  | (string & {});

/** One problem of a DAG, with the node it concerns. @public */
export interface DagProblem {
  readonly kind: DagProblemKind;
  /** The node's id (`#<position>` for a node without a usable id). */
  readonly node: string;
  /** The dependency involved, for missing/self/duplicate dependencies. */
  readonly dependency?: string;
  /** The node ids of a cycle, in data-flow order, the first repeated at the end. */
  readonly cycle?: readonly string[];
  readonly message: string;
}

/** A DAG's nodes as integer arrays: what validation builds and executors and key derivation use. @public */
export interface DagIndex {
  readonly n: number;
  /** Node ids by position. */
  readonly ids: readonly string[];
  /** Position of each id (the first, for a duplicate). */
  readonly index: ReadonlyMap<string, number>;
  /** The deps of node i are `depList[depStart[i] .. depStart[i + 1])`, in deps order. */
  readonly depStart: Int32Array;
  readonly depList: Int32Array;
  /** True when every dep points to an earlier position (then list order is topological). */
  readonly forwardOnly: boolean;
  /** Topological order by Kahn's algorithm (FIFO: ties keep list order), when asked for. */
  readonly order: Int32Array | undefined;
}

/** Options of {@link indexDag}. @public */
export interface IndexDagOptions {
  /** Also compute {@link DagIndex.order}. */
  readonly order?: boolean;
}

const MAX_LISTED = 20;

/**
 * The one DAG validator: indexes `nodes` and appends every structural problem to `problems`
 * (node without an id, duplicate id, missing, self or repeated dependency), then, when the graph
 * is otherwise well-formed, looks for a cycle and names its nodes. O(nodes + edges) with flat
 * arrays; a graph whose deps all point backwards skips the cycle search.
 * @public
 */
export function indexDag(
  nodes: readonly unknown[],
  problems: DagProblem[],
  options: IndexDagOptions = {},
): DagIndex {
  const n = nodes.length;
  const before = problems.length;
  const ids = new Array<string>(n);
  const index = new Map<string, number>();
  let edges = 0;
  for (let i = 0; i < n; i++) {
    const node = nodes[i] as { id?: unknown; deps?: unknown } | null;
    const id = typeof node === 'object' && node !== null ? node.id : undefined;
    if (typeof id !== 'string' || id === '') {
      ids[i] = `#${i}`;
      problems.push({
        kind: 'invalid-node',
        node: `#${i}`,
        message: `Node at position ${i} has no string \`id\`; every node needs a unique non-empty id.`,
      });
      continue;
    }
    ids[i] = id;
    // One hash operation per node: a set that does not grow the map met a duplicate.
    const size = index.size;
    index.set(id, i);
    if (index.size === size) {
      const first = ids.indexOf(id);
      index.set(id, first);
      problems.push({
        kind: 'duplicate-id',
        node: id,
        message: `Duplicate node id '${id}' (positions ${first} and ${i}); node ids must be unique.`,
      });
    }
    const deps = (node as { deps?: unknown }).deps;
    if (Array.isArray(deps)) edges += deps.length;
    const inputNames = (node as { inputNames?: unknown }).inputNames;
    if (inputNames !== undefined) checkInputNames(id, deps, inputNames, problems);
  }
  const depStart = new Int32Array(n + 1);
  const depList = new Int32Array(edges);
  let k = 0;
  let forwardOnly = true;
  for (let i = 0; i < n; i++) {
    depStart[i] = k;
    const node = nodes[i] as { deps?: unknown } | null;
    const deps = typeof node === 'object' && node !== null ? node.deps : undefined;
    if (!Array.isArray(deps)) continue;
    const id = ids[i] as string;
    const first = k;
    for (let d = 0; d < deps.length; d++) {
      const dep = deps[d] as unknown;
      const j = typeof dep === 'string' ? index.get(dep) : undefined;
      if (j === undefined) {
        problems.push({
          kind: 'missing-dependency',
          node: id,
          dependency: String(dep),
          message: `Missing dependency: node '${id}' depends on '${String(dep)}', which is not a node of this DAG.`,
        });
        continue;
      }
      if (j === i) {
        problems.push({
          kind: 'self-dependency',
          node: id,
          dependency: id,
          message: `Node '${id}' depends on itself; remove '${id}' from its deps.`,
        });
        continue;
      }
      let repeated = false;
      for (let q = first; q < k; q++) {
        if (depList[q] === j) {
          repeated = true;
          break;
        }
      }
      if (repeated) {
        problems.push({
          kind: 'duplicate-dependency',
          node: id,
          dependency: dep as string,
          message: `Node '${id}' lists dependency '${String(dep)}' twice; list each parent once.`,
        });
        continue;
      }
      depList[k++] = j;
      if (j > i) forwardOnly = false;
    }
  }
  depStart[n] = k;
  const list = k === edges ? depList : depList.slice(0, k);
  let order: Int32Array | undefined;
  if (problems.length === before && (options.order === true || !forwardOnly)) {
    const sorted = kahn(n, depStart, list);
    if (sorted.length < n) {
      const cycle = cycleAmong(ids, depStart, list, sorted);
      problems.push({
        kind: 'cycle',
        node: cycle[0] as string,
        cycle,
        message: `Cycle detected: ${cycle.join(' → ')}. A DAG cannot have cycles; remove one of these dependencies.`,
      });
    } else if (options.order === true) {
      order = sorted;
    }
  }
  return { n, ids, index, depStart, depList: list, forwardOnly, order };
}

/**
 * {@link indexDag} that throws one {@link DagValidationError} listing every problem.
 * @public
 */
export function validateDag(nodes: readonly unknown[], options: IndexDagOptions = {}): DagIndex {
  if (!Array.isArray(nodes)) {
    throw new DagValidationError(
      `A DAG must be an array of nodes ({ id, stage, deps? }), got ${typeof nodes}.`,
    );
  }
  const problems: DagProblem[] = [];
  const dag = indexDag(nodes, problems, options);
  if (problems.length > 0) throw dagValidationError(problems);
  return dag;
}

/**
 * One error for a list of problems: the problem itself when there is one, else a count and the
 * first 20 problems; all of them (up to 1,000) in `details.problems`.
 * @public
 */
export function dagValidationError(problems: readonly DagProblem[]): DagValidationError {
  const shown = problems.slice(0, MAX_LISTED).map((p) => `  - ${p.message}`);
  if (problems.length > MAX_LISTED) shown.push(`  ... and ${problems.length - MAX_LISTED} more`);
  const head =
    problems.length === 1
      ? (problems[0] as DagProblem).message
      : `Invalid DAG (${problems.length} problems):\n${shown.join('\n')}`;
  return new DagValidationError(head, {
    details: { problems: problems.slice(0, 1000) as unknown as Record<string, unknown>[] },
  });
}

/**
 * The problems of a node's `inputNames`: not an object of dep id to name, a key that is not one
 * of its deps, a name that is not a non-empty string, two deps that would reach the stage under
 * one name.
 */
function checkInputNames(
  id: string,
  deps: unknown,
  inputNames: unknown,
  problems: DagProblem[],
): void {
  const problem = (message: string): void => {
    problems.push({ kind: 'invalid-input-names', node: id, message });
  };
  if (typeof inputNames !== 'object' || inputNames === null || Array.isArray(inputNames)) {
    problem(
      `Node '${id}' has \`inputNames\` that is not an object; give it { <dep id>: <name> } for the deps to rename.`,
    );
    return;
  }
  const names = inputNames as Record<string, unknown>;
  const list = Array.isArray(deps) ? (deps as unknown[]) : [];
  const isDep = new Set(list);
  for (const [dep, name] of Object.entries(names)) {
    if (!isDep.has(dep)) {
      problem(
        `Node '${id}' names '${dep}' in \`inputNames\`, but '${dep}' is not one of its deps; list only deps there.`,
      );
    }
    if (typeof name !== 'string' || name === '') {
      problem(
        `Node '${id}' gives dep '${dep}' the input name ${JSON.stringify(name) ?? String(name)} in \`inputNames\`; names must be non-empty strings.`,
      );
    }
  }
  const byName = new Map<string, string>();
  for (const dep of list) {
    if (typeof dep !== 'string') continue;
    const name = Object.hasOwn(names, dep) ? names[dep] : dep;
    if (typeof name !== 'string' || name === '') continue;
    const other = byName.get(name);
    if (other === undefined) byName.set(name, dep);
    else if (other !== dep) {
      problem(
        `Node '${id}' would see deps '${other}' and '${dep}' under one name '${name}'; give each dep its own name in \`inputNames\`.`,
      );
    }
  }
}

/** Kahn's algorithm, FIFO; the result is shorter than n when there is a cycle. */
function kahn(n: number, depStart: Int32Array, depList: Int32Array): Int32Array {
  const outStart = new Int32Array(n + 1);
  for (let e = 0; e < depList.length; e++) {
    const j = depList[e] as number;
    outStart[j + 1] = (outStart[j + 1] as number) + 1;
  }
  for (let i = 0; i < n; i++)
    outStart[i + 1] = (outStart[i + 1] as number) + (outStart[i] as number);
  const fill = outStart.slice();
  const outList = new Int32Array(depList.length);
  for (let i = 0; i < n; i++) {
    for (let e = depStart[i] as number; e < (depStart[i + 1] as number); e++) {
      const j = depList[e] as number;
      outList[fill[j] as number] = i;
      fill[j] = (fill[j] as number) + 1;
    }
  }
  const pending = new Int32Array(n);
  const order = new Int32Array(n);
  let tail = 0;
  for (let i = 0; i < n; i++) {
    pending[i] = (depStart[i + 1] as number) - (depStart[i] as number);
    if (pending[i] === 0) order[tail++] = i;
  }
  for (let head = 0; head < tail; head++) {
    const v = order[head] as number;
    for (let q = outStart[v] as number; q < (outStart[v + 1] as number); q++) {
      const w = outList[q] as number;
      pending[w] = (pending[w] as number) - 1;
      if (pending[w] === 0) order[tail++] = w;
    }
  }
  return tail === n ? order : order.subarray(0, tail);
}

/**
 * One cycle among the nodes Kahn's algorithm could not order: each of them has a dep that is
 * also unordered, so following such deps must revisit a node; the walk from its first visit is
 * the cycle. Returned in data-flow order with the first node repeated at the end.
 */
function cycleAmong(
  ids: readonly string[],
  depStart: Int32Array,
  depList: Int32Array,
  ordered: Int32Array,
): string[] {
  const done = new Uint8Array(ids.length);
  for (const i of ordered) done[i] = 1;
  let v = done.indexOf(0);
  const seenAt = new Map<number, number>();
  const path: number[] = [];
  while (!seenAt.has(v)) {
    seenAt.set(v, path.length);
    path.push(v);
    for (let e = depStart[v] as number; e < (depStart[v + 1] as number); e++) {
      const d = depList[e] as number;
      if (done[d] === 0) {
        v = d;
        break;
      }
    }
  }
  const names = path
    .slice(seenAt.get(v))
    .reverse()
    .map((i) => ids[i] as string);
  names.push(names[0] as string);
  return names;
}
