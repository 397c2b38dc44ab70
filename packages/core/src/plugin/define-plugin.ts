import type { Orchestrator } from '../contracts/orchestrator.js';
import type { Logger } from '../logger.js';
import type { NodeSpec } from '../node-spec.js';
import type { StageRegistry } from '../stage-registry.js';
import type { NodeStatus } from '../status.js';
import type { Container, ExecuteResult, Token } from '../tokens.js';
import type { PhysConfig, PipelineDeclaration } from './define-config.js';

const PLUGIN = Symbol.for('@phys/core:Plugin');

/** The plugin contract version this core implements. @public */
export const PLUGIN_API_VERSION = 1;

/** Capabilities a plugin may provide. Single-valued ones may be provided by one plugin only. @public */
export type Capability =
  | 'executor'
  | 'scheduler'
  | 'cache'
  | 'orchestrator'
  | 'metrics'
  | 'hooks'
  | 'stages'
  | 'sweep'
  | 'packager';

/** Capabilities at most one plugin may provide. @public */
export const SINGLE_VALUED_CAPABILITIES: readonly Capability[] = Object.freeze([
  'executor',
  'scheduler',
  'cache',
  'orchestrator',
]);

/** What a plugin's hooks receive. @public */
export interface PluginContext<TOptions = unknown> {
  readonly options: TOptions;
  /** The run's child container: register providers here. */
  readonly container: Container;
  readonly logger: Logger;
  /** Directory of the config file that loaded the plugin. */
  readonly configDir: string;
  /**
   * The config file that loaded the plugin (undefined for an in-memory config). Executors hand
   * it to worker threads and cluster jobs, which load it to rebuild stages by identity.
   */
  readonly configFile?: string | undefined;
  /**
   * Absolute directory for caches and run data: the config's `cacheDir` resolved from
   * `configDir` (default `<configDir>/.phys`). Absent only when a host builds contexts by hand.
   */
  readonly cacheDir?: string;
  /** Register stage definitions the plugin ships. */
  readonly stages: StageRegistry;
  /**
   * The command that executes one task envelope in a fresh process on this machine
   * (`[node, <task entry>]`; the envelope path is appended). Set by the host, so scheduler
   * plugins start jobs without depending on it. Absent only when a host builds contexts by hand.
   */
  readonly taskCommand?: readonly string[];
}

/**
 * A phys plugin. `register` runs synchronously for every plugin in config order, then `init`
 * (awaited, same order), and `dispose` in reverse order when the runtime closes.
 * @public
 */
export interface PhysPlugin<TOptions = unknown> {
  /** Short id used in config, logs and errors, e.g. `scheduler-slurm`. */
  readonly name: string;
  readonly version?: string;
  /** Contract version; the registry rejects versions it does not implement. */
  readonly apiVersion: number;
  readonly provides?: readonly Capability[];
  /** Options as given in the config (already validated by the plugin's factory). */
  readonly options?: TOptions;
  /**
   * Commands the plugin adds to `phys`, as data. The host lists them in `--help` and imports a
   * command's code (`load`) only when that command runs.
   */
  readonly commands?: readonly CliCommand[];
  register(ctx: PluginContext<TOptions>): void;
  init?(ctx: PluginContext<TOptions>): Promise<void>;
  dispose?(): Promise<void>;
}

/** What a plugin package default-exports. @public */
export type PhysPluginFactory<TOptions = undefined> = (
  options: TOptions,
) => PhysPlugin<TOptions> | Promise<PhysPlugin<TOptions>>;

/** What {@link definePlugin} takes. @public */
export type PluginDefinition<TOptions> = Omit<PhysPlugin<TOptions>, 'apiVersion'> & {
  readonly apiVersion?: number;
};

/**
 * Identity plus brand: full inference for plugin authors, a runtime check for the registry.
 * @public
 */
export function definePlugin<TOptions = undefined>(
  plugin: PluginDefinition<TOptions>,
): PhysPlugin<TOptions> {
  const branded = { apiVersion: PLUGIN_API_VERSION, ...plugin };
  Object.defineProperty(branded, PLUGIN, { value: true });
  return Object.freeze(branded);
}

/** True for a plugin made by {@link definePlugin} (also by another copy of `@phys/core`). @public */
export function isPhysPlugin(value: unknown): value is PhysPlugin {
  return typeof value === 'object' && value !== null && PLUGIN in value;
}

// --- Commands a plugin adds to the `phys` CLI -------------------------------------------------

/**
 * A positional argument of a {@link CliCommand}.
 * @public
 */
export interface CliArgument {
  /** As usage shows it: `<pipeline>` required, `[path]` optional, `<files...>` variadic (last). */
  readonly name: string;
  readonly description: string;
}

/**
 * An option of a {@link CliCommand}. Values reach the handler as strings (or `true` for a flag
 * without a value): the handler parses numbers itself and throws a `UsageError` for bad ones.
 * @public
 */
export interface CliOption {
  /** Commander's notation: `'-o, --out <file>'`, `'--dry-run'`, `'-n, --samples <n>'`. */
  readonly flags: string;
  /** One line, lower case, shown by `--help`. */
  readonly description: string;
  /** The value when the option is not given. */
  readonly default?: string | boolean;
  /** The only values allowed; any other exits 64 before the command's code is loaded. */
  readonly choices?: readonly string[];
  /** May be given several times; the handler gets every value, in order (default `[]`). */
  readonly repeatable?: boolean;
}

/**
 * A command a plugin adds to `phys`, as data (Backstage's CLI plugin model): the host builds the
 * command line and `--help` from it, and calls `load` only for the command that runs. Keep the
 * module that declares it light; put the work in the module `load` imports.
 * @public
 */
export interface CliCommand {
  /** The words after `phys`: `['sweep']`, `['package', 'verify']`. A built-in command wins. */
  readonly path: readonly string[];
  /** One line, lower case, shown by `phys --help`. */
  readonly description: string;
  readonly arguments?: readonly CliArgument[];
  /**
   * The command's own options. The host adds `-c, --config <file>`, `-C, --cwd <dir>` (where the
   * config is) and `--json` to every plugin command.
   */
  readonly options?: readonly CliOption[];
  /** Imports the command's code: `load: () => import('./cli/sweep-command.js')`. */
  readonly load: () => Promise<CliCommandModule>;
  /**
   * What the CLI prints on the first SIGINT or SIGTERM while the command runs, after the signal's
   * name: `'stopping the server'` gives `SIGTERM: stopping the server (send it again to stop at
   * once).` Default `'cancelling the run'`, right for commands that run pipelines. The command
   * sees the signal as `ctx.signal` either way.
   */
  readonly interruptNotice?: string;
}

/**
 * What {@link CliCommand.load} resolves to: a module whose default export runs the command.
 * @public
 */
export interface CliCommandModule {
  readonly default: CliCommandHandler;
}

/**
 * Runs a plugin command and resolves to the process exit code: 0 success, 1 the work failed
 * (`runDag` also gives 130 for an interrupted run). For a bad command line or config, throw a
 * `UsageError` (exit 64) or `ConfigError` (exit 78); the host prints every thrown error, as one
 * JSON object under `--json`, and exits 1 for any other.
 * @public
 */
export type CliCommandHandler = (ctx: CliCommandContext) => Promise<number>;

/**
 * Where a command writes. `process.stdout` and `process.stderr` fit; tests pass collectors.
 * @public
 */
export interface CliWritable {
  /** Writes text; the caller never waits for the returned value. */
  write(chunk: string): unknown;
  /** Terminal width, when known. */
  readonly columns?: number | undefined;
  /** Terminal height, when known. */
  readonly rows?: number | undefined;
  /** True for an interactive terminal. */
  readonly isTTY?: boolean;
}

/**
 * The loaded config as a plugin command sees it; `@phys/runtime`'s `PhysRuntime` is one. Its
 * plugins are registered and initialised; the host disposes them when the command ends.
 * @public
 */
export interface CliRuntime {
  /** The validated config. */
  readonly config: PhysConfig;
  /** The config file, or undefined for an in-memory config. */
  readonly configFile: string | undefined;
  /** Absolute directory of the config. */
  readonly configDir: string;
  /** Absolute cache directory (`cacheDir` resolved from the config's directory). */
  readonly cacheDir: string;
  readonly logger: Logger;
  /** The plugins, in config order. */
  readonly plugins: readonly PhysPlugin[];
  /** The declared pipelines, by name. */
  readonly pipelines: Readonly<Record<string, PipelineDeclaration>>;
  /** The declaration of pipeline `name`; a `UsageError` naming the known ones when absent. */
  pipeline(name: string): PipelineDeclaration;
  /** Resolves a single-valued token; `PHYS_DI_UNRESOLVED` when no plugin provides it. */
  resolve<T>(token: Token<T>): T;
  /** Every provider of a multi-valued token (none is an empty array). */
  resolveAll<T>(token: Token<T>): T[];
  /** Whether some plugin registered `token`. */
  isRegistered<T>(token: Token<T>): boolean;
  /**
   * Where whole pipelines are submitted: the `orchestrator` a plugin provides (e.g. a remote
   * one), else the host's local orchestrator, created on first use.
   */
  readonly orchestrator: Orchestrator;
}

/**
 * A DAG that {@link CliCommandContext.runDag} runs through the configured executor.
 * @public
 */
export interface CliDagRun {
  /** Name of the run, usually the pipeline's: handed to the executor and shown in progress. */
  readonly pipeline: string;
  readonly nodes: readonly NodeSpec[];
  /** State of the root nodes; a function is called (and awaited) first. */
  readonly initialState?: unknown;
  /** Laid over the config's `policy` (later keys win). */
  readonly policy?: Readonly<Record<string, unknown>>;
  /**
   * Progress on stderr: `auto` (default) redraws in place on a terminal and prints one line per
   * node event elsewhere; `live`, `plain` or `none` force one. Nothing is shown under `--json`.
   */
  readonly progress?: 'auto' | 'live' | 'plain' | 'none';
  /** Header of the live display (default `phys <command> <pipeline>`). */
  readonly title?: string;
  /** Record artifacts (lazy ones evaluated) as files under this directory (relative to `cwd`). */
  readonly recordDir?: string;
}

/**
 * How a {@link CliCommandContext.runDag} run ended. A failed node is not a thrown error: it is in
 * `result.nodes` and the exit code.
 * @public
 */
export interface CliDagRunResult {
  readonly runId: string;
  /** What the executor returned. */
  readonly result: ExecuteResult;
  /** Number of nodes by final status. */
  readonly counts: Readonly<Partial<Record<NodeStatus, number>>>;
  /** 0 when the run COMPLETED, 130 when the user interrupted it, 1 otherwise. */
  readonly exitCode: number;
}

/**
 * The host's text formatting, so that plugin commands print like the built-in ones.
 * @public
 */
export interface CliFormat {
  /** Rows as columns two spaces apart (the first row is the header); `'right'` aligns a column right. */
  table(rows: readonly (readonly string[])[], align?: readonly ('left' | 'right')[]): string[];
  /** A number as a person reads it: integers whole, others to 6 significant digits. */
  number(value: number): string;
  /** Seconds as `850 µs`, `12.3 ms`, `4.21 s` or `2m 03s`. */
  duration(seconds: number): string;
  /** Node counts by status: `12 completed · 2 failed`. */
  counts(counts: Readonly<Partial<Record<NodeStatus, number>>>): string;
}

/**
 * What a {@link CliCommandHandler} receives from the `phys` host.
 * @public
 */
export interface CliCommandContext {
  /** The command's words, e.g. `['package', 'verify']`. */
  readonly path: readonly string[];
  /** Positional arguments in declared order; a variadic argument's values come last. */
  readonly args: readonly string[];
  /**
   * The command's options by camel-cased long name (`--dry-run` → `dryRun`), defaults applied.
   * The host's own `--config`, `--cwd` and `--json` are not in it.
   */
  readonly options: Readonly<Record<string, unknown>>;
  /** `--json` was given: print one JSON object on stdout, and nothing else there. */
  readonly json: boolean;
  /** The config the command runs against, plugins initialised. */
  readonly runtime: CliRuntime;
  /** Results: summaries, tables, the `--json` object. */
  readonly stdout: CliWritable;
  /** Logs, progress and messages for people. */
  readonly stderr: CliWritable;
  /** Directory that relative paths on the command line resolve from. */
  readonly cwd: string;
  /** Aborted on SIGINT or SIGTERM: stop, and resolve with the exit code. */
  readonly signal: AbortSignal;
  /** Writes `text` and a newline to stdout. */
  out(text?: string): void;
  /** Writes `text` and a newline to stderr. */
  err(text?: string): void;
  readonly format: CliFormat;
  /**
   * Runs a DAG through the executor the config provides (a `ConfigError` when none does), with
   * progress on stderr, cancelled by `signal`.
   */
  runDag(run: CliDagRun): Promise<CliDagRunResult>;
}
