// The installed version of each configured plugin's package, for `phys config`: what a bug report
// needs, whether or not the plugin declares a version of its own.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import type { PhysPlugin, PluginEntry } from '@phys/core';

/**
 * The packages a plugin name may come from, in the order the runtime tries them: `@phys/<name>`,
 * `phys-plugin-<name>`, then `<name>` itself when it names a package (`bare`); none for a path.
 */
export function packageCandidates(name: string, bare: boolean): string[] {
  if (name.startsWith('.') || isAbsolute(name)) return [];
  if (name.startsWith('@')) {
    const slash = name.indexOf('/');
    const scope = name.slice(0, slash);
    const rest = name.slice(slash + 1);
    if (slash > 0 && scope !== '@phys' && !rest.startsWith('phys-plugin-')) {
      return [`${scope}/phys-plugin-${rest}`, name];
    }
    return [name];
  }
  if (name.startsWith('phys-plugin-')) return [name];
  return bare
    ? [`@phys/${name}`, `phys-plugin-${name}`, name]
    : [`@phys/${name}`, `phys-plugin-${name}`];
}

/** The version in `<dir>/node_modules/<name>/package.json` of the nearest `dir` up from `from`. */
function installedVersion(name: string, from: string): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(
        readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8'),
      ) as { version?: unknown };
      if (typeof pkg.version === 'string') return pkg.version;
    } catch {
      // Not installed here: look one directory up, as Node does.
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/** The name a `plugins` entry was written with, `null` for a skipped entry, undefined for an object. */
function specifierOf(entry: PluginEntry): string | null | undefined {
  if (entry === false || entry === null || entry === undefined) return null;
  if (typeof entry === 'string') return entry;
  if (Array.isArray(entry)) return entry[1] === false ? null : (entry[0] as string);
  return undefined;
}

/**
 * The installed package version of each plugin, in the order of `plugins`: found from the
 * config's directory under the name the config wrote (or, for a plugin object, the plugin's
 * name), else the version the plugin declares, else undefined (a plugin defined in the project).
 */
export function pluginVersions(
  entries: readonly PluginEntry[],
  plugins: readonly PhysPlugin[],
  configDir: string,
): (string | undefined)[] {
  const specifiers = entries.map(specifierOf).filter((s) => s !== null);
  // The runtime keeps entries in order and skips the same ones; if not, names alone are used.
  const aligned = specifiers.length === plugins.length;
  return plugins.map((plugin, i) => {
    const specifier = aligned ? specifiers[i] : undefined;
    const candidates =
      specifier === undefined
        ? packageCandidates(plugin.name, false)
        : packageCandidates(specifier, true);
    for (const candidate of candidates) {
      const version = installedVersion(candidate, configDir);
      if (version !== undefined) return version;
    }
    return plugin.version;
  });
}
