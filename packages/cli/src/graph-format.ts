import type { NodeStatus } from '@phys/core';

/** The part of a node that a drawing needs. @public */
export interface GraphNode {
  /** Node id (any string; it is escaped). */
  readonly id: string;
  /** Ids of the nodes it depends on; unknown ids are left out of the drawing. */
  readonly deps?: readonly string[];
  /** Its stage, for the stage name under the id. */
  readonly stage?: { readonly name: string } | undefined;
}

/** Options of {@link toMermaid} and {@link toDot}. @public */
export interface GraphFormatOptions {
  /** Layout direction (default top to bottom). */
  readonly direction?: 'TB' | 'LR';
  /** Shows each node's stage name under its id (default true). */
  readonly stageNames?: boolean;
  /** Colours nodes by status (e.g. the `nodes` of a finished run). */
  readonly statuses?: Readonly<Record<string, NodeStatus | { readonly status: NodeStatus }>>;
}

const COLOURS: Readonly<Partial<Record<NodeStatus, string>>> = {
  COMPLETED: '#c8e6c9',
  CACHED: '#bbdefb',
  FAILED: '#ffcdd2',
  TIMEOUT: '#ffe0b2',
  CANCELLED: '#e0e0e0',
  SKIPPED: '#f5f5f5',
  RUNNING: '#fff9c4',
};

function statusOf(options: GraphFormatOptions, id: string): NodeStatus | undefined {
  const s = options.statuses?.[id];
  return s === undefined ? undefined : typeof s === 'string' ? s : s.status;
}

/**
 * A Mermaid flowchart of a DAG (what `phys graph` prints). Node ids are written as labels, so
 * any id is safe; nodes keep their input order and edges their deps order.
 * @public
 */
export function toMermaid(nodes: readonly GraphNode[], options: GraphFormatOptions = {}): string {
  const index = new Map<string, number>();
  nodes.forEach((node, i) => {
    index.set(node.id, i);
  });
  const lines = [`flowchart ${options.direction === 'LR' ? 'LR' : 'TD'}`];
  const esc = (text: string): string =>
    text.replace(/&/g, '#amp;').replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;');
  nodes.forEach((node, i) => {
    const stage =
      options.stageNames !== false && node.stage?.name
        ? `<br/><small>${esc(node.stage.name)}</small>`
        : '';
    lines.push(`  n${i}["${esc(node.id)}${stage}"]`);
  });
  nodes.forEach((node, i) => {
    for (const dep of node.deps ?? []) {
      const d = index.get(dep);
      if (d !== undefined) lines.push(`  n${d} --> n${i}`);
    }
  });
  const used = new Set<NodeStatus>();
  nodes.forEach((node, i) => {
    const status = statusOf(options, node.id);
    if (status !== undefined && COLOURS[status] !== undefined) {
      used.add(status);
      lines.push(`  class n${i} ${status.toLowerCase()}`);
    }
  });
  for (const status of used)
    lines.push(`  classDef ${status.toLowerCase()} fill:${COLOURS[status]}`);
  return `${lines.join('\n')}\n`;
}

/**
 * A Graphviz DOT digraph of a DAG (`phys graph --format dot`).
 * @public
 */
export function toDot(nodes: readonly GraphNode[], options: GraphFormatOptions = {}): string {
  const quote = (text: string): string =>
    `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
  const known = new Set(nodes.map((n) => n.id));
  const lines = [
    'digraph dag {',
    `  rankdir=${options.direction === 'LR' ? 'LR' : 'TB'};`,
    '  node [shape=box, style="rounded,filled", fillcolor="#ffffff"];',
  ];
  for (const node of nodes) {
    const stage = options.stageNames !== false && node.stage?.name ? `\n${node.stage.name}` : '';
    const status = statusOf(options, node.id);
    const fill = status === undefined ? undefined : COLOURS[status];
    lines.push(
      `  ${quote(node.id)} [label=${quote(node.id + stage)}${fill === undefined ? '' : `, fillcolor=${quote(fill)}`}];`,
    );
  }
  for (const node of nodes) {
    for (const dep of node.deps ?? []) {
      if (known.has(dep)) lines.push(`  ${quote(dep)} -> ${quote(node.id)};`);
    }
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
