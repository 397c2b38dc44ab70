import { type NodeSpec, PhysError } from '@phys/core';

/** Renders nodes as Mermaid or Graphviz dot. */
export type GraphRenderer = (nodes: readonly NodeSpec[]) => string;

/**
 * The renderers live with the DAG executor, which owns graph validation. They are imported on
 * demand so that other commands never pay for loading the executor.
 */
export async function graphRenderer(format: 'mermaid' | 'dot'): Promise<GraphRenderer> {
  let module: { toMermaid?: unknown; toDot?: unknown };
  try {
    module = await import('@phys/executor-dag');
  } catch (error) {
    throw new PhysError(
      'PHYS_CLI_GRAPH_UNAVAILABLE',
      `phys graph needs @phys/executor-dag, which could not be loaded: ${error instanceof Error ? error.message : String(error)}. Reinstall @phys/cli.`,
      { cause: error },
    );
  }
  const render = format === 'dot' ? module.toDot : module.toMermaid;
  if (typeof render !== 'function') {
    throw new PhysError(
      'PHYS_CLI_GRAPH_UNAVAILABLE',
      `The installed @phys/executor-dag does not export ${format === 'dot' ? 'toDot' : 'toMermaid'}; install a version that matches @phys/cli.`,
    );
  }
  return render as GraphRenderer;
}
