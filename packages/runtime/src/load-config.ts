import { stat } from 'node:fs/promises';
import { dirname, parse, resolve } from 'node:path';
import type { ConfigEnv, PhysConfig } from '@phys/core';
import { CONFIG_FILE_NAMES, ConfigError, PhysError } from '@phys/core';
import { type CosmiconfigResult, cosmiconfig, type Loader } from 'cosmiconfig';
import { validateConfig } from './config-schema.js';
import { replaceConfigError } from './issues.js';
import { importModule, unwrapDefault } from './module-loader.js';

/** @public */
export interface LoadConfigOptions {
  /** Where the upward search starts, and what a relative `configFile` is resolved against (default: `process.cwd()`). */
  readonly cwd?: string;
  /** Load this file instead of searching. */
  readonly configFile?: string;
  /** The last directory searched (inclusive); default: the filesystem root. */
  readonly stopDir?: string;
  /** Passed to a function-form config (default `'run'`). */
  readonly command?: string;
  /** Passed to a function-form config (default: `NODE_ENV`, else `'development'`). */
  readonly mode?: string;
}

/** A validated config and where it came from. @public */
export interface LoadedConfig {
  readonly config: PhysConfig;
  /** Absolute path of the config file. */
  readonly filepath: string;
  /** Its directory: plugin names and relative paths resolve from here. */
  readonly configDir: string;
  /** What a function-form config was called with. */
  readonly env: ConfigEnv;
}

// For TypeScript this stands in for cosmiconfig-typescript-loader's TypeScriptLoader (the same
// jiti engine), which replaces the config's own error with a "failed to compile" message and
// drops its fields: a plugin factory's option errors must reach the user with their paths.
// JavaScript goes through the same function for its fallback to jiti (see importModule).
const loadModule: Loader = async (filepath) => {
  const namespace = await importModule(filepath);
  return 'default' in namespace ? namespace.default : undefined;
};

function explorer() {
  return cosmiconfig('phys', {
    searchPlaces: [...CONFIG_FILE_NAMES],
    // The upward walk is done below: 'project' stops at the nearest package.json and so hides a
    // workspace-root config from its packages; 'global' also reads ~/.config/phys, which would
    // make a project's behaviour depend on the user's home directory.
    searchStrategy: 'none',
    loaders: Object.fromEntries(
      ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'].map((ext) => [ext, loadModule]),
    ),
    // A found file that exports nothing is an error to report, not a reason to keep searching.
    ignoreEmptySearchPlaces: false,
    cache: false,
  });
}

function directoriesUpward(from: string, stopDir: string | undefined): string[] {
  const stop = stopDir === undefined ? undefined : resolve(stopDir);
  const root = parse(from).root;
  const dirs = [from];
  let current = from;
  while (current !== stop && current !== root) {
    current = dirname(current);
    dirs.push(current);
  }
  return dirs;
}

function loadFailed(filepath: string, error: unknown, what: string): PhysError {
  // Raised by a plugin factory called inside the config (possibly by another copy of
  // @phys/core): the same error with the file added, in its place rather than as a cause, so that
  // its issues are printed once.
  if (PhysError.is(error) && error.code === 'PHYS_CONFIG_INVALID') {
    return replaceConfigError(error, `${filepath}: `, { filepath });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ConfigError(
    'PHYS_CONFIG_LOAD_FAILED',
    `Failed to load config ${filepath}: ${what} threw: ${message}\nFix that error in the config file or the module it imports (see the cause for the stack).`,
    { cause: error, details: { filepath } },
  );
}

async function isFile(path: string): Promise<boolean | 'directory'> {
  try {
    return (await stat(path)).isDirectory() ? 'directory' : true;
  } catch {
    return false;
  }
}

/**
 * Finds, loads and validates `phys.config.*`. Without `configFile` it searches
 * `CONFIG_FILE_NAMES` in `cwd` and then every parent directory, so a config at a
 * workspace root is found from any package below it. A `default` export is unwrapped, and a
 * function export is called with `{ command, mode }` (and awaited).
 *
 * Throws `ConfigError`: `PHYS_CONFIG_NOT_FOUND` (what was searched where),
 * `PHYS_CONFIG_LOAD_FAILED` (the file threw while loading; file path and cause),
 * `PHYS_CONFIG_INVALID` (every problem, each with its path).
 * @public
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const cwd = resolve(options.cwd ?? process.cwd());
  const env: ConfigEnv = {
    command: options.command ?? 'run',
    mode: options.mode ?? process.env.NODE_ENV ?? 'development',
  };
  const configExplorer = explorer();
  let result: CosmiconfigResult;
  if (options.configFile !== undefined) {
    const file = resolve(cwd, options.configFile);
    const kind = await isFile(file);
    if (kind !== true) {
      throw new ConfigError(
        'PHYS_CONFIG_NOT_FOUND',
        `Config file ${file} ${kind === 'directory' ? 'is a directory' : 'does not exist'}. Pass the path of a phys.config.* file, or leave the config file out to search from ${cwd}.`,
        { details: { filepath: file } },
      );
    }
    try {
      result = await configExplorer.load(file);
    } catch (error) {
      throw loadFailed(file, error, 'loading the file');
    }
  } else {
    const searched = directoriesUpward(cwd, options.stopDir);
    result = null;
    for (const dir of searched) {
      try {
        result = await configExplorer.search(dir);
      } catch (error) {
        const file = (error as { filepath?: unknown }).filepath;
        throw loadFailed(typeof file === 'string' ? file : dir, error, 'loading the file');
      }
      if (result !== null) break;
    }
    if (result === null) {
      throw new ConfigError(
        'PHYS_CONFIG_NOT_FOUND',
        `No phys config found. Searched ${searched.length} director${searched.length === 1 ? 'y' : 'ies'}, from ${cwd} up to ${searched.at(-1)}, for: ${CONFIG_FILE_NAMES.join(', ')}.\nCreate phys.config.ts in your project root (\`export default defineConfig({ ... })\`) or pass the config file's path.`,
        { details: { cwd, searched, searchPlaces: CONFIG_FILE_NAMES } },
      );
    }
  }

  if (result === null) {
    throw new ConfigError(
      'PHYS_CONFIG_NOT_FOUND',
      `No config could be read from ${options.configFile}.`,
    );
  }
  const filepath = result.filepath;
  let value = unwrapDefault(result.config);
  if (value === undefined || value === null) {
    throw new ConfigError(
      'PHYS_CONFIG_INVALID',
      `${filepath} exports no config (it is empty or has no default export). Write \`export default defineConfig({ ... })\`.`,
      { issues: [{ path: '', message: 'no config exported' }], details: { filepath } },
    );
  }
  if (typeof value === 'function') {
    try {
      value = unwrapDefault(await (value as (e: ConfigEnv) => unknown)(env));
    } catch (error) {
      throw loadFailed(filepath, error, 'the config function');
    }
  }
  const config = validateConfig(value, filepath);
  return Object.freeze({ config, filepath, configDir: dirname(filepath), env });
}
