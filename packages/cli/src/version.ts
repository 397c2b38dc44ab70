import { readFileSync } from 'node:fs';

/** The version of @phys/cli, read from its package.json (no other module is loaded for it). */
export function version(): string {
  // src/ and dist/ both sit one level below the package root.
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}
