import { readdir, readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { PluginEntry } from '@phys/core';
import {
  type Capability,
  ConfigError,
  formatIssues,
  isPhysPlugin,
  PhysError,
  type PhysPlugin,
  PLUGIN_API_VERSION,
  PluginError,
  SINGLE_VALUED_CAPABILITIES,
} from '@phys/core';
import { issuesOfZodError, replaceConfigError } from './issues.js';
import { importModule, resolveFrom, unwrapDefault } from './module-loader.js';
import { closestName } from './suggest.js';

/** A plugin with where it came from (for error messages) and the options its context gets. */
export interface LoadedPlugin {
  readonly plugin: PhysPlugin;
  /** e.g. `plugins[2] ('cache-disk' → /repo/node_modules/@phys/cache-disk/dist/index.js)`. */
  readonly origin: string;
  readonly options: unknown;
}

/** Where plugin names resolve from. */
export interface PluginSource {
  readonly configDir: string;
  readonly configFile?: string | undefined;
}

/**
 * Specifiers tried for a plugin name, in order: a path as is; else `@phys/<name>`,
 * `phys-plugin-<name>`, `<name>` (and `@scope/phys-plugin-<name>` for a scoped name).
 */
export function pluginCandidates(name: string, configDir: string): string[] {
  if (name.startsWith('.') || isAbsolute(name)) return [resolve(configDir, name)];
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
  return [`@phys/${name}`, `phys-plugin-${name}`, name];
}

/** The plugins this repository publishes, by name: suggested even when not installed. */
const FIRST_PARTY_PLUGINS: readonly string[] = [
  'executor-dag',
  'cache-disk',
  'sweep',
  'ml-packager',
  'scheduler-slurm',
  'scheduler-pbs',
  'scheduler-mock',
  'metrics-prometheus',
  'orchestrator-remote',
];

async function entriesOf(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

async function isPluginPackage(packageDir: string): Promise<boolean> {
  try {
    const manifest = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8')) as {
      keywords?: unknown;
    };
    return Array.isArray(manifest.keywords) && manifest.keywords.includes('phys-plugin');
  } catch {
    return false;
  }
}

/**
 * Plugin names installed where `configDir` resolves packages from (its `node_modules` and those
 * of every parent), as a user writes them: `@phys/<name>` packages with the `phys-plugin`
 * keyword, `phys-plugin-<name>` and `@scope/phys-plugin-<name>`. Read only to suggest a name
 * after a miss.
 */
async function installedPluginNames(configDir: string): Promise<Set<string>> {
  const names = new Set<string>();
  let dir = resolve(configDir);
  for (;;) {
    const modules = join(dir, 'node_modules');
    for (const entry of await entriesOf(modules)) {
      if (entry.startsWith('phys-plugin-')) names.add(entry.slice('phys-plugin-'.length));
      if (!entry.startsWith('@')) continue;
      for (const inner of await entriesOf(join(modules, entry))) {
        if (entry === '@phys') {
          if (await isPluginPackage(join(modules, entry, inner))) names.add(inner);
        } else if (inner.startsWith('phys-plugin-')) {
          names.add(`${entry}/${inner.slice('phys-plugin-'.length)}`);
        }
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return names;
    dir = parent;
  }
}

/** What to tell a user whose plugin name resolved to nothing: the closest known name, or how to install. */
async function notFoundHint(
  name: string,
  source: PluginSource,
): Promise<{ hint: string; suggestion?: string }> {
  if (name.startsWith('.') || isAbsolute(name)) {
    return { hint: 'Check the path (it is relative to the config file).' };
  }
  const short = name.replace(/^@phys\//, '').replace(/^phys-plugin-/, '');
  const installed = await installedPluginNames(source.configDir);
  const install = (plugin: string) =>
    installed.has(plugin) ? '' : ` (install it: \`pnpm add @phys/${plugin}\`)`;
  if (FIRST_PARTY_PLUGINS.includes(short)) {
    return { hint: `'${short}' is a phys plugin: install it with \`pnpm add @phys/${short}\`.` };
  }
  const suggestion = closestName(short, new Set([...installed, ...FIRST_PARTY_PLUGINS]));
  if (suggestion !== undefined) {
    return { hint: `Did you mean '${suggestion}'${install(suggestion)}?`, suggestion };
  }
  const known = [...installed].sort();
  return {
    hint: `Fix the name, or install the package that provides it.${known.length > 0 ? ` Installed plugins: ${known.join(', ')}.` : ''}`,
  };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'function') return `a function${value.name ? ` (${value.name})` : ''}`;
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function checkShape(plugin: PhysPlugin, origin: string): void {
  const name: unknown = plugin.name;
  if (typeof name !== 'string' || name.trim() === '') {
    throw new PluginError(
      String(name),
      'PHYS_PLUGIN_INVALID',
      `The plugin from ${origin} has no name. Give definePlugin() a \`name\`, e.g. 'scheduler-slurm'.`,
    );
  }
  if (typeof plugin.register !== 'function') {
    throw new PluginError(
      name,
      'PHYS_PLUGIN_INVALID',
      `The plugin from ${origin} has no register() function. Every plugin registers its providers in register(ctx).`,
    );
  }
  if (plugin.apiVersion !== PLUGIN_API_VERSION) {
    throw new PluginError(
      name,
      'PHYS_PLUGIN_INCOMPATIBLE',
      `Plugin '${name}' (${origin}) targets plugin API version ${String(plugin.apiVersion)}, but this @phys/core supports version ${PLUGIN_API_VERSION} only. Install a release of the plugin built for plugin API ${PLUGIN_API_VERSION}, or a @phys/core that implements version ${String(plugin.apiVersion)}.`,
      { details: { apiVersion: plugin.apiVersion, supported: PLUGIN_API_VERSION } },
    );
  }
}

function factoryFailed(name: string, where: string, error: unknown): PhysError {
  // parsePluginOptions' error (maybe from another copy of @phys/core): one error with every
  // path, which already names the plugin. Thrown as it is, so that it is printed once.
  if (PhysError.is(error) && error.code === 'PHYS_CONFIG_INVALID') {
    return error instanceof ConfigError ? error : replaceConfigError(error, '', { plugin: name });
  }
  // A factory that validated with `schema.parse(options)` directly.
  const zod = issuesOfZodError(error, ['plugins', name]);
  if (zod !== undefined) {
    return new ConfigError(
      'PHYS_CONFIG_INVALID',
      `Invalid options for plugin '${name}' (${zod.length} problem${zod.length === 1 ? '' : 's'}):\n${formatIssues(zod)}\nFix these options in phys.config.ts; see the plugin's README for what it accepts.`,
      { issues: zod, cause: error, details: { plugin: name, issues: zod } },
    );
  }
  return new PluginError(
    name,
    'PHYS_PLUGIN_FAILED',
    `The factory of plugin '${name}' (${where}) threw: ${messageOf(error)}`,
    { cause: error },
  );
}

async function loadFromModule(
  name: string,
  options: unknown,
  index: number,
  source: PluginSource,
): Promise<LoadedPlugin> {
  const parent = source.configFile ?? join(source.configDir, 'phys.config.js');
  const tried = pluginCandidates(name, source.configDir);
  let resolved: string | undefined;
  for (const candidate of tried) {
    resolved = await resolveFrom(parent, candidate);
    if (resolved !== undefined) break;
  }
  if (resolved === undefined) {
    const { hint, suggestion } = await notFoundHint(name, source);
    throw new PluginError(
      name,
      'PHYS_PLUGIN_NOT_FOUND',
      `Cannot find plugin '${name}' (plugins[${index}]) from ${source.configDir}. ${hint} Tried: ${tried.join(', ')}.`,
      {
        details: {
          tried,
          from: source.configDir,
          ...(suggestion === undefined ? {} : { suggestion }),
        },
      },
    );
  }
  const origin = `plugins[${index}] ('${name}' → ${resolved})`;
  let namespace: Record<string, unknown>;
  try {
    namespace = await importModule(resolved);
  } catch (error) {
    throw new PluginError(
      name,
      'PHYS_PLUGIN_INVALID',
      `Plugin module ${resolved} failed to load: ${messageOf(error)}`,
      { cause: error, details: { resolved } },
    );
  }
  const factory = unwrapDefault(namespace);
  if (typeof factory !== 'function') {
    const exported = Object.keys(namespace).join(', ') || 'nothing';
    throw new PluginError(
      name,
      'PHYS_PLUGIN_INVALID',
      `Plugin module ${resolved} does not default-export a plugin factory (its default export is ${isPhysPlugin(factory) ? 'a plugin object' : describe(factory)}; it exports: ${exported}). A plugin package default-exports \`(options) => definePlugin({ ... })\`.`,
      { details: { resolved } },
    );
  }
  let plugin: unknown;
  try {
    plugin = await (factory as (o: unknown) => unknown)(options);
  } catch (error) {
    throw factoryFailed(name, resolved, error);
  }
  if (!isPhysPlugin(plugin)) {
    throw new PluginError(
      name,
      'PHYS_PLUGIN_INVALID',
      `The factory default-exported by ${resolved} returned ${describe(plugin)}, not a plugin. Return \`definePlugin({ name, register(ctx) { ... } })\`.`,
      { details: { resolved } },
    );
  }
  return { plugin, origin, options: plugin.options ?? options };
}

function checkConflicts(loaded: readonly LoadedPlugin[]): void {
  const byName = new Map<string, LoadedPlugin>();
  for (const entry of loaded) {
    const first = byName.get(entry.plugin.name);
    if (first !== undefined) {
      throw new PluginError(
        entry.plugin.name,
        'PHYS_PLUGIN_CONFLICT',
        `Plugin '${entry.plugin.name}' is listed twice: ${first.origin} and ${entry.origin}. Keep one entry; options of duplicates are never merged.`,
        { details: { first: first.origin, second: entry.origin } },
      );
    }
    byName.set(entry.plugin.name, entry);
  }
  const claims = new Map<Capability, LoadedPlugin>();
  for (const entry of loaded) {
    for (const capability of new Set(entry.plugin.provides ?? [])) {
      if (!SINGLE_VALUED_CAPABILITIES.includes(capability)) continue;
      const first = claims.get(capability);
      if (first !== undefined) {
        throw new PluginError(
          entry.plugin.name,
          'PHYS_PLUGIN_CONFLICT',
          `Plugins '${first.plugin.name}' (${first.origin}) and '${entry.plugin.name}' (${entry.origin}) both provide '${capability}', which only one plugin may provide. Remove one of them from phys.config.ts.`,
          { details: { capability, plugins: [first.plugin.name, entry.plugin.name] } },
        );
      }
      claims.set(capability, entry);
    }
  }
}

/**
 * Turns `plugins` entries into plugins, in config order: plugin objects as they are, names and
 * `[name, options]` resolved from the config's directory and built by their default-exported
 * factory; falsy entries and `[name, false]` skipped. Then checks API versions, duplicate names
 * and single-valued capabilities.
 */
export async function loadPlugins(
  entries: readonly PluginEntry[],
  source: PluginSource,
): Promise<LoadedPlugin[]> {
  const loaded: LoadedPlugin[] = [];
  for (const [index, entry] of entries.entries()) {
    if (entry === false || entry === null || entry === undefined) continue;
    let item: LoadedPlugin;
    if (typeof entry === 'string') {
      item = await loadFromModule(entry, undefined, index, source);
    } else if (Array.isArray(entry)) {
      const [name, options] = entry as readonly [string, unknown?];
      if (options === false) continue;
      item = await loadFromModule(name, options, index, source);
    } else if (isPhysPlugin(entry)) {
      item = { plugin: entry, origin: `plugins[${index}]`, options: entry.options };
    } else {
      throw new ConfigError(
        'PHYS_CONFIG_INVALID',
        `plugins[${index}] is ${describe(entry)}; a plugin entry is a plugin made by definePlugin(), a package name, [name, options], or false.`,
        { issues: [{ path: `plugins[${index}]`, message: `got ${describe(entry)}` }] },
      );
    }
    checkShape(item.plugin, item.origin);
    loaded.push(item);
  }
  checkConflicts(loaded);
  return loaded;
}
