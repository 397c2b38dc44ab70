import { createConsoleLogger, type Logger, type LogLevel } from '@phys/core';
import { createRuntime, type LoadedConfig, loadConfig, type PhysRuntime } from '@phys/runtime';
import type { ConfigOptions } from './cli.js';
import type { CliContext } from './context.js';

/** Loads the config the options point at (`--config`, `--cwd`, else a search from the cwd). */
export async function loadFor(
  ctx: CliContext,
  options: ConfigOptions,
  command: string,
): Promise<LoadedConfig> {
  return loadConfig({
    cwd: options.cwd === undefined ? ctx.cwd : options.cwd,
    ...(options.config === undefined ? {} : { configFile: options.config }),
    command,
  });
}

/**
 * Stage and plugin logs go to the CLI's stderr, never stdout: `--json` output must stay one
 * parseable object. With `--json` only warnings and errors are logged.
 */
export function loggerFor(ctx: CliContext, level: LogLevel, json: boolean): Logger {
  const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };
  const effective: LogLevel = json && rank[level] < rank.warn ? 'warn' : level;
  const write =
    (at: Exclude<LogLevel, 'silent'>, base: Readonly<Record<string, unknown>>) =>
    (message: string, fields?: Readonly<Record<string, unknown>>) => {
      if (rank[at] < rank[effective]) return;
      const tail = Object.entries({ ...base, ...fields })
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      ctx.stderr.write(`${at.padEnd(5)} ${message}${tail === '' ? '' : ` ${tail}`}\n`);
    };
  const make = (base: Readonly<Record<string, unknown>>): Logger => ({
    debug: write('debug', base),
    info: write('info', base),
    warn: write('warn', base),
    error: write('error', base),
    child: (fields) => make({ ...base, ...fields }),
  });
  // The console logger writes to process.stderr; keep it when that is where ours would go.
  return ctx.stderr === process.stderr ? createConsoleLogger(effective) : make({});
}

/**
 * Loads the config (unless `loaded` already holds it), builds its runtime, runs `body`, and
 * always disposes the runtime.
 */
export async function withRuntime<T>(
  ctx: CliContext,
  options: ConfigOptions,
  command: string,
  body: (runtime: PhysRuntime, loaded: LoadedConfig) => Promise<T>,
  { init = true, loaded: given }: { readonly init?: boolean; readonly loaded?: LoadedConfig } = {},
): Promise<T> {
  const loaded = given ?? (await loadFor(ctx, options, command));
  // A config that logs at debug level wants the whole story of an error too.
  if (loaded.config.logLevel === 'debug') ctx.verbose = true;
  const logger = loggerFor(ctx, loaded.config.logLevel ?? 'info', options.json === true);
  const runtime = await createRuntime(loaded, { logger, command, init });
  let result: T;
  try {
    result = await body(runtime, loaded);
  } catch (error) {
    // The body's error is the one to report; a dispose failure after it would only hide it.
    await runtime.dispose().catch(() => {});
    throw error;
  }
  await runtime.dispose();
  return result;
}
