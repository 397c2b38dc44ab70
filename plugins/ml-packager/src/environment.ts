import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ModelManifest } from './manifest.js';

/** Where a package was built. @public */
export type ModelEnvironment = ModelManifest['environment'];

async function readVersion(packageJson: string | URL): Promise<[string, string] | undefined> {
  try {
    const pkg = JSON.parse(await readFile(packageJson, 'utf8')) as {
      name?: unknown;
      version?: unknown;
    };
    return typeof pkg.name === 'string' && typeof pkg.version === 'string'
      ? [pkg.name, pkg.version]
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Versions of the `@phys/*` packages a project uses: those installed in the nearest
 * `node_modules/@phys` above `dir`, plus this package itself.
 */
async function physPackages(dir: string): Promise<Record<string, string>> {
  const found: Record<string, string> = {};
  const own = await readVersion(new URL('../package.json', import.meta.url));
  if (own !== undefined) found[own[0]] = own[1];
  for (let at = dir; ; at = dirname(at)) {
    const scope = join(at, 'node_modules', '@phys');
    let names: string[];
    try {
      names = await readdir(scope);
    } catch {
      if (dirname(at) === at) break;
      continue;
    }
    for (const name of names) {
      const entry = await readVersion(join(scope, name, 'package.json'));
      if (entry !== undefined) found[entry[0]] ??= entry[1];
    }
    break;
  }
  return Object.fromEntries(Object.entries(found).sort(([a], [b]) => (a < b ? -1 : 1)));
}

function git(args: readonly string[], cwd: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('git', [...args], { cwd, timeout: 5000, windowsHide: true }, (error, stdout) => {
      resolve(error === null ? stdout : undefined);
    });
  });
}

/**
 * The environment of this process: Node version, platform, architecture, `@phys/*` package
 * versions, and the git commit of `dir` (with whether the work tree has uncommitted changes)
 * when `git rev-parse HEAD` works there.
 * @public
 */
export async function captureEnvironment(dir: string): Promise<ModelEnvironment> {
  const [packages, head, status] = await Promise.all([
    physPackages(dir),
    git(['rev-parse', 'HEAD'], dir),
    git(['status', '--porcelain'], dir),
  ]);
  const commit = head?.trim();
  return {
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    packages,
    ...(commit === undefined || !/^[0-9a-f]{40,64}$/.test(commit)
      ? {}
      : { git: { commit, dirty: (status ?? '').trim() !== '' } }),
  };
}
