// The DAG of a run as an SVG graph: laid out in layers by dagre, panned by dragging or the arrow
// keys, zoomed by the wheel or +/-; sweep copies of a node collapse into one group node when the
// graph is large, so thousands of nodes stay readable and fast.
import dagre from '@dagrejs/dagre';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { GraphNode, PipelineGraph } from './api.js';
import { baseId } from './format.js';

/** Above this many nodes (more than a laptop screen shows legibly), sweep copies are grouped unless the user asks for every copy. */
export const GROUP_ABOVE = 24;
/** A node with fewer copies than this is never grouped. */
const GROUP_MIN = 4;
const NODE_W = 180;
const NODE_H = 44;
const GROUP_W = 220;
const GROUP_H = 62;
const STATUS_ORDER = [
  'COMPLETED',
  'CACHED',
  'RUNNING',
  'QUEUED',
  'FAILED',
  'TIMEOUT',
  'CANCELLED',
  'SKIPPED',
];

/** What is drawn: a node, or a group of the copies of one swept node. */
export interface DrawnNode {
  readonly key: string;
  readonly label: string;
  /** The ids of the graph's nodes it stands for (one for a plain node). */
  readonly members: readonly string[];
  readonly group: boolean;
  x: number;
  y: number;
  readonly width: number;
  readonly height: number;
}

interface Layout {
  readonly nodes: DrawnNode[];
  readonly edges: { readonly key: string; readonly points: readonly { x: number; y: number }[] }[];
  readonly width: number;
  readonly height: number;
}

function layout(graph: PipelineGraph, grouped: boolean): Layout {
  const groupOf = new Map<string, string>();
  const members = new Map<string, string[]>();
  if (grouped) {
    const byBase = new Map<string, GraphNode[]>();
    for (const node of graph.nodes) {
      const base = baseId(node.id);
      if (base === node.id) continue;
      const list = byBase.get(base) ?? [];
      if (list.length === 0) byBase.set(base, list);
      list.push(node);
    }
    for (const [base, list] of byBase) {
      if (list.length < GROUP_MIN) continue;
      const key = `group:${base}`;
      members.set(
        key,
        list.map((n) => n.id),
      );
      for (const n of list) groupOf.set(n.id, key);
    }
  }
  const g = new dagre.graphlib.Graph({ multigraph: false });
  g.setGraph({ rankdir: 'LR', nodesep: 14, ranksep: 60, marginx: 20, marginy: 20 });
  g.setDefaultEdgeLabel(() => ({}));
  const drawn = new Map<string, DrawnNode>();
  for (const node of graph.nodes) {
    const key = groupOf.get(node.id) ?? node.id;
    if (drawn.has(key)) continue;
    const group = key !== node.id;
    const list = members.get(key) ?? [node.id];
    const d: DrawnNode = {
      key,
      label: group ? `${baseId(node.id)} × ${list.length}` : node.id,
      members: list,
      group,
      x: 0,
      y: 0,
      width: group ? GROUP_W : NODE_W,
      height: group ? GROUP_H : NODE_H,
    };
    drawn.set(key, d);
    g.setNode(key, { width: d.width, height: d.height });
  }
  for (const node of graph.nodes) {
    const to = groupOf.get(node.id) ?? node.id;
    for (const dep of node.deps) {
      const from = groupOf.get(dep) ?? dep;
      if (from !== to && drawn.has(from) && !g.hasEdge(from, to)) g.setEdge(from, to);
    }
  }
  dagre.layout(g);
  for (const d of drawn.values()) {
    const placed = g.node(d.key);
    d.x = placed.x;
    d.y = placed.y;
  }
  const edges = g.edges().map((e) => ({
    key: `${e.v}→${e.w}`,
    points: (g.edge(e).points ?? []).map((p: { x: number; y: number }) => ({ x: p.x, y: p.y })),
  }));
  const size = g.graph();
  return {
    nodes: [...drawn.values()],
    edges,
    width: size.width ?? 0,
    height: size.height ?? 0,
  };
}

/** Shortens a label to the characters that fit a node. */
const clip = (text: string, max: number) =>
  text.length > max ? `${text.slice(0, max - 1)}…` : text;

interface View {
  x: number;
  y: number;
  k: number;
}

export interface GraphProps {
  readonly graph: PipelineGraph;
  readonly statuses: Readonly<Record<string, string>>;
  readonly selected: string | undefined;
  readonly onSelect: (node: DrawnNode) => void;
  readonly grouped: boolean;
}

export function Graph({ graph, statuses, selected, onSelect, grouped }: GraphProps) {
  const drawing = useMemo(() => layout(graph, grouped), [graph, grouped]);
  const box = useRef<HTMLDivElement>(null);
  const [view, setView] = useState<View>({ x: 0, y: 0, k: 1 });
  const drag = useRef<{ x: number; y: number; vx: number; vy: number } | undefined>(undefined);

  const fit = () => {
    const el = box.current;
    if (el === null) return;
    const { width, height } = el.getBoundingClientRect();
    const k = Math.min(1.2, width / (drawing.width || 1), height / (drawing.height || 1));
    setView({ k, x: (width - drawing.width * k) / 2, y: (height - drawing.height * k) / 2 });
  };
  useEffect(fit, [drawing]);

  const zoom = (factor: number, cx?: number, cy?: number) => {
    const el = box.current;
    const rect = el?.getBoundingClientRect();
    const px = cx ?? (rect === undefined ? 0 : rect.width / 2);
    const py = cy ?? (rect === undefined ? 0 : rect.height / 2);
    setView((v) => {
      const k = Math.min(4, Math.max(0.02, v.k * factor));
      const f = k / v.k;
      return { k, x: px - (px - v.x) * f, y: py - (py - v.y) * f };
    });
  };

  const onKey = (event: KeyboardEvent) => {
    if ((event.target as Element).closest('[data-node]') !== null && event.key === 'Enter') return;
    const step = 60;
    const moves: Record<string, [number, number]> = {
      ArrowLeft: [step, 0],
      ArrowRight: [-step, 0],
      ArrowUp: [0, step],
      ArrowDown: [0, -step],
    };
    const move = moves[event.key];
    if (move !== undefined) {
      event.preventDefault();
      setView((v) => ({ ...v, x: v.x + move[0], y: v.y + move[1] }));
    } else if (event.key === '+' || event.key === '=') zoom(1.25);
    else if (event.key === '-') zoom(0.8);
    else if (event.key === '0') fit();
  };

  return (
    <div class="graph">
      <div class="graph-tools" role="toolbar" aria-label="Graph view">
        <button type="button" onClick={() => zoom(1.25)} aria-label="Zoom in">
          +
        </button>
        <button type="button" onClick={() => zoom(0.8)} aria-label="Zoom out">
          −
        </button>
        <button type="button" onClick={fit}>
          Fit
        </button>
      </div>
      {/* A widget of its own (drag and arrow keys pan, + and − zoom): role application. */}
      <div
        class="graph-canvas"
        ref={box}
        role="application"
        // biome-ignore lint/a11y/noNoninteractiveTabindex: an application widget takes the focus for its keys
        tabIndex={0}
        aria-label="Run graph: arrow keys pan, + and − zoom, 0 fits"
        onKeyDown={onKey}
        onWheel={(event) => {
          event.preventDefault();
          const rect = box.current?.getBoundingClientRect();
          zoom(
            event.deltaY < 0 ? 1.15 : 1 / 1.15,
            event.clientX - (rect?.left ?? 0),
            event.clientY - (rect?.top ?? 0),
          );
        }}
        onPointerDown={(event) => {
          if ((event.target as Element).closest('[data-node]') !== null) return;
          drag.current = { x: event.clientX, y: event.clientY, vx: view.x, vy: view.y };
          (event.currentTarget as HTMLElement).setPointerCapture(event.pointerId);
        }}
        onPointerMove={(event) => {
          const d = drag.current;
          if (d === undefined) return;
          setView((v) => ({ ...v, x: d.vx + event.clientX - d.x, y: d.vy + event.clientY - d.y }));
        }}
        onPointerUp={() => {
          drag.current = undefined;
        }}
      >
        <svg width="100%" height="100%" role="img" aria-label={`Graph of ${graph.name}`}>
          <defs>
            <marker
              id="arrow"
              viewBox="0 0 10 10"
              refX="10"
              refY="5"
              markerWidth="6"
              markerHeight="6"
              orient="auto-start-reverse"
            >
              <path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead" />
            </marker>
          </defs>
          <g transform={`translate(${view.x},${view.y}) scale(${view.k})`}>
            {drawing.edges.map((e) => (
              <path
                key={e.key}
                class="edge"
                marker-end="url(#arrow)"
                d={e.points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x},${p.y}`).join(' ')}
              />
            ))}
            {drawing.nodes.map((n) => (
              <DrawnNodeView
                key={n.key}
                node={n}
                statuses={statuses}
                selected={selected === n.key}
                onSelect={onSelect}
              />
            ))}
          </g>
        </svg>
      </div>
    </div>
  );
}

/** How many members of a group are in each status. */
export function countStatuses(
  members: readonly string[],
  statuses: Readonly<Record<string, string>>,
): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const id of members) {
    const s = statuses[id] ?? 'QUEUED';
    counts[s] = (counts[s] ?? 0) + 1;
  }
  return counts;
}

/** The status a group shows: failed first, then running, queued, and done when all are. */
export function groupStatus(counts: Readonly<Record<string, number>>): string {
  for (const s of ['FAILED', 'TIMEOUT', 'RUNNING', 'CANCELLED', 'QUEUED']) {
    if ((counts[s] ?? 0) > 0) return s;
  }
  return (counts.CACHED ?? 0) > 0 && (counts.COMPLETED ?? 0) === 0 ? 'CACHED' : 'COMPLETED';
}

function DrawnNodeView({
  node,
  statuses,
  selected,
  onSelect,
}: {
  node: DrawnNode;
  statuses: Readonly<Record<string, string>>;
  selected: boolean;
  onSelect: (node: DrawnNode) => void;
}) {
  const x = node.x - node.width / 2;
  const y = node.y - node.height / 2;
  const select = () => onSelect(node);
  if (!node.group) {
    const status = statuses[node.key] ?? 'QUEUED';
    // On SVG elements Preact sets attributes, and the attribute is `tabindex` (lower case).
    return (
      // biome-ignore lint/a11y/useSemanticElements: an SVG node cannot be a <button>
      <g
        data-node={node.key}
        data-status={status}
        class={`node st-${status}${selected ? ' selected' : ''}`}
        transform={`translate(${x},${y})`}
        tabindex={0}
        role="button"
        aria-label={`${node.key}: ${status}`}
        aria-pressed={selected}
        onClick={select}
        onKeyDown={(e) => {
          if (e.key === 'Enter' || e.key === ' ') {
            e.preventDefault();
            select();
          }
        }}
      >
        <title>{node.key}</title>
        <rect width={node.width} height={node.height} rx="6" />
        <text x="10" y="18" class="node-label">
          {clip(node.label, 24)}
        </text>
        <text x="10" y="35" class="node-status">
          {status}
        </text>
      </g>
    );
  }
  const counts = countStatuses(node.members, statuses);
  const status = groupStatus(counts);
  const done = (counts.COMPLETED ?? 0) + (counts.CACHED ?? 0);
  let offset = 0;
  const barWidth = node.width - 20;
  return (
    // biome-ignore lint/a11y/useSemanticElements: an SVG node cannot be a <button>
    <g
      data-node={node.key}
      data-status={status}
      class={`node group st-${status}${selected ? ' selected' : ''}`}
      transform={`translate(${x},${y})`}
      tabindex={0}
      role="button"
      aria-label={`${node.label}: ${done} of ${node.members.length} done`}
      aria-pressed={selected}
      onClick={select}
      onKeyDown={(e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          select();
        }
      }}
    >
      <title>{node.label}</title>
      <rect width={node.width} height={node.height} rx="6" class="group-back" />
      <rect width={node.width} height={node.height} rx="6" />
      <text x="10" y="18" class="node-label">
        {clip(node.label, 28)}
      </text>
      <text x="10" y="35" class="node-status">
        {done}/{node.members.length} done
        {(counts.RUNNING ?? 0) > 0 ? ` · ${counts.RUNNING} running` : ''}
        {(counts.FAILED ?? 0) > 0 ? ` · ${counts.FAILED} failed` : ''}
      </text>
      <g transform={`translate(10,${node.height - 16})`}>
        {STATUS_ORDER.filter((s) => (counts[s] ?? 0) > 0).map((s) => {
          const w = (barWidth * (counts[s] ?? 0)) / node.members.length;
          const seg = <rect key={s} class={`seg st-${s}`} x={offset} width={w} height="6" />;
          offset += w;
          return seg;
        })}
      </g>
    </g>
  );
}
