import type { PipelineDeclaration } from '@phys/core';
import type { PhysRuntime } from '@phys/runtime';
import type { ConfigOptions } from '../cli.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { plural, stringify, table, toJsonValue } from '../format.js';
import { withRuntime } from '../open-runtime.js';
import { pluginVersions } from '../plugin-versions.js';

/** What `phys config --json` prints. */
export interface ConfigReport {
  readonly configFile: string | undefined;
  readonly configDir: string;
  readonly cacheDir: string;
  readonly logLevel: string;
  readonly policy: unknown;
  readonly plugins: readonly {
    readonly name: string;
    /** The installed package's version (else the plugin's own); null for a plugin of the project. */
    readonly version: string | null;
    readonly apiVersion: number;
    readonly provides: readonly string[];
  }[];
  readonly stages: readonly {
    readonly name: string;
    readonly version: string;
    readonly description: string | undefined;
    readonly isolation: string | undefined;
  }[];
  readonly pipelines: readonly {
    readonly name: string;
    readonly kind: 'sequential' | 'dag';
    /** Number of stages (sequential) or nodes (DAG). */
    readonly size: number;
    readonly description: string | undefined;
  }[];
}

function pipelineSummary(
  name: string,
  declaration: PipelineDeclaration,
): ConfigReport['pipelines'][number] {
  return declaration.kind === 'dag'
    ? { name, kind: 'dag', size: declaration.nodes.length, description: declaration.description }
    : {
        name,
        kind: 'sequential',
        size: declaration.stages.length,
        description: declaration.description,
      };
}

/** The resolved config of a runtime, as `phys config` shows it. */
export function describeRuntime(runtime: PhysRuntime): ConfigReport {
  const versions = pluginVersions(runtime.config.plugins ?? [], runtime.plugins, runtime.configDir);
  return {
    configFile: runtime.configFile,
    configDir: runtime.configDir,
    cacheDir: runtime.cacheDir,
    logLevel: runtime.config.logLevel ?? 'info',
    policy: toJsonValue(runtime.config.policy ?? {}),
    plugins: runtime.plugins.map((p, i) => ({
      name: p.name,
      version: versions[i] ?? null,
      apiVersion: p.apiVersion,
      provides: [...(p.provides ?? [])],
    })),
    stages: runtime.stages
      .list()
      .map((d) => ({
        name: d.stageName,
        version: d.version,
        description: d.description,
        isolation: d.isolation,
      }))
      .sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version)),
    pipelines: Object.entries(runtime.pipelines)
      .map(([name, d]) => pipelineSummary(name, d))
      .sort((a, b) => a.name.localeCompare(b.name)),
  };
}

function printConfig(ctx: CliContext, report: ConfigReport): void {
  ctx.out(`config    ${report.configFile ?? '(in memory)'}`);
  ctx.out(`cacheDir  ${report.cacheDir}`);
  ctx.out(`logLevel  ${report.logLevel}`);
  const policy = Object.entries(report.policy as Record<string, unknown>);
  if (policy.length > 0) {
    ctx.out('policy');
    for (const [k, v] of policy) ctx.out(`  ${k} = ${JSON.stringify(v)}`);
  }

  ctx.out();
  ctx.out(`plugins (${report.plugins.length})`);
  const plugins = report.plugins.map((p) => [
    p.name,
    p.version ?? '-',
    p.provides.length === 0 ? '-' : p.provides.join(', '),
  ]);
  if (plugins.length > 0) {
    for (const line of table([['name', 'version', 'provides'], ...plugins])) ctx.out(`  ${line}`);
  }

  ctx.out();
  ctx.out(`stages (${report.stages.length})`);
  const stages = report.stages.map((s) => [`${s.name}@${s.version}`, s.description ?? '']);
  if (stages.length > 0)
    for (const line of table([['stage', 'description'], ...stages])) ctx.out(`  ${line}`);

  ctx.out();
  ctx.out(`pipelines (${report.pipelines.length})`);
  const pipelines = report.pipelines.map((p) => [
    p.name,
    p.kind,
    plural(p.size, p.kind === 'dag' ? 'node' : 'stage'),
    p.description ?? '',
  ]);
  if (pipelines.length > 0) {
    for (const line of table([['name', 'kind', 'size', 'description'], ...pipelines]))
      ctx.out(`  ${line}`);
  }
}

/** `phys config`: loads the config, registers and initialises its plugins, and shows the result. */
export async function configCommand(ctx: CliContext, options: ConfigOptions): Promise<number> {
  const report = await withRuntime(ctx, options, 'config', async (runtime) =>
    describeRuntime(runtime),
  );
  if (options.json === true) ctx.out(stringify(report));
  else printConfig(ctx, report);
  return ExitCode.OK;
}
