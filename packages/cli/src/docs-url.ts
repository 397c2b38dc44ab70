import { readFileSync } from 'node:fs';

/** The repository the docs are read from when package.json names none that can be browsed. */
export const DEFAULT_REPOSITORY = 'https://github.com/phys-sim/phys';

// Reserved for examples and tests (RFC 2606): never a repository anyone can open.
const PLACEHOLDER_HOST = /(^|\.)(invalid|example|test|localhost|example\.(com|net|org))$/;

/**
 * The web address of a package.json `repository` (`git+https://host/o/r.git`, `git@host:o/r.git`,
 * `github:o/r`, `o/r`), or undefined when there is none or it is a placeholder.
 */
export function repositoryWebUrl(repository: unknown): string | undefined {
  const raw =
    typeof repository === 'string'
      ? repository
      : (repository as { url?: unknown } | null | undefined)?.url;
  if (typeof raw !== 'string' || raw.trim() === '') return undefined;
  let url = raw.trim();
  const shorthand = /^(?:github:)?([\w.-]+\/[\w.-]+)$/.exec(url);
  if (shorthand !== null) url = `https://github.com/${shorthand[1]}`;
  url = url
    .replace(/^git\+/, '')
    .replace(/^git@([^:]+):/, 'https://$1/')
    .replace(/^(git|ssh):\/\/(?:git@)?/, 'https://')
    .replace(/\.git$/, '')
    .replace(/\/+$/, '');
  let host: string;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return undefined;
    host = parsed.hostname;
  } catch {
    return undefined;
  }
  return PLACEHOLDER_HOST.test(host) ? undefined : url;
}

/** The web address of a page of the docs (`cli.md`), in the repository @phys/cli names. */
export function docsUrl(page: string): string {
  // src/ and dist/ both sit one level below the package root.
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    repository?: unknown;
  };
  const repository = repositoryWebUrl(pkg.repository) ?? DEFAULT_REPOSITORY;
  return `${repository}/blob/main/docs/${page}`;
}
