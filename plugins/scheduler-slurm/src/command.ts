import { spawn } from 'node:child_process';
import { join } from 'node:path';

/** What one Slurm command did. */
export interface CommandResult {
  /** Exit code; null when the command could not start or was killed (see `error`). */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Why the command did not run to its end: not found, or over its time limit. */
  readonly error?: 'not-found' | 'timeout' | 'spawn';
  readonly message?: string;
}

/** Runs Slurm's client commands: argv only (no shell), each with a time limit. */
export class SlurmCommands {
  readonly #bin: string | undefined;
  readonly #timeoutMs: number;
  readonly calls = { sbatch: 0, squeue: 0, scontrol: 0, scancel: 0, sacct: 0, sinfo: 0 };

  constructor(bin: string | undefined, timeoutSeconds: number) {
    this.#bin = bin;
    this.#timeoutMs = timeoutSeconds * 1000;
  }

  /** The executable of `name` as it is run (a path when `slurmBin` is set). */
  path(name: keyof SlurmCommands['calls']): string {
    return this.#bin === undefined ? name : join(this.#bin, name);
  }

  run(
    name: keyof SlurmCommands['calls'],
    args: readonly string[],
    cwd?: string,
  ): Promise<CommandResult> {
    this.calls[name]++;
    return new Promise((resolve) => {
      const child = spawn(this.path(name), args, {
        stdio: ['ignore', 'pipe', 'pipe'],
        ...(cwd === undefined ? {} : { cwd }),
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, this.#timeoutMs);
      let settled = false;
      const done = (result: CommandResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(result);
      };
      child.once('error', (error: NodeJS.ErrnoException) => {
        done({
          code: null,
          stdout: '',
          stderr: '',
          error: error.code === 'ENOENT' ? 'not-found' : 'spawn',
          message: error.message,
        });
      });
      child.once('close', (code) => {
        const stdout = Buffer.concat(out).toString('utf8');
        const stderr = Buffer.concat(err).toString('utf8');
        done(
          timedOut
            ? {
                code: null,
                stdout,
                stderr,
                error: 'timeout',
                message: `${name} did not finish within ${this.#timeoutMs / 1000} s and was killed`,
              }
            : { code, stdout, stderr },
        );
      });
    });
  }
}

/** One line describing how a command failed, for error messages. */
export function describeFailure(name: string, result: CommandResult): string {
  if (result.error === 'not-found') {
    return `${name} was not found (${result.message ?? 'ENOENT'}); install the Slurm client commands or set slurmBin to the directory that holds them`;
  }
  if (result.error !== undefined) return result.message ?? `${name} failed to run`;
  const stderr = result.stderr.trim();
  return `${name} exited with code ${result.code}${stderr === '' ? '' : `: ${stderr}`}`;
}
