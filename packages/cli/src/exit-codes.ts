import { PhysError } from '@phys/core';

/**
 * Exit codes of the `phys` binary, by error class (the sysexits.h values that stylelint and
 * others use): a script can tell "fix the config" from "fix the command line" from "the run failed".
 * @public
 */
export const ExitCode = {
  /** Success. */
  OK: 0,
  /** The run failed (a stage threw, a node failed or timed out), or an unexpected error. */
  RUN_FAILED: 1,
  /** Bad command line: unknown command, pipeline or flag, missing argument (EX_USAGE). */
  USAGE: 64,
  /** The config file is missing, fails to load or is invalid, or a plugin is (EX_CONFIG). */
  CONFIG: 78,
  /** The run was interrupted (SIGINT); 128 + 2 as shells report it. */
  INTERRUPTED: 130,
} as const;

/** One of the `ExitCode` values. @public */
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * The exit code for an error: 78 for config and plugin problems (`ConfigError`, `PluginError`,
 * `PHYS_CONFIG_*`, `PHYS_PLUGIN_*`, `PHYS_STAGE_DUPLICATE`), 64 for usage errors (`UsageError`, `PHYS_USAGE`), 130 for a
 * cancellation, 1 for everything else.
 * @public
 */
export function exitCodeFor(error: unknown): ExitCode {
  if (!PhysError.is(error)) return ExitCode.RUN_FAILED;
  const code = String(error.code);
  if (error.name === 'ConfigError' || error.name === 'PluginError') return ExitCode.CONFIG;
  if (code.startsWith('PHYS_CONFIG_') || code.startsWith('PHYS_PLUGIN_')) return ExitCode.CONFIG;
  // Two definitions under one name@version can only come from the config and its plugins.
  if (code === 'PHYS_STAGE_DUPLICATE') return ExitCode.CONFIG;
  if (error.name === 'UsageError' || code === 'PHYS_USAGE') return ExitCode.USAGE;
  if (code === 'PHYS_CANCELLED') return ExitCode.INTERRUPTED;
  return ExitCode.RUN_FAILED;
}
