import { type NodeSpec, resources } from '@phys/core';
import { Add, Burn } from './stages.js';

/** `n0 → n1 → ...`, each Add{1}. */
export function chain(n: number): NodeSpec[] {
  const stage = Add({ amount: 1 });
  const nodes: NodeSpec[] = [];
  for (let i = 0; i < n; i++)
    nodes.push({ id: `n${i}`, stage, deps: i === 0 ? [] : [`n${i - 1}`] });
  return nodes;
}

/** n independent nodes `w_i` = Add{i}. */
export function wide(n: number): NodeSpec[] {
  const nodes: NodeSpec[] = [];
  for (let i = 0; i < n; i++) nodes.push({ id: `w_${i}`, stage: Add({ amount: i }) });
  return nodes;
}

/** n independent nodes `t_i` = Add{i}, each run on a worker thread (`isolation: 'thread'`). */
export function threaded(n: number): NodeSpec[] {
  const nodes: NodeSpec[] = [];
  for (let i = 0; i < n; i++) {
    nodes.push({ id: `t_${i}`, stage: Add({ amount: i }), isolation: 'thread' });
  }
  return nodes;
}

/** `layers` × `width`; node l{k}_{i} depends on l{k-1}_{i} and l{k-1}_{(i+1)%width}; Add{1}. */
export function grid(layers: number, width: number): NodeSpec[] {
  const stage = Add({ amount: 1 });
  const nodes: NodeSpec[] = [];
  for (let k = 0; k < layers; k++) {
    for (let i = 0; i < width; i++) {
      nodes.push({
        id: `l${k}_${i}`,
        stage,
        deps: k === 0 ? [] : [`l${k - 1}_${i}`, `l${k - 1}_${(i + 1) % width}`],
      });
    }
  }
  return nodes;
}

/** n independent Burn{iters, seed i} nodes, one cpu each. */
export function burn(n: number, iters: number): NodeSpec[] {
  const nodes: NodeSpec[] = [];
  for (let i = 0; i < n; i++) {
    nodes.push({ id: `b_${i}`, stage: Burn({ iters, seed: i }), resources: resources({ cpu: 1 }) });
  }
  return nodes;
}
