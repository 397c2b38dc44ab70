/** What a job script is made of. */
export interface JobScriptInput {
  /** Absolute directory holding one sub-directory per task: `<batchDir>/<index>/task.json`. */
  readonly batchDir: string;
  /** Shell lines run before the task (`module load ...`). */
  readonly setup: readonly string[];
  /** argv that executes a task envelope; the envelope's path is appended. */
  readonly execCommand: readonly string[];
  /** Comment lines at the top, for whoever opens the script. */
  readonly comments: readonly string[];
}

/**
 * The batch script of one job or job array. Every task runs the envelope of its index
 * (`SLURM_ARRAY_TASK_ID`, 0 for a plain job) with `exec`, so the job's exit code is the task's
 * and Slurm's signals (scancel, time limit) reach the task process directly.
 */
export function renderJobScript(input: JobScriptInput): string {
  const lines = ['#!/bin/bash', ...input.comments.map((c) => `# ${c.replace(/\n/g, ' ')}`)];
  if (input.setup.length > 0) lines.push('', '# setup', ...input.setup, '');
  lines.push(
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion
    'PHYS_TASK_INDEX="${SLURM_ARRAY_TASK_ID:-0}"',
    `exec ${input.execCommand.map(shellQuote).join(' ')} ${shellQuote(input.batchDir)}/"$PHYS_TASK_INDEX"/task.json`,
    '',
  );
  return lines.join('\n');
}

/** Quotes one word for a POSIX shell. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
