import {
  type DagProblem as CoreDagProblem,
  type DagProblemKind as CoreDagProblemKind,
  DagValidationError,
  dagValidationError,
  type Isolation,
  indexDag,
  type NodeSpec,
  normalizeResources,
  PhysError,
  type ResourceRequirements,
} from '@phys/core';

/** What kind of problem made a DAG invalid: core's graph problems and the executor's own. @public */
export type DagProblemKind = CoreDagProblemKind;

/** One problem found while validating a DAG (core's type). @public */
export type DagProblem = CoreDagProblem;

export const ISO_INLINE = 0;
export const ISO_THREAD = 1;
export const ISO_PROCESS = 2;
const ISOLATIONS: Readonly<Record<string, number>> = { inline: 0, thread: 1, process: 2 };

/** The graph in integer-indexed form: what the executor's hot loop walks. */
export interface CompiledDag {
  readonly n: number;
  readonly ids: readonly string[];
  readonly nodes: readonly NodeSpec[];
  /** deps of node i are depList[depStart[i] .. depStart[i+1]) in deps order. */
  readonly depStart: Int32Array;
  readonly depList: Int32Array;
  /** dependents of node i are outList[outStart[i] .. outStart[i+1]) in index order. */
  readonly outStart: Int32Array;
  readonly outList: Int32Array;
  /** Position of each node's id in lexicographic order (computed on first use by {@link idRanks}). */
  rank: Int32Array | undefined;
  readonly resources: readonly ResourceRequirements[];
  readonly isolation: Uint8Array;
}

/** What validation needs to know about the scheduler and the run. */
export interface CompileOptions {
  readonly defaultIsolation: Isolation;
  /** Why a request can never be granted, or undefined when it can. */
  readonly unsatisfiable?: (req: ResourceRequirements) => string | undefined;
  /** Why thread/process isolation cannot work (e.g. no config file), or undefined. */
  readonly isolationProblem?: (isolation: Isolation) => string | undefined;
}

/**
 * Validates nodes before anything runs and compiles them to integer arrays. Every problem is
 * collected and reported in one {@link DagValidationError}; cycles are looked for only once the
 * graph is otherwise well-formed, and the error names the cycle's nodes.
 */
export function compileDag(nodes: readonly NodeSpec[], options: CompileOptions): CompiledDag {
  if (!Array.isArray(nodes)) {
    throw new DagValidationError(
      `A DAG must be an array of nodes ({ id, stage, deps? }), got ${typeof nodes}.`,
    );
  }
  const n = nodes.length;
  const problems: DagProblem[] = [];
  const resources: ResourceRequirements[] = new Array<ResourceRequirements>(n);
  const isolation = new Uint8Array(n);
  const checkedRequests = new Map<ResourceRequirements, string | undefined>();
  let lastReq: ResourceRequirements | undefined;
  let lastWhy: string | undefined;
  const isolationChecked: (string | undefined | null)[] = [null, null, null];
  const defaultReq = normalizeResources(undefined);
  let lastStage: unknown;
  let lastIsolation: Isolation = options.defaultIsolation;
  let lastCode: number | undefined;

  for (let i = 0; i < n; i++) {
    const node = nodes[i];
    if (
      typeof node !== 'object' ||
      node === null ||
      typeof node.id !== 'string' ||
      node.id === ''
    ) {
      continue;
    }
    const id = node.id;
    const stage = node.stage as unknown;
    // Consecutive nodes usually share a stage (chains, grids, sweeps of one definition): what
    // depends only on the stage is worked out once per run of equal stages.
    const sameStage = stage === lastStage && lastStage !== undefined;
    const stageOk =
      sameStage ||
      (typeof stage === 'object' &&
        stage !== null &&
        typeof (stage as { process?: unknown }).process === 'function');
    if (!stageOk) {
      problems.push({
        kind: 'missing-stage',
        node: id,
        message: `Node '${id}' has no stage; give it a configured stage (e.g. \`stage: MyStage({ ... })\`).`,
      });
    }
    const deps = node.deps;
    if (deps !== undefined && !Array.isArray(deps)) {
      problems.push({
        kind: 'invalid-node',
        node: id,
        message: `Node '${id}' has \`deps\` that is not an array of node ids.`,
      });
    }
    try {
      const spec = node.resources;
      const req = spec === undefined ? defaultReq : normalizeResources(spec);
      resources[i] = req;
      if (options.unsatisfiable !== undefined) {
        let why = lastWhy;
        if (req !== lastReq) {
          why = checkedRequests.get(req);
          if (why === undefined && !checkedRequests.has(req)) {
            why = options.unsatisfiable(req);
            checkedRequests.set(req, why);
          }
          lastReq = req;
          lastWhy = why;
        }
        if (why !== undefined) {
          problems.push({
            kind: 'unsatisfiable-resources',
            node: id,
            message: `Node '${id}' asks for more than the scheduler can ever grant: ${why}. Lower the request or give the scheduler more capacity.`,
          });
        }
      }
    } catch (error) {
      problems.push({
        kind: 'invalid-resources',
        node: id,
        message: `Node '${id}' has invalid resources: ${PhysError.is(error) ? error.message : String(error)}`,
      });
    }
    const retry = node.retry;
    if (
      retry !== undefined &&
      (typeof retry !== 'object' ||
        retry === null ||
        !Number.isInteger(retry.maxAttempts) ||
        retry.maxAttempts < 1 ||
        retry.maxAttempts > 1000)
    ) {
      problems.push({
        kind: 'invalid-retry',
        node: id,
        message: `Node '${id}' has an invalid retry policy: \`maxAttempts\` must be a whole number from 1 to 1000 (attempts including the first).`,
      });
    }
    const timeout = node.timeoutSeconds;
    if (
      timeout !== undefined &&
      !(typeof timeout === 'number' && timeout > 0 && timeout < 2 ** 31 / 1000)
    ) {
      problems.push({
        kind: 'invalid-timeout',
        node: id,
        message: `Node '${id}' has an invalid timeoutSeconds ${JSON.stringify(timeout)}; use a positive number of seconds.`,
      });
    }
    let iso = node.isolation;
    let code: number | undefined;
    if (iso !== undefined) {
      code = ISOLATIONS[iso];
    } else if (sameStage) {
      iso = lastIsolation;
      code = lastCode;
    } else {
      iso =
        (stage as { definition?: { isolation?: Isolation } } | null)?.definition?.isolation ??
        options.defaultIsolation;
      code = ISOLATIONS[iso];
      if (stageOk) {
        lastStage = stage;
        lastIsolation = iso;
        lastCode = code;
      }
    }
    if (code === undefined) {
      problems.push({
        kind: 'invalid-isolation',
        node: id,
        message: `Node '${id}' has isolation ${JSON.stringify(iso)}; use 'inline', 'thread' or 'process'.`,
      });
    } else {
      isolation[i] = code;
      if (code !== ISO_INLINE && options.isolationProblem !== undefined) {
        let why = isolationChecked[code];
        if (why === null) {
          why = options.isolationProblem(iso);
          isolationChecked[code] = why;
        }
        if (why !== undefined) {
          problems.push({
            kind: 'invalid-isolation',
            node: id,
            message: `Node '${id}' needs '${iso}' isolation, but ${why}`,
          });
        }
      }
    }
  }

  // The graph itself (ids, deps, cycles) is checked by core's one validator; the loop above
  // checked what only an executor knows (stages, resources, retry, timeouts, isolation).
  const graph = indexDag(nodes, problems);
  if (problems.length > 0) throw dagValidationError(problems);
  const { ids, depStart, depList } = graph;
  const outDegree = new Int32Array(n + 1);
  for (let e = 0; e < depList.length; e++) {
    const j = depList[e] as number;
    outDegree[j] = (outDegree[j] as number) + 1;
  }
  return finish(nodes, ids, depStart, depList, outDegree, resources, isolation);
}

function finish(
  nodes: readonly NodeSpec[],
  ids: readonly string[],
  depStart: Int32Array,
  depList: Int32Array,
  outDegree: Int32Array,
  resources: ResourceRequirements[],
  isolation: Uint8Array,
): CompiledDag {
  const n = ids.length;
  const outStart = new Int32Array(n + 1);
  let acc = 0;
  for (let i = 0; i < n; i++) {
    outStart[i] = acc;
    acc += outDegree[i] as number;
  }
  outStart[n] = acc;
  const fill = outStart.slice(0, n);
  const outList = new Int32Array(acc);
  for (let i = 0; i < n; i++) {
    for (let e = depStart[i] as number, end = depStart[i + 1] as number; e < end; e++) {
      const j = depList[e] as number;
      const at = fill[j] as number;
      outList[at] = i;
      fill[j] = at + 1;
    }
  }
  return {
    n,
    ids,
    nodes,
    depStart,
    depList,
    outStart,
    outList,
    rank: undefined,
    resources,
    isolation,
  };
}

/** The rank of every id in lexicographic (code unit) order; skips the sort when already ordered. */
export function idRanks(dag: CompiledDag): Int32Array {
  if (dag.rank !== undefined) return dag.rank;
  dag.rank = rankOf(dag.ids);
  return dag.rank;
}

function rankOf(ids: readonly string[]): Int32Array {
  const n = ids.length;
  const rank = new Int32Array(n);
  let sorted = true;
  for (let i = 1; i < n; i++) {
    if ((ids[i - 1] as string) > (ids[i] as string)) {
      sorted = false;
      break;
    }
  }
  if (sorted) {
    for (let i = 0; i < n; i++) rank[i] = i;
    return rank;
  }
  const order = new Array<number>(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => {
    const x = ids[a] as string;
    const y = ids[b] as string;
    return x < y ? -1 : x > y ? 1 : 0;
  });
  for (let r = 0; r < n; r++) rank[order[r] as number] = r;
  return rank;
}

/**
 * The deterministic recorded order of a compiled DAG: topological, the ready node with the
 * smallest id first (Kahn's algorithm with a heap on id rank). O((n + e) log n).
 */
export function recordedOrder(dag: CompiledDag): Int32Array {
  const { n, depStart, outStart, outList } = dag;
  const rank = idRanks(dag);
  const indeg = new Int32Array(n);
  const byRank = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    indeg[i] = (depStart[i + 1] as number) - (depStart[i] as number);
    byRank[rank[i] as number] = i;
  }
  // A heap of ranks: a small Int32 binary heap inline, to keep this file self-contained.
  const heap = new Int32Array(n);
  let size = 0;
  const push = (r: number): void => {
    let i = size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const up = heap[p] as number;
      if (up <= r) break;
      heap[i] = up;
      i = p;
    }
    heap[i] = r;
  };
  const pop = (): number => {
    const top = heap[0] as number;
    const last = heap[--size] as number;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= size) break;
      if (c + 1 < size && (heap[c + 1] as number) < (heap[c] as number)) c++;
      const cv = heap[c] as number;
      if (cv >= last) break;
      heap[i] = cv;
      i = c;
    }
    heap[i] = last;
    return top;
  };
  for (let i = 0; i < n; i++) if (indeg[i] === 0) push(rank[i] as number);
  const order = new Int32Array(n);
  let k = 0;
  while (size > 0) {
    const v = byRank[pop()] as number;
    order[k++] = v;
    for (let e = outStart[v] as number, end = outStart[v + 1] as number; e < end; e++) {
      const w = outList[e] as number;
      const left = (indeg[w] as number) - 1;
      indeg[w] = left;
      if (left === 0) push(rank[w] as number);
    }
  }
  return order;
}
