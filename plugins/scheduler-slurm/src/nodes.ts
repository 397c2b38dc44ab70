import type { SlurmJobRecord } from './parse.js';
import { mapSlurmState } from './states.js';

/**
 * Output format of the one `sinfo -h -N` call per poll that checks the nodes of live jobs: node,
 * partition, state (long form, with sinfo's suffix: `*` not responding, `~` powered off, ...)
 * and the reason an administrator or Slurm gave.
 * @public
 */
export const SINFO_FORMAT = '%N|%R|%T|%E';

/** One compute node as `sinfo -h -N -o '%N|%R|%T|%E'` reports it. @public */
export interface SlurmNodeInfo {
  readonly name: string;
  /** The partitions it is in. */
  readonly partitions: readonly string[];
  /** The state as sinfo prints it: `idle`, `mixed*`, `down*`, `drained`, `idle~`. */
  readonly state: string;
  /** The reason, when there is one (`Not responding`, `phys-test`). */
  readonly reason?: string;
  /** The node stopped answering the controller (sinfo's `*`). */
  readonly notResponding: boolean;
  /** The node is DOWN: its jobs are lost and it starts no others. */
  readonly down: boolean;
  /** The node can start no new job until an administrator or its daemon acts (down, drained, failed, not responding). */
  readonly closed: boolean;
}

// Base states of a node that starts no new job by itself (sinfo's long names; `drain` alone
// and `fail` appear in newer versions' flag lists).
const CLOSED = new Set([
  'down',
  'drained',
  'draining',
  'drain',
  'fail',
  'failing',
  'inval',
  'not_responding',
]);

/** Reads one sinfo state: `mixed*` → not responding; `down~` → down. @public */
export function slurmNodeState(
  raw: string,
): Pick<SlurmNodeInfo, 'notResponding' | 'down' | 'closed'> {
  const text = raw.trim().toLowerCase();
  const notResponding = text.endsWith('*') || text.includes('not_responding');
  const words = text.replace(/[*~#!%$@^-]+$/, '').split('+');
  const down = words[0] === 'down';
  return { notResponding, down, closed: notResponding || words.some((w) => CLOSED.has(w)) };
}

/**
 * Parses `sinfo -h -N -o '%N|%R|%T|%E'`: one line per node and partition. Nodes in several
 * partitions are merged.
 * @public
 */
export function parseSinfoNodes(stdout: string): Map<string, SlurmNodeInfo> {
  const out = new Map<string, SlurmNodeInfo>();
  for (const line of stdout.split('\n')) {
    const [name, partition, state, ...rest] = line.trim().split('|');
    if (name === undefined || name === '' || state === undefined || state === '') continue;
    const reason = rest.join('|').trim();
    const seen = out.get(name);
    out.set(name, {
      name,
      partitions: [...(seen?.partitions ?? []), ...(partition ? [partition] : [])],
      state,
      ...(reason === '' || reason === 'none' ? {} : { reason }),
      ...slurmNodeState(state),
    });
  }
  return out;
}

/**
 * Expands a Slurm hostlist: `cn[01-03,07],gpu1` → `cn01 cn02 cn03 cn07 gpu1` (zero padding
 * kept, several bracket groups multiplied out). At most `limit` names.
 * @public
 */
export function expandHostlist(list: string, limit = 100_000): string[] {
  const names: string[] = [];
  for (const part of splitTopLevel(list.trim())) {
    for (const name of expandOne(part)) {
      if (names.length >= limit) return names;
      names.push(name);
    }
  }
  return names;
}

function splitTopLevel(list: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < list.length; i++) {
    const c = list[i];
    if (c === '[') depth++;
    else if (c === ']') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(list.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(list.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p !== '' && p !== '(null)');
}

function* expandOne(pattern: string): Generator<string> {
  const open = pattern.indexOf('[');
  const close = pattern.indexOf(']', open);
  if (open < 0 || close < 0) {
    yield pattern;
    return;
  }
  const head = pattern.slice(0, open);
  const tail = pattern.slice(close + 1);
  for (const range of pattern.slice(open + 1, close).split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(range.trim());
    if (m === null) continue;
    const from = m[1] as string;
    const to = m[2] ?? from;
    for (let n = Number(from); n <= Number(to); n++) {
      for (const rest of expandOne(tail))
        yield `${head}${String(n).padStart(from.length, '0')}${rest}`;
    }
  }
}

/** `vm (down*, phys-test)`. */
function describeNode(node: SlurmNodeInfo): string {
  return `${node.name} (${node.state}${node.reason === undefined ? '' : `, ${node.reason}`})`;
}

/**
 * Which live jobs cannot progress because of their nodes, given what sinfo says of the nodes
 * of their partitions: a job that holds nodes (RUNNING, COMPLETING, CONFIGURING, ...) stalls
 * when one of them is down or not responding; a PENDING job stalls when no node of its
 * partitions can start jobs (all down, drained or not responding). Returns the words for each
 * stalled job id (see `BatchQueueBackend.stalls`).
 * @public
 */
export function slurmStalls(
  jobs: ReadonlyMap<string, SlurmJobRecord>,
  nodes: ReadonlyMap<string, SlurmNodeInfo>,
): Map<string, string> {
  const byPartition = new Map<string, SlurmNodeInfo[]>();
  for (const node of nodes.values()) {
    for (const p of node.partitions) {
      const list = byPartition.get(p);
      if (list === undefined) byPartition.set(p, [node]);
      else list.push(node);
    }
  }
  const out = new Map<string, string>();
  for (const [id, record] of jobs) {
    const held = record.nodes === undefined ? [] : expandHostlist(record.nodes);
    if (record.nativeState !== 'PENDING' && held.length > 0) {
      const bad = held
        .map((name) => nodes.get(name))
        .filter((n): n is SlurmNodeInfo => n !== undefined && (n.down || n.notResponding));
      const first = bad[0];
      if (first === undefined) continue;
      const what = first.down ? 'is down' : 'is not responding';
      out.set(
        id,
        bad.length === 1
          ? `compute node ${describeNode(first)} ${what}`
          : `${bad.length} of its compute nodes are down or not responding: ${bad.slice(0, 3).map(describeNode).join(', ')}${bad.length > 3 ? ', ...' : ''}`,
      );
      continue;
    }
    if (mapSlurmState(record.nativeState).terminal || record.partition === undefined) continue;
    const partitions = record.partition.split(',').filter((p) => p !== '');
    const members = partitions.flatMap((p) => byPartition.get(p) ?? []);
    // A partition sinfo did not list (a typo would have failed sbatch) says nothing.
    if (members.length === 0 || members.some((n) => !n.closed)) continue;
    const shown = members.slice(0, 3).map(describeNode).join(', ');
    out.set(
      id,
      `no compute node of partition ${partitions.join(', ')} can start jobs: ${shown}${members.length > 3 ? `, ... (${members.length} nodes)` : ''}`,
    );
  }
  return out;
}
