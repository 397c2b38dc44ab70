// Commands contributed by the configured plugins (`PhysPlugin.commands`): loaded only when the
// command word is not built in. The config is loaded and its plugins registered (not initialised)
// to read their command data; the command's code is imported only when it runs, against a fresh
// runtime whose plugins are initialised.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  type CliCommand,
  type CliCommandHandler,
  type PhysPlugin,
  type PluginEntry,
  PluginError,
  UsageError,
} from '@phys/core';
import { createRuntime, type LoadedConfig } from '@phys/runtime';
import { type Command, Option } from 'commander';
import {
  BUILTIN_COMMANDS,
  type ConfigOptions,
  collect,
  configOptions,
  PLUGIN_COMMANDS_HEADING,
  type SetExit,
} from './cli.js';
import { createCommandContext } from './command-context.js';
import type { CliContext } from './context.js';
import { journal } from './journal.js';
import { KNOWN_PLUGIN_COMMANDS, type KnownPluginCommand } from './known-plugin-commands.js';
import { loadFor, loggerFor, withRuntime } from './open-runtime.js';

/** A command and the plugin that contributed it. */
interface Contributed {
  readonly plugin: string;
  readonly command: CliCommand;
}

const WORD = /^[a-z][a-z0-9-]*$/;

/** `--config`/`--cwd` of the command line, read before parsing: they say where the commands are. */
export function configLocation(argv: readonly string[]): ConfigOptions {
  const found: { config?: string; cwd?: string } = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') break;
    for (const [short, long, key] of [
      ['-c', '--config', 'config'],
      ['-C', '--cwd', 'cwd'],
    ] as const) {
      if (arg === short || arg === long) {
        const value = argv[i + 1];
        if (value !== undefined) found[key] = value;
      } else if (arg.startsWith(`${long}=`)) {
        found[key] = arg.slice(long.length + 1);
      } else if (arg.startsWith(short) && !arg.startsWith('--') && arg.length > 2) {
        found[key] = arg.slice(2);
      }
    }
  }
  return found;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function invalid(plugin: string, index: number, problem: string): PluginError {
  return new PluginError(
    plugin,
    'PHYS_PLUGIN_INVALID',
    `Plugin '${plugin}' declares an invalid CLI command (commands[${index}]): ${problem}. Fix the plugin, or remove it from plugins.`,
    { details: { command: index } },
  );
}

function checkCommand(plugin: string, index: number, value: unknown): CliCommand {
  const command = value as Partial<CliCommand> | null;
  if (typeof command !== 'object' || command === null)
    throw invalid(plugin, index, 'not an object');
  const path = command.path;
  if (!Array.isArray(path) || path.length === 0 || !path.every((w) => WORD.test(String(w)))) {
    throw invalid(
      plugin,
      index,
      `path must be a non-empty list of lower-case words such as ['sweep'], got ${JSON.stringify(path)}`,
    );
  }
  if (typeof command.description !== 'string') {
    throw invalid(plugin, index, 'description must be a string');
  }
  if (typeof command.load !== 'function') {
    throw invalid(plugin, index, "load must be a function such as () => import('./command.js')");
  }
  const notice: unknown = command.interruptNotice;
  if (notice !== undefined && (typeof notice !== 'string' || !/^[^\n]+$/.test(notice.trim()))) {
    throw invalid(
      plugin,
      index,
      `interruptNotice must be one line of text such as 'stopping the server', got ${JSON.stringify(notice)}`,
    );
  }
  return command as CliCommand;
}

/**
 * The commands of the configured plugins, checked. A path under a built-in command is left out
 * (the built-in wins); two plugins adding one path, or a path inside another, are a conflict.
 */
export function pluginCommands(plugins: readonly PhysPlugin[]): Contributed[] {
  const out: Contributed[] = [];
  for (const plugin of plugins) {
    const commands: unknown = plugin.commands;
    if (commands === undefined) continue;
    if (!Array.isArray(commands)) throw invalid(plugin.name, 0, 'commands must be an array');
    commands.forEach((value, index) => {
      const command = checkCommand(plugin.name, index, value);
      if (BUILTIN_COMMANDS.has(command.path[0] as string)) return;
      const key = command.path.join(' ');
      const clash = out.find((other) => {
        const otherKey = other.command.path.join(' ');
        return otherKey === key || otherKey.startsWith(`${key} `) || key.startsWith(`${otherKey} `);
      });
      if (clash !== undefined) {
        throw new PluginError(
          plugin.name,
          'PHYS_PLUGIN_CONFLICT',
          `Plugins '${clash.plugin}' and '${plugin.name}' both add the command \`phys ${key}\` (or one inside the other's). Keep one of them in plugins.`,
          { details: { command: key, plugins: [clash.plugin, plugin.name] } },
        );
      }
      out.push({ plugin: plugin.name, command });
    });
  }
  return out;
}

/** The package manager the project uses, from its lock file: `pnpm add`, `yarn add`, ... */
export function installCommand(dir: string, packageName: string): string {
  const lockFiles: [string, string][] = [
    ['pnpm-lock.yaml', 'pnpm add'],
    ['yarn.lock', 'yarn add'],
    ['bun.lock', 'bun add'],
    ['bun.lockb', 'bun add'],
    ['package-lock.json', 'npm install'],
  ];
  for (let current = dir; ; current = dirname(current)) {
    for (const [file, command] of lockFiles) {
      if (existsSync(join(current, file))) return `${command} ${packageName}`;
    }
    if (dirname(current) === current) return `npm install ${packageName}`;
  }
}

function isInstalled(packageName: string, fromFile: string): boolean {
  try {
    createRequire(fromFile).resolve(`${packageName}/package.json`);
    return true;
  } catch {
    return false;
  }
}

function entryText(entry: PluginEntry): string | undefined {
  if (entry === false || entry === null || entry === undefined) return undefined;
  if (typeof entry === 'string') return `'${entry}'`;
  if (Array.isArray(entry)) return entry.length > 1 ? `['${entry[0]}', {…}]` : `['${entry[0]}']`;
  return '…';
}

/** `plugins: ['executor-dag', 'sweep'],`: the config's plugins line with `plugin` added. */
export function pluginsLine(entries: readonly PluginEntry[] | undefined, plugin: string): string {
  const shown = (entries ?? []).map(entryText).filter((e): e is string => e !== undefined);
  return `plugins: [${[...shown, `'${plugin}'`].join(', ')}],`;
}

/**
 * The error for a known plugin command whose plugin the config does not list (or lists in a
 * version without the command): what to install, and the exact line to write. Exit 64.
 */
export function pluginMissing(
  known: KnownPluginCommand,
  loaded: LoadedConfig,
  plugins: readonly PhysPlugin[],
): UsageError {
  const configured = plugins.find((p) => p.name === known.plugin);
  const details = {
    command: known.command,
    plugin: known.plugin,
    package: known.packageName,
    configFile: loaded.filepath,
  };
  if (configured !== undefined) {
    return new UsageError(
      `\`phys ${known.command}\` comes with the plugin '${known.plugin}', and the version in ${loaded.filepath} (${known.packageName}${configured.version === undefined ? '' : ` ${configured.version}`}) does not add it. Update it: ${installCommand(loaded.configDir, `${known.packageName}@latest`)}.`,
      { details: { ...details, installed: true } },
    );
  }
  const installed = isInstalled(known.packageName, loaded.filepath);
  const line = pluginsLine(loaded.config.plugins, known.plugin);
  const first = installed
    ? 'Add it to plugins in'
    : `Install it (${installCommand(loaded.configDir, known.packageName)}), then add it to plugins in`;
  return new UsageError(
    `\`phys ${known.command}\` comes with the plugin '${known.plugin}' (package ${known.packageName}), which the config does not list. ${first} ${loaded.filepath}:\n    ${line}`,
    { details: { ...details, installed, configLine: line } },
  );
}

async function loadHandler({ plugin, command }: Contributed): Promise<CliCommandHandler> {
  const name = `phys ${command.path.join(' ')}`;
  let module: unknown;
  try {
    module = await command.load();
  } catch (error) {
    throw new PluginError(
      plugin,
      'PHYS_PLUGIN_FAILED',
      `Plugin '${plugin}' could not load the code of \`${name}\`: ${messageOf(error)}. Reinstall the plugin's package.`,
      { cause: error },
    );
  }
  const handler = (module as { default?: unknown } | null)?.default;
  if (typeof handler !== 'function') {
    throw new PluginError(
      plugin,
      'PHYS_PLUGIN_INVALID',
      `The code of \`${name}\` (plugin '${plugin}') has no default export to run: load() must resolve to a module whose default export is the command's handler.`,
    );
  }
  return handler as CliCommandHandler;
}

function exitCodeOf({ plugin, command }: Contributed, code: unknown): number {
  if (code === undefined) return 0;
  if (typeof code === 'number' && Number.isInteger(code) && code >= 0 && code <= 255) return code;
  throw new PluginError(
    plugin,
    'PHYS_PLUGIN_INVALID',
    `\`phys ${command.path.join(' ')}\` (plugin '${plugin}') resolved to ${String(code)}; a command resolves to its exit code, an integer from 0 to 255.`,
  );
}

function groupFor(parent: Command, word: string, plugin: string): Command {
  const existing = parent.commands.find((c) => c.name() === word);
  if (existing !== undefined) return existing;
  const known = KNOWN_PLUGIN_COMMANDS.find((k) => k.command === word);
  return parent
    .command(word)
    .description(
      `${known?.description ?? `commands of the plugin '${plugin}'`} [plugin '${plugin}']`,
    )
    .helpGroup(PLUGIN_COMMANDS_HEADING);
}

function addCommand(
  program: Command,
  ctx: CliContext,
  contributed: Contributed,
  loaded: LoadedConfig,
  setExit: SetExit,
): void {
  const { plugin, command: spec } = contributed;
  const path = spec.path;
  let parent = program;
  for (const word of path.slice(0, -1)) parent = groupFor(parent, word, plugin);
  const command = parent.command(path.at(-1) as string);
  if (path.length === 1) {
    command
      .description(`${spec.description} [plugin '${plugin}']`)
      .helpGroup(PLUGIN_COMMANDS_HEADING);
  } else {
    command.description(spec.description);
  }
  try {
    for (const argument of spec.arguments ?? [])
      command.argument(argument.name, argument.description);
    for (const declared of spec.options ?? []) {
      const option = new Option(declared.flags, declared.description);
      if (declared.choices !== undefined) option.choices([...declared.choices]);
      if (declared.repeatable === true) option.argParser(collect).default([]);
      else if (declared.default !== undefined) option.default(declared.default);
      command.addOption(option);
    }
    configOptions(command);
  } catch (error) {
    throw new PluginError(
      plugin,
      'PHYS_PLUGIN_INVALID',
      `Plugin '${plugin}' declares \`phys ${path.join(' ')}\` with arguments or options the command line cannot take: ${messageOf(error)}.`,
      { cause: error },
    );
  }
  command.action(async (...params: unknown[]) => {
    const parsed = params.at(-1) as Command;
    const { config, cwd, json, ...options } = parsed.opts<Record<string, unknown>>();
    const host: ConfigOptions = {
      ...(typeof config === 'string' ? { config } : {}),
      ...(typeof cwd === 'string' ? { cwd } : {}),
      json: json === true,
    };
    const args = parsed.processedArgs.flatMap((value: unknown) =>
      value === undefined ? [] : Array.isArray(value) ? value.map(String) : [String(value)],
    );
    const handler = await loadHandler(contributed);
    if (spec.interruptNotice !== undefined) {
      journal({ type: 'command', interruptNotice: spec.interruptNotice.trim() });
    }
    const code = await withRuntime(
      ctx,
      host,
      path[0] as string,
      (runtime) =>
        handler(
          createCommandContext(ctx, runtime, { path, args, options, json: host.json === true }),
        ),
      { loaded },
    );
    setExit(exitCodeOf(contributed, code));
  });
}

/**
 * Adds the configured plugins' commands to `program` for a command word that is not built in.
 * A known command whose plugin is missing throws the hint (exit 64). For an unknown word whose
 * config cannot be loaded, resolves to a note for the "unknown command" error.
 */
export async function addPluginCommands(
  program: Command,
  ctx: CliContext,
  argv: readonly string[],
  word: string,
  setExit: SetExit,
): Promise<string | undefined> {
  const known = KNOWN_PLUGIN_COMMANDS.find((k) => k.command === word);
  const where = configLocation(argv);
  const json = argv.includes('--json');
  let loaded: LoadedConfig;
  let plugins: readonly PhysPlugin[];
  try {
    loaded = await loadFor(ctx, where, word);
    // Registered only, to read their commands: nothing is started for a typo or `--help`.
    const discovery = await createRuntime(loaded, {
      logger: loggerFor(ctx, loaded.config.logLevel ?? 'info', json),
      command: word,
      init: false,
    });
    plugins = discovery.plugins;
    await discovery.dispose();
  } catch (error) {
    if (known !== undefined) throw error;
    const code = (error as { code?: unknown } | null)?.code;
    return `(Plugin commands were not looked for: the config did not load${typeof code === 'string' ? `, ${code}` : ''}; \`phys config\` says why.)`;
  }
  const contributed = pluginCommands(plugins);
  if (known !== undefined && !contributed.some((c) => c.command.path[0] === word)) {
    throw pluginMissing(known, loaded, plugins);
  }
  for (const command of contributed) addCommand(program, ctx, command, loaded, setExit);
  return undefined;
}
