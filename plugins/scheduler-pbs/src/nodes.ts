import type { PbsJobStatus } from './exit-status.js';

/** One vnode as `pbsnodes -a -F json` reports it (the attributes phys reads). @public */
export interface PbsNodeRecord {
  readonly name: string;
  /** Comma-separated states: `free`, `job-busy`, `offline`, `down`, `state-unknown,down`, `Stale`. */
  readonly state: string;
  /** The server's or an administrator's note (`node down: communication closed`). */
  readonly comment?: string;
}

/**
 * Reads `pbsnodes -a -F json`: `{ timestamp, pbs_version, pbs_server, nodes: { "<name>":
 * { Mom, state, pcpus, jobs, comment, ... } } }`. Returns undefined when stdout is not that
 * JSON.
 * @public
 */
export function parsePbsnodesJson(stdout: string): Map<string, PbsNodeRecord> | undefined {
  let data: unknown;
  try {
    data = JSON.parse(stdout.trim() === '' ? '{}' : stdout);
  } catch {
    return undefined;
  }
  if (typeof data !== 'object' || data === null) return undefined;
  const nodes = (data as { nodes?: unknown }).nodes ?? {};
  if (typeof nodes !== 'object' || nodes === null) return undefined;
  const out = new Map<string, PbsNodeRecord>();
  for (const [name, attrs] of Object.entries(nodes as Record<string, unknown>)) {
    if (typeof attrs !== 'object' || attrs === null) continue;
    const { state, comment } = attrs as { state?: unknown; comment?: unknown };
    if (typeof state !== 'string') continue;
    out.set(name, { name, state, ...(typeof comment === 'string' ? { comment } : {}) });
  }
  return out;
}

// Node states in which the mom does not answer: its jobs are as good as lost.
const LOST = new Set(['down', 'state-unknown', 'stale', 'unresolvable']);
// Node states in which it starts no new job (`offline`: an administrator's, it finishes its jobs).
const CLOSED = new Set([...LOST, 'offline', 'offline_by_mom']);

/** Reads a node's comma-separated state: whether its mom is lost, whether it starts new jobs. @public */
export function pbsNodeState(state: string): { readonly lost: boolean; readonly closed: boolean } {
  const words = state
    .toLowerCase()
    .split(',')
    .map((w) => w.trim());
  return { lost: words.some((w) => LOST.has(w)), closed: words.some((w) => CLOSED.has(w)) };
}

/** The hosts of `exec_host`: `cn01/0*2+cn02/1` → `cn01`, `cn02`. @public */
export function execHosts(execHost: string | undefined): string[] {
  if (execHost === undefined) return [];
  const hosts = execHost
    .split('+')
    .map((part) => part.split('/')[0]?.trim() ?? '')
    .filter((h) => h !== '');
  return [...new Set(hosts)];
}

function describeNode(node: PbsNodeRecord): string {
  return `${node.name} (${node.state}${node.comment === undefined ? '' : `, ${node.comment}`})`;
}

/**
 * Which live jobs cannot progress because of their nodes: a started job (`R`, `E`, `S`, `U`)
 * whose `exec_host` names a node that is down, state-unknown, stale or unresolvable; a queued
 * job (`Q`) when no node of the complex can start jobs (all down or offline). Held and waiting
 * jobs wait for something else. Returns the words for each stalled job id (see
 * `BatchQueueBackend.stalls` of `@phys/scheduler-kit`).
 * @public
 */
export function pbsStalls(
  jobs: ReadonlyMap<string, PbsJobStatus>,
  nodes: ReadonlyMap<string, PbsNodeRecord>,
): Map<string, string> {
  const out = new Map<string, string>();
  const all = [...nodes.values()];
  const noneOpen = all.length > 0 && all.every((n) => pbsNodeState(n.state).closed);
  for (const [id, { record }] of jobs) {
    const hosts = execHosts(record.exec_host);
    if (hosts.length > 0 && record.job_state !== 'Q') {
      const lost = hosts
        .map((h) => nodes.get(h) ?? nodes.get(h.split('.')[0] as string))
        .filter((n): n is PbsNodeRecord => n !== undefined && pbsNodeState(n.state).lost);
      const first = lost[0];
      if (first === undefined) continue;
      out.set(
        id,
        lost.length === 1
          ? `compute node ${describeNode(first)} is down`
          : `${lost.length} of its compute nodes are down: ${lost.slice(0, 3).map(describeNode).join(', ')}${lost.length > 3 ? ', ...' : ''}`,
      );
      continue;
    }
    if (record.job_state === 'Q' && noneOpen) {
      const shown = all.slice(0, 3).map(describeNode).join(', ');
      out.set(
        id,
        `no compute node can start jobs: ${shown}${all.length > 3 ? `, ... (${all.length} nodes)` : ''}`,
      );
    }
  }
  return out;
}
