import { shellQuote } from './directives.js';

/** The parts of a job script. */
export interface JobScriptInput {
  /** `#PBS` lines. */
  readonly directives: readonly string[];
  readonly setup: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** The command that runs a task envelope, before its path. */
  readonly command: readonly string[];
  /** One task: its envelope; a job array: the manifest listing one envelope per line, by index. */
  readonly task: { readonly envelope: string } | { readonly manifest: string };
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
  if ('envelope' in input.task) {
    lines.push(`TASK=${shellQuote(input.task.envelope)}`);
  } else {
    lines.push(
      `TASK="$(sed -n "$(( \${PBS_ARRAY_INDEX:-0} + 1 ))p" ${shellQuote(input.task.manifest)})"`,
      'if [ -z "$TASK" ]; then echo "phys: no task for array index $PBS_ARRAY_INDEX" >&2; exit 2; fi',
    );
  }
  lines.push(
    'cd "$(dirname "$TASK")" || exit 2',
    `exec ${input.command.map(shellQuote).join(' ')} "$TASK"`,
    '',
  );
  return lines.join('\n');
}
