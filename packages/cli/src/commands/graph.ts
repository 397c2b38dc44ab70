import { type NodeSpec, type PipelineDeclaration, validateDag } from '@phys/core';
import type { GraphOptions } from '../cli.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { stringify } from '../format.js';
import { toDot, toMermaid } from '../graph-format.js';
import { withRuntime } from '../open-runtime.js';

/**
 * The nodes of a pipeline: a DAG's own, or a sequential pipeline as a chain (each stage depends
 * on the one before it; a repeated label gets a `#n` suffix so node ids stay unique). A DAG that
 * `phys run` would reject (a cycle, a missing dependency, ...) throws the same
 * `DagValidationError`: a drawing of it would look like a pipeline that can run.
 */
export function pipelineNodes(declaration: PipelineDeclaration): readonly NodeSpec[] {
  if (declaration.kind === 'dag') {
    validateDag(declaration.nodes);
    return declaration.nodes;
  }
  const seen = new Map<string, number>();
  const nodes: NodeSpec[] = [];
  for (const stage of declaration.stages) {
    const n = (seen.get(stage.label) ?? 0) + 1;
    seen.set(stage.label, n);
    const id = n === 1 ? stage.label : `${stage.label}#${n}`;
    const previous = nodes.at(-1);
    nodes.push({ id, stage, deps: previous === undefined ? [] : [previous.id] });
  }
  return nodes;
}

/** `phys graph <pipeline>`: Mermaid (default) or Graphviz dot on stdout. Plugins are not started. */
export async function graphCommand(
  ctx: CliContext,
  name: string,
  options: GraphOptions,
): Promise<number> {
  // Plugins are registered (their stages may be needed) but not initialised: nothing runs.
  const nodes = await withRuntime(
    ctx,
    options,
    'graph',
    async (runtime) => pipelineNodes(runtime.pipeline(name)),
    { init: false },
  );
  const text = options.format === 'dot' ? toDot(nodes) : toMermaid(nodes);
  if (options.json === true)
    ctx.out(stringify({ pipeline: name, format: options.format, graph: text }));
  else ctx.out(text.trimEnd());
  return ExitCode.OK;
}
