import { spawn } from 'node:child_process';
import { SchedulerError } from '@phys/core';

/** What a PBS command printed and how it exited. */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a PBS client command without a shell. Rejects (retryable) only when it cannot be started
 * or exceeds `timeoutMs`; a non-zero exit is the caller's to judge, since `qstat` and `qdel`
 * exit non-zero for ids they do not know while still answering for the others.
 */
export function runCommand(
  command: string,
  args: readonly string[],
  options: { readonly timeoutMs: number; readonly cwd?: string },
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new SchedulerError(
          'PHYS_SCHEDULER_PBS_COMMAND_TIMEOUT',
          `\`${command} ${args.join(' ')}\` did not answer within ${options.timeoutMs / 1000} s; the PBS server may be overloaded. Raise commandTimeoutSeconds if this persists.`,
          { retryable: true, details: { command, args } },
        ),
      );
    }, options.timeoutMs);
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new SchedulerError(
          'PHYS_SCHEDULER_PBS_COMMAND',
          error.code === 'ENOENT'
            ? `Cannot run \`${command}\`: it is not on PATH. Run phys on a PBS login node, or set the plugin's \`commands\` option to the PBS client commands.`
            : `Cannot run \`${command}\`: ${error.message}`,
          { cause: error, retryable: error.code !== 'ENOENT', details: { command } },
        ),
      );
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal === null ? 1 : 128), stdout, stderr });
    });
  });
}
