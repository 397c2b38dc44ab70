import { resolve } from 'node:path';
import { disposeRuntimes, runTaskEnvelope } from '@phys/runtime';
import type { CliContext } from '../context.js';

/**
 * `phys exec <envelope>`: executes one task envelope in this process (the stage is rebuilt by
 * identity through the envelope's config) and exits with the task's code: 0 completed,
 * 1 failed, 2 unusable envelope, 3 cancelled, 4 timeout. The result envelope beside the task
 * file carries the outcome; nothing is printed on stdout.
 */
export async function execCommand(ctx: CliContext, envelope: string): Promise<number> {
  try {
    return await runTaskEnvelope(resolve(ctx.cwd, envelope));
  } finally {
    // The stage's runtime stays cached for the process; a short-lived exec process closes it.
    await disposeRuntimes();
  }
}
