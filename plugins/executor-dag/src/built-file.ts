import { existsSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PhysError } from '@phys/core';

/**
 * Path of a compiled sibling module (`worker.js`). Worker threads run plain JavaScript, so when
 * this package runs from sources (tests), the built twin under `dist/` is used.
 */
export function builtFile(moduleUrl: string, name: string): string {
  const here = dirname(fileURLToPath(moduleUrl));
  const js = join(here, name);
  if (existsSync(js)) return js;
  const built = js.replace(`${sep}src${sep}`, `${sep}dist${sep}`);
  if (built !== js && existsSync(built)) return built;
  throw new PhysError(
    'PHYS_SCHEDULER',
    `Cannot find ${js}; build @phys/executor-dag first (pnpm --filter @phys/executor-dag build).`,
  );
}
