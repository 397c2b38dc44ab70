// @phys/cli/testing — runs the built `phys` binary in a child process, as a user or a script runs
// it, for end-to-end tests of the CLI and of projects that use it.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CancelledError, UsageError } from '@phys/core';

// src/ and dist/ both sit one level below the package root. The launcher is what package managers
// link as `phys`, so the tests run exactly what users run.
const launcher = fileURLToPath(new URL('../bin/phys.js', import.meta.url));
const built = new URL('../dist/bin.js', import.meta.url);

/** Options of {@link runPhys}. @public */
export interface RunPhysOptions {
  /** Working directory of the process: where `phys` starts searching for `phys.config.*`. */
  readonly cwd: string;
  /**
   * Variables set over the current environment and the default `NO_COLOR=1`; a variable given as
   * `undefined` is removed.
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Aborting it sends `killSignal` to the process; `phys` cancels the run and exits 130. */
  readonly signal?: AbortSignal;
  /** The signal sent when `signal` aborts. Default `'SIGINT'`, as Ctrl-C sends. */
  readonly killSignal?: NodeJS.Signals;
  /** Called with each piece of stderr as it arrives (progress, logs), e.g. to interrupt the run at a point. */
  readonly onStderr?: (chunk: string) => void;
}

/** How a `phys` process ended, and everything it printed. @public */
export interface RunPhysResult {
  /** The exit code, or `null` when a signal ended the process. */
  readonly code: number | null;
  /** The signal that ended the process, or `null` when it exited by itself. */
  readonly signal: NodeJS.Signals | null;
  /** Everything written to stdout: results, help, `--json` output. */
  readonly stdout: string;
  /** Everything written to stderr: errors, logs, progress. */
  readonly stderr: string;
}

/**
 * Runs the `phys` binary of this package with `argv` under the current Node and resolves when it
 * has ended, whatever its exit code; rejects only when the process cannot start.
 * @public
 */
export async function runPhys(
  argv: readonly string[],
  options: RunPhysOptions,
): Promise<RunPhysResult> {
  // The launcher would report this too, but as an exit code 64 that reads like a failing command.
  if (!existsSync(built)) {
    throw new UsageError(
      '@phys/cli is not built (dist/bin.js is missing), so its binary cannot run. Run `pnpm --filter @phys/cli build` before these tests.',
    );
  }
  const { signal, killSignal = 'SIGINT', onStderr } = options;
  if (signal?.aborted) {
    throw new CancelledError(
      'runPhys was given an AbortSignal that is already aborted, so `phys` was not started. Pass a fresh signal.',
      { cause: signal.reason },
    );
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [launcher, ...argv], {
      cwd: options.cwd,
      env: { ...process.env, NO_COLOR: '1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let started = false;
    let stdout = '';
    let stderr = '';
    const interrupt = () => child.kill(killSignal);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      onStderr?.(chunk);
    });
    child.on('spawn', () => {
      started = true;
      signal?.addEventListener('abort', interrupt, { once: true });
    });
    child.on('error', (error) => {
      // Once running, an error (a failed kill) leaves the process to end and 'close' to report it.
      if (started) return;
      reject(
        new UsageError(
          `Could not start \`phys\` in ${options.cwd}: ${error.message}. Check that the directory exists.`,
          { cause: error },
        ),
      );
    });
    child.on('close', (code, exitSignal) => {
      signal?.removeEventListener('abort', interrupt);
      resolve({ code, signal: exitSignal, stdout, stderr });
    });
  });
}
