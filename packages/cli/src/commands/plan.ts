import { formatKeyChange, type KeyChangeReason, planDag, UsageError } from '@phys/core';
import type { PlanOptions } from '../cli.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { plural, stringify, table } from '../format.js';
import { withRuntime } from '../open-runtime.js';
import { configuredCache } from './cache.js';
import { parseOverrides } from './run.js';

/** What `phys plan --json` prints. */
export interface PlanReport {
  readonly pipeline: string;
  readonly cache: string;
  readonly nodes: readonly {
    readonly id: string;
    readonly key: string;
    readonly cached: boolean;
    /** False: neither cached nor needed by an output or a node that runs, so it will not run. */
    readonly needed: boolean;
    readonly deps: readonly string[];
    /** Why the node will run (empty when cached or not needed). */
    readonly reasons: readonly KeyChangeReason[];
    /** The reasons in words (`cached` and `not needed` for the nodes that will not run). */
    readonly why: string;
  }[];
  readonly cached: number;
  readonly toRun: number;
  /** Nodes neither cached nor needed. */
  readonly notNeeded: number;
}

const NOT_NEEDED = 'not needed';

// How many nodes the human listing shows before pointing at --json.
const MAX_ROWS = 200;

/**
 * `phys plan <pipeline>`: which nodes of a DAG the cache already holds, which would run and why,
 * and which are not needed (missing, but needed by no output and no node that runs), without
 * running anything. Keys are derived exactly as `phys run` derives them (same
 * policy, `--set` overrides included, same initial state).
 */
export async function planCommand(
  ctx: CliContext,
  name: string,
  options: PlanOptions,
): Promise<number> {
  const overrides = parseOverrides(options.set);
  return withRuntime(ctx, options, 'plan', async (runtime) => {
    const declaration = runtime.pipeline(name);
    if (declaration.kind !== 'dag') {
      throw new UsageError(
        `Pipeline '${name}' is sequential; its stages run in order without the result cache, so there is nothing to plan. phys plan works on DAG pipelines (kind: 'dag').`,
      );
    }
    const cache = configuredCache(runtime, 'phys plan');
    const initial = declaration.initialState;
    const initialState =
      typeof initial === 'function' ? await (initial as () => unknown)() : initial;
    // The policy object `phys run` hands the executor, so that both derive the same keys.
    const policy = { ...runtime.config.policy, ...declaration.policy, ...overrides };
    const plan = await planDag(declaration.nodes, cache, {
      initialState,
      policy,
      verify: options.verify,
    });
    const report: PlanReport = {
      pipeline: name,
      cache: cache.name,
      nodes: plan.nodes.map((n) => ({
        id: n.id,
        key: n.key,
        cached: n.cached,
        needed: n.needed,
        deps: n.deps,
        reasons: n.reasons,
        why: n.cached ? 'cached' : n.needed ? formatKeyChange(n.reasons) : NOT_NEEDED,
      })),
      cached: plan.cached,
      toRun: plan.toRun,
      notNeeded: plan.notNeeded,
    };
    if (options.json === true) {
      ctx.out(stringify(report));
      return ExitCode.OK;
    }
    const skipped = plan.notNeeded > 0 ? `, ${plan.notNeeded} ${NOT_NEEDED}` : '';
    ctx.out(
      `${name}: ${plan.cached} cached, ${plan.toRun} to run${skipped} (${plural(plan.nodes.length, 'node')}, cache ${cache.name})`,
    );
    const rows = report.nodes
      .slice(0, MAX_ROWS)
      .map((n) =>
        n.cached
          ? [n.id, 'cached', '']
          : n.needed
            ? [n.id, 'will run', n.why]
            : [n.id, NOT_NEEDED, 'nothing that runs needs it'],
      );
    ctx.out();
    for (const line of table([['node', 'status', 'why'], ...rows])) ctx.out(`  ${line}`);
    if (report.nodes.length > MAX_ROWS) {
      ctx.out(`  ... and ${report.nodes.length - MAX_ROWS} more nodes (see --json)`);
    }
    return ExitCode.OK;
  });
}
