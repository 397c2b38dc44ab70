import { existsSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PhysError } from '@phys/core';

/**
 * Absolute path of the script that executes a task envelope (`node <path> <task.json>`). When
 * this module runs from sources (tests), the built twin under `dist/` is returned, because a
 * child process runs plain JavaScript.
 * @public
 */
export function taskEnvelopeEntry(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const js = join(here, 'exec.js');
  if (existsSync(js)) return js;
  const built = js.replace(`${sep}src${sep}envelope${sep}`, `${sep}dist${sep}envelope${sep}`);
  if (built !== js && existsSync(built)) return built;
  throw new PhysError(
    'PHYS_TASK_FAILED',
    `Cannot find the task entry script (${js}). Build @phys/runtime first: pnpm --filter @phys/runtime build.`,
  );
}
