// Which orchestrator `phys submit` and `phys runs` talk to: a server (`--remote URL` or
// PHYS_REMOTE) through the plugin @phys/orchestrator-remote, loaded by name like any plugin (the
// CLI does not depend on it), or else the config's own (`runtime.orchestrator`).
import { dirname, resolve } from 'node:path';
import { type Orchestrator, OrchestratorToken, PhysError, UsageError } from '@phys/core';
import { createRuntime, type PhysRuntime } from '@phys/runtime';
import type { ConfigOptions } from './cli.js';
import type { CliContext } from './context.js';
import { loggerFor, withRuntime } from './open-runtime.js';
import { installCommand } from './plugin-commands.js';

/** The environment variable that stands for `--remote`. */
export const REMOTE_ENV = 'PHYS_REMOTE';
/** The plugin behind `--remote`, by name and package. */
export const REMOTE_PLUGIN = 'orchestrator-remote';
export const REMOTE_PACKAGE = '@phys/orchestrator-remote';

/** Options of the commands that can talk to a server. */
export interface RemoteOptions extends ConfigOptions {
  readonly remote?: string;
}

/** Where the commands' orchestrator is. */
export interface OrchestratorTarget {
  /** The server's URL, when one was given (`--remote`, PHYS_REMOTE). */
  readonly remote: string | undefined;
  /**
   * True for the in-process orchestrator the runtime creates when no plugin provides one: its
   * runs live only as long as this phys process.
   */
  readonly inProcess: boolean;
  /** The runtime of the config (absent with `--remote`, which needs no config). */
  readonly runtime: PhysRuntime | undefined;
}

/** `--remote`, else PHYS_REMOTE, checked: an http:// or https:// URL. */
export function remoteUrl(options: RemoteOptions): string | undefined {
  const given = options.remote ?? process.env[REMOTE_ENV];
  if (given === undefined || given.trim() === '') return undefined;
  const from = options.remote === undefined ? REMOTE_ENV : '--remote';
  let url: URL | undefined;
  try {
    url = new URL(given.trim());
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new UsageError(
      `${from} expects the URL of a \`phys serve\` server, such as http://127.0.0.1:8787, got '${given}'.`,
    );
  }
  return given.trim();
}

/** The error for `--remote` without the plugin installed: what to install, and where. */
function pluginMissing(from: string, cause: unknown): UsageError {
  return new UsageError(
    `--remote needs the plugin '${REMOTE_PLUGIN}' (package ${REMOTE_PACKAGE}), which is not installed where phys looks for plugins (${from}). Install it there: ${installCommand(from, REMOTE_PACKAGE)}.`,
    { cause, details: { plugin: REMOTE_PLUGIN, package: REMOTE_PACKAGE, from } },
  );
}

/**
 * Runs `body` with the orchestrator of the command line: with a remote URL, the
 * `orchestrator-remote` plugin for it, resolved from the config's directory (or the working
 * directory) without loading the config; else the config's `runtime.orchestrator`. Always
 * disposes what it built.
 */
export async function withOrchestrator<T>(
  ctx: CliContext,
  options: RemoteOptions,
  command: string,
  body: (orchestrator: Orchestrator, target: OrchestratorTarget) => Promise<T>,
): Promise<T> {
  const remote = remoteUrl(options);
  if (remote === undefined) {
    return withRuntime(ctx, options, command, (runtime) =>
      body(runtime.orchestrator, {
        remote: undefined,
        inProcess: !runtime.isRegistered(OrchestratorToken),
        runtime,
      }),
    );
  }
  const cwd = resolve(ctx.cwd, options.cwd ?? '.');
  const from = options.config === undefined ? cwd : dirname(resolve(cwd, options.config));
  let runtime: PhysRuntime;
  try {
    runtime = await createRuntime(
      { config: { plugins: [[REMOTE_PLUGIN, { url: remote }]] }, configDir: from },
      { logger: loggerFor(ctx, 'info', options.json === true), command },
    );
  } catch (error) {
    if (PhysError.is(error) && error.code === 'PHYS_PLUGIN_NOT_FOUND') {
      throw pluginMissing(from, error);
    }
    throw error;
  }
  try {
    return await body(runtime.orchestrator, { remote, inProcess: false, runtime: undefined });
  } finally {
    await runtime.dispose().catch(() => {});
  }
}

/**
 * The error for `phys runs ...` against the in-process orchestrator, which keeps no runs beyond
 * the process that started them.
 */
export function needsServer(command: string): UsageError {
  return new UsageError(
    `\`phys ${command}\` needs a server that keeps runs: give --remote http://HOST:PORT (or set ${REMOTE_ENV}) for a \`phys serve\` there, or add '${REMOTE_PLUGIN}' to the plugins of the config. Without one, runs live in the phys process that started them only (\`phys run\`, \`phys submit\`).`,
    { details: { command } },
  );
}
