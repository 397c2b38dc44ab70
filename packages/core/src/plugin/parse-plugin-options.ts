import type { z } from 'zod';
import { ConfigError, formatIssues } from '../errors.js';
import { strictSchema, zodIssues } from '../stage-config.js';

/**
 * Validates a plugin's options inside its factory. Unknown keys are rejected at every depth, and
 * every problem is reported in one {@link ConfigError} (`PHYS_CONFIG_INVALID`) whose issue paths
 * read `plugins.<plugin>.<option path>`, so a misspelled option is named, never silently dropped.
 * `undefined` options are validated as `{}` (so schema defaults apply to a bare `'name'` entry).
 *
 * @example
 * ```ts
 * export default function schedulerSlurm(options?: SlurmOptions) {
 *   const parsed = parsePluginOptions('scheduler-slurm', slurmOptionsSchema, options);
 *   return definePlugin({ name: 'scheduler-slurm', options: parsed, register() {} });
 * }
 * ```
 * @public
 */
export function parsePluginOptions<TSchema extends z.ZodType>(
  pluginName: string,
  schema: TSchema,
  options: unknown,
): z.output<TSchema> {
  const result = strictSchema(schema).safeParse(options ?? {});
  if (result.success) return result.data;
  const issues = zodIssues(result.error, ['plugins', pluginName]);
  throw new ConfigError(
    'PHYS_CONFIG_INVALID',
    `Invalid options for plugin '${pluginName}' (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${formatIssues(issues)}\nFix these options in phys.config.ts; see the plugin's README for what it accepts.`,
    { issues, details: { plugin: pluginName, issues } },
  );
}
