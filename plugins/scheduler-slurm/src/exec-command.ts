import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';

/**
 * argv that executes a task envelope inside a job (the envelope's path is appended): this
 * Node.js with the `phys` CLI installed beside the config (`<node> <phys> exec`), else with the
 * CLI this package can see; undefined when there is none (the host's `taskCommand` is used
 * then). Paths are absolute and resolved now, at submit time, because the job's shell may not
 * share our PATH.
 */
export function resolveExecCommand(configFile: string): readonly string[] | undefined {
  for (const from of [configFile, import.meta.url]) {
    const bin = cliBin(from);
    if (bin !== undefined) return [process.execPath, bin, 'exec'];
  }
  return undefined;
}

function cliBin(from: string): string | undefined {
  try {
    const manifest = createRequire(from).resolve('@phys/cli/package.json');
    const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as {
      bin?: string | Record<string, string>;
    };
    const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin?.phys;
    return bin === undefined ? undefined : resolve(dirname(manifest), bin);
  } catch {
    return undefined;
  }
}
