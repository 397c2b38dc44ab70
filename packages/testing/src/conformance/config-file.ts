import { existsSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PhysError } from '@phys/core';

/**
 * Absolute path of a ready-made `phys.config.js` that declares exactly the conformance stages
 * (`conformanceStages`). Hand it to the scheduler under test when it rebuilds stages from a
 * config file. When this module runs from sources (tests inside this repository), the built
 * twin under `dist/` is returned, because job processes run plain JavaScript.
 * @public
 */
export function conformanceConfigFile(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const js = join(here, 'phys.config.js');
  if (existsSync(js)) return js;
  const srcPart = `${sep}src${sep}conformance`;
  const built = here.endsWith(srcPart)
    ? join(here.slice(0, -srcPart.length), 'dist', 'conformance', 'phys.config.js')
    : js;
  if (built !== js && existsSync(built)) return built;
  throw new PhysError(
    'PHYS_TASK_FAILED',
    `Cannot find the conformance config (${js}). Build @phys/testing first: pnpm --filter @phys/testing build.`,
  );
}
