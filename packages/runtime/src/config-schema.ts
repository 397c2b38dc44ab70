import type {
  DagPipelineDeclaration,
  NodeSpec,
  PhysConfig,
  PipelineDeclaration,
  SequentialPipelineDeclaration,
} from '@phys/core';
import {
  ConfigError,
  type ConfigIssue,
  formatIssues,
  isPhysPlugin,
  isStage,
  isStageDefinition,
  retryPolicyIssues,
  zodIssues,
} from '@phys/core';
import { z } from 'zod';
import { SequentialPipeline } from './pipeline/sequential-pipeline.js';
import { duplicateNameIssues, pipelineScheduleIssues } from './schedules/parse-schedule.js';
import { editDistance } from './suggest.js';

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'function') return `a function${value.name ? ` (${value.name})` : ''}`;
  if (typeof value === 'string') return JSON.stringify(value);
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

function pluginEntryProblem(entry: unknown): string | undefined {
  if (entry === false || entry === null || entry === undefined) return undefined;
  if (typeof entry === 'string') {
    return entry.trim() === '' ? 'empty plugin name' : undefined;
  }
  if (Array.isArray(entry)) {
    const [name] = entry as unknown[];
    if (entry.length >= 1 && entry.length <= 2 && typeof name === 'string' && name.trim() !== '') {
      return undefined;
    }
    return `expected [name, options] with a non-empty package name, got [${(entry as unknown[]).map(describe).join(', ')}]`;
  }
  if (isPhysPlugin(entry)) return undefined;
  if (typeof entry === 'function') {
    return `got ${describe(entry)}, a plugin factory rather than a plugin: call it (\`${entry.name || 'plugin'}(options)\`) or give its package name as a string`;
  }
  return `got ${describe(entry)}; a plugin entry is a plugin made by definePlugin(), a package name, [name, options], or false`;
}

const pluginEntry = z.unknown().superRefine((entry, ctx) => {
  const problem = pluginEntryProblem(entry);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

const stageDefinition = z.unknown().superRefine((value, ctx) => {
  if (isStageDefinition(value)) return;
  ctx.addIssue({
    code: 'custom',
    message: isStage(value)
      ? `got the configured stage '${value.name}'; list the definition itself (the value defineStage() returned), not a call of it`
      : `got ${describe(value)}; expected a stage definition made by defineStage()`,
  });
});

const configuredStage = z.unknown().superRefine((value, ctx) => {
  if (isStage(value)) return;
  ctx.addIssue({
    code: 'custom',
    message: isStageDefinition(value)
      ? `got the stage definition '${value.stageName}'; call it with a config (\`${value.stageName.split('/').at(-1)}({...})\`) to get a stage`
      : `got ${describe(value)}; expected a configured stage (a stage definition called with its config)`,
  });
});

const policy = z.record(z.string(), z.unknown());

// `satisfies` keeps each schema in step with its TypeScript type: a key added to the type
// without a schema entry fails the build, so no declared key can be rejected as unknown.
const nodeShape = {
  id: z.string().min(1),
  stage: configuredStage,
  deps: z.array(z.string().min(1)).optional(),
  resources: z.unknown().optional(),
  retry: z
    .unknown()
    .superRefine((value, ctx) => {
      if (value === undefined) return;
      // One validator for retry policies (core's), so config and executor agree on what is valid.
      for (const issue of retryPolicyIssues(value)) {
        ctx.addIssue({
          code: 'custom',
          message: issue.message,
          path: issue.path === '' ? [] : issue.path.split('.'),
        });
      }
    })
    .optional(),
  timeoutSeconds: z.number().positive().optional(),
  isolation: z.enum(['inline', 'thread', 'process']).optional(),
  tags: z.record(z.string(), z.string()).optional(),
  modelArtifact: z.boolean().optional(),
  // What they must name (deps, unique names) is checked with the graph, by core's validator.
  inputNames: z.record(z.string(), z.string().min(1)).optional(),
  point: z.record(z.string(), z.unknown()).optional(),
} satisfies Record<keyof NodeSpec, z.ZodType>;

const sequentialShape = {
  kind: z.literal('sequential').optional(),
  description: z.string().optional(),
  stages: z.array(configuredStage).min(1, 'a pipeline needs at least one stage'),
  initialState: z.unknown().optional(),
  policy: policy.optional(),
  // Checked with the schedule rules (schedules/parse-schedule.ts), for messages that say why.
  schedule: z.unknown().optional(),
} satisfies Record<keyof SequentialPipelineDeclaration, z.ZodType>;

const dagShape = {
  kind: z.literal('dag'),
  description: z.string().optional(),
  nodes: z.array(z.strictObject(nodeShape)).min(1, 'a DAG needs at least one node'),
  initialState: z.unknown().optional(),
  policy: policy.optional(),
  schedule: z.unknown().optional(),
} satisfies Record<keyof DagPipelineDeclaration, z.ZodType>;

const sequentialSchema = z.strictObject(sequentialShape);
const dagSchema = z.strictObject(dagShape);

const configShape = {
  plugins: z.array(pluginEntry).optional(),
  stages: z.array(stageDefinition).optional(),
  // Each declaration is checked against the schema of its kind (below), so that its issues
  // name the real problem instead of zod's "no union member matched".
  pipelines: z.record(z.string(), z.unknown()).optional(),
  cacheDir: z.string().min(1).optional(),
  logLevel: z.enum(['debug', 'info', 'warn', 'error', 'silent']).optional(),
  policy: policy.optional(),
} satisfies Record<keyof PhysConfig, z.ZodType>;

const configSchema = z.strictObject(configShape);

const KNOWN_KEYS: readonly string[] = Object.keys(configShape);

/** Adds "did you mean" to unknown top-level keys: the common typo is `plugin:` or `pipeline:`. */
function withSuggestions(issues: readonly ConfigIssue[]): ConfigIssue[] {
  return issues.map((issue) => {
    if (!issue.message.startsWith('unknown key') || issue.path.includes('.')) return issue;
    const best = KNOWN_KEYS.map(
      (k) => [k, editDistance(issue.path.toLowerCase(), k.toLowerCase())] as const,
    )
      .filter(([, d]) => d <= 2)
      .sort((x, y) => x[1] - y[1])[0];
    const known = `known keys: ${KNOWN_KEYS.join(', ')}`;
    return {
      path: issue.path,
      message: best
        ? `unknown key; did you mean '${best[0]}'? (${known})`
        : `unknown key (${known})`,
    };
  });
}

function parsePipeline(
  name: string,
  value: unknown,
  issues: ConfigIssue[],
): PipelineDeclaration | undefined {
  const kind = (value as { kind?: unknown } | null)?.kind;
  if (kind !== undefined && kind !== 'sequential' && kind !== 'dag') {
    issues.push({
      path: `pipelines.${name}.kind`,
      message: `unknown pipeline kind ${describe(kind)}: use 'sequential' (the default) or 'dag'`,
    });
    return undefined;
  }
  const schema = kind === 'dag' ? dagSchema : sequentialSchema;
  const result = schema.safeParse(value);
  if (!result.success) {
    issues.push(...zodIssues(result.error, ['pipelines', name]));
    return undefined;
  }
  const declaration = result.data as PipelineDeclaration;
  if (declaration.kind !== 'dag') {
    // The pipeline's own checks (stage labels that would collide), reported with the others.
    try {
      new SequentialPipeline(declaration.stages, { name });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      for (const issue of error.issues) {
        issues.push({ path: `pipelines.${name}.${issue.path}`, message: issue.message });
      }
      return undefined;
    }
  }
  return declaration;
}

const VALIDATED = new WeakSet<object>();

/**
 * Validates a loaded config object: unknown keys rejected (with a suggestion), every plugin
 * entry, stage and pipeline checked, and every problem reported with its path (`plugins[1]`,
 * `pipelines.main.stages[0]`) in one `ConfigError` (`PHYS_CONFIG_INVALID`).
 * `source` names where the config came from, for the message.
 * @internal
 */
export function validateConfig(value: unknown, source: string): PhysConfig {
  if (typeof value === 'object' && value !== null && VALIDATED.has(value)) {
    return value as PhysConfig;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(
      'PHYS_CONFIG_INVALID',
      `The config in ${source} is ${describe(value)}, not an object. Default-export \`defineConfig({ ... })\` (or a function returning the config).`,
      { issues: [{ path: '', message: `expected an object, got ${describe(value)}` }] },
    );
  }
  const issues: ConfigIssue[] = [];
  const top = configSchema.safeParse(value);
  if (!top.success) issues.push(...withSuggestions(zodIssues(top.error)));
  const rawPipelines = (value as { pipelines?: unknown }).pipelines;
  const pipelines: Record<string, PipelineDeclaration> = {};
  if (typeof rawPipelines === 'object' && rawPipelines !== null && !Array.isArray(rawPipelines)) {
    for (const [name, declaration] of Object.entries(rawPipelines)) {
      const parsed = parsePipeline(name, declaration, issues);
      if (parsed !== undefined) pipelines[name] = parsed;
    }
    // Schedules: rules, time zones and policies per pipeline, names across the config.
    const schedules = Object.entries(pipelines).flatMap(([name, declaration]) =>
      pipelineScheduleIssues(name, declaration.schedule, issues),
    );
    duplicateNameIssues(schedules, issues);
  }
  if (issues.length > 0 || !top.success) {
    throw new ConfigError(
      'PHYS_CONFIG_INVALID',
      `Invalid config in ${source} (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${formatIssues(issues)}\nFix the listed entries; unknown keys are rejected rather than ignored.`,
      { issues, details: { source, issues } },
    );
  }
  const config: PhysConfig = {
    ...(top.data as PhysConfig),
    ...(rawPipelines === undefined ? {} : { pipelines }),
  };
  VALIDATED.add(config);
  return config;
}
