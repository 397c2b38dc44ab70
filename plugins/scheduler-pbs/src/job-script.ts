import { TASK_EXIT_CODES } from '@phys/core';
import { shellQuote } from './directives.js';

/** The parts of a job script. */
export interface JobScriptInput {
  /** `#PBS` lines. */
  readonly directives: readonly string[];
  readonly setup: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** The command that runs a task envelope, before its path. */
  readonly command: readonly string[];
  /** The batch directory: task `i` (`PBS_ARRAY_INDEX`, 0 for a single job) runs `<batchDir>/<i>/task.json`. */
  readonly batchDir: string;
}

/**
 * A bash job script: the directives, the user's setup lines and exports, then `exec` of the
 * task command, so that PBS's signals (qdel, walltime) reach the task process directly and the
 * job's exit status is the task's own.
 */
export function buildJobScript(input: JobScriptInput): string {
  const lines = ['#!/bin/bash', ...input.directives, '', 'set -u'];
  for (const line of input.setup) lines.push(line);
  for (const [name, value] of Object.entries(input.env))
    lines.push(`export ${name}=${shellQuote(value)}`);
  const unusable = TASK_EXIT_CODES.UNUSABLE;
  lines.push(
    `TASK=${shellQuote(input.batchDir)}/"\${PBS_ARRAY_INDEX:-0}"/task.json`,
    `if [ ! -f "$TASK" ]; then echo "phys: no task envelope $TASK for array index \${PBS_ARRAY_INDEX:-0}" >&2; exit ${unusable}; fi`,
    `cd "$(dirname "$TASK")" || exit ${unusable}`,
    `exec ${input.command.map(shellQuote).join(' ')} "$TASK"`,
    '',
  );
  return lines.join('\n');
}
