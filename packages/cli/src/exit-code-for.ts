import { PhysError } from '@phys/core';
import { ExitCode } from './exit-codes.js';

/**
 * The exit code for an error: 78 for config and plugin problems (`ConfigError`, `PluginError`,
 * `PHYS_CONFIG_*`, `PHYS_PLUGIN_*`, `PHYS_STAGE_DUPLICATE`), 64 for usage errors (`UsageError`,
 * `PHYS_USAGE`, an unknown pipeline or job id), 130 for a cancellation, 1 for everything else.
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
  // A pipeline or job id the command line named does not exist (a server's 404s too).
  if (code === 'PHYS_PIPELINE_NOT_FOUND' || code === 'PHYS_RUN_NOT_FOUND') return ExitCode.USAGE;
  if (code === 'PHYS_CANCELLED') return ExitCode.INTERRUPTED;
  return ExitCode.RUN_FAILED;
}
