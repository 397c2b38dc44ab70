// The `phys` host. This module loads only commander and a few small modules of its own: a
// command's code (and @phys/core, @phys/runtime, the config and its plugins) is imported when
// that command runs, so `phys --help` costs little more than starting Node.
import { Command, CommanderError, Option } from 'commander';
import type { CacheClearOptions, CacheSubcommand } from './commands/cache.js';
import type { RunsOptions, RunsSubcommand } from './commands/runs.js';
import type { SubmitOptions } from './commands/submit.js';
import { type CliContext, createContext, type RunCliOptions } from './context.js';
import { docsUrl } from './docs-url.js';
import { ExitCode } from './exit-codes.js';
import { KNOWN_PLUGIN_COMMANDS } from './known-plugin-commands.js';
import { version } from './version.js';

/** Options every command that reads the config accepts. */
export interface ConfigOptions {
  readonly config?: string;
  readonly cwd?: string;
  readonly json?: boolean;
}

/** Options of `phys run`. */
export interface RunOptions extends ConfigOptions {
  readonly set: readonly string[];
  readonly record?: string;
  readonly progress: 'auto' | 'live' | 'plain' | 'none';
  /** `--metrics-port`: the port the metrics plugin serves `/metrics` on during the run. */
  readonly metricsPort?: string;
}

/** Options of `phys plan`. */
export interface PlanOptions extends ConfigOptions {
  readonly set: readonly string[];
  readonly verify: boolean;
}

/** Options of `phys graph`. */
export interface GraphOptions extends ConfigOptions {
  readonly format: 'mermaid' | 'dot';
}

/** Sets the exit code of the command that ran. */
export type SetExit = (code: number) => void;

/** The heading plugin commands are listed under in `phys --help`. */
export const PLUGIN_COMMANDS_HEADING = 'Plugin commands:';

/** Built-in commands: they win over a plugin command of the same name. */
export const BUILTIN_COMMANDS: ReadonlySet<string> = new Set([
  'run',
  'config',
  'graph',
  'plan',
  'cache',
  'exec',
  'submit',
  'runs',
  'help',
]);

/** Adds `--config`, `--cwd` and `--json`, which every command that reads the config accepts. */
export function configOptions(command: Command): Command {
  return command
    .option('-c, --config <file>', 'config file to use instead of searching for phys.config.*')
    .option('-C, --cwd <dir>', 'directory to search for the config from (default: the current one)')
    .option('--json', 'print one JSON object (results and errors) on stdout, for scripts');
}

/** Commander's accumulator for repeatable options. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function progressOption(): Option {
  return new Option('--progress <mode>', 'progress display')
    .choices(['auto', 'live', 'plain', 'none'])
    .default('auto');
}

function remoteOption(): Option {
  return new Option(
    '--remote <url>',
    'the `phys serve` server to talk to, e.g. http://127.0.0.1:8787 (default: $PHYS_REMOTE; else the orchestrator of the config)',
  );
}

function buildProgram(ctx: CliContext, setExit: SetExit): Command {
  const program = new Command('phys')
    .description('Run reproducible physics and ML simulation pipelines declared in phys.config.ts.')
    .version(version(), '-v, --version', 'print the version of @phys/cli')
    .helpOption('-h, --help', 'show help')
    .helpCommand('help [command]', 'show help for a command')
    // Read before parsing too (runCli), so that errors of the parse itself show their stacks.
    .option(
      '--verbose',
      'on an error, print every cause with its stack, also in --json output (or set PHYS_DEBUG=1)',
    )
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void ctx.stdout.write(s),
      writeErr: (s) => void ctx.stderr.write(s),
      // Commander's own errors are reported by runCli, as `error PHYS_USAGE: ...`.
      outputError: () => {},
    })
    .showSuggestionAfterError(true)
    .addHelpText(
      'after',
      `
A plugin command exists when its plugin is in phys.config.ts, and other plugins there may add
more: \`phys <command> --help\` shows one.
Exit codes: 0 success, 1 run failed, 64 usage error, 78 invalid config, 130 interrupted.
Docs: ${docsUrl('cli.md')}`,
    );

  configOptions(
    program
      .command('run')
      .description('run a pipeline declared in the config (sequential or DAG)')
      .argument('<pipeline>', 'name of the pipeline (see `phys config`)')
      .option(
        '-s, --set <key=value>',
        'override a policy value for this run (repeatable; the value is parsed as JSON when it can be)',
        collect,
        [],
      )
      .option('--record <dir>', 'record artifacts (lazy ones included) as files under <dir>')
      .option(
        '--metrics-port <port>',
        'serve Prometheus metrics at http://127.0.0.1:<port>/metrics while the run goes (needs the metrics-prometheus plugin; 0 takes a free port)',
      )
      .addOption(progressOption()),
  ).action(async (pipeline: string, options: RunOptions) => {
    const { runCommand } = await import('./commands/run.js');
    setExit(await runCommand(ctx, pipeline, options));
  });

  configOptions(
    program
      .command('config')
      .description('show the resolved config: config file, plugins, stages and pipelines'),
  ).action(async (options: ConfigOptions) => {
    const { configCommand } = await import('./commands/config.js');
    setExit(await configCommand(ctx, options));
  });

  configOptions(
    program
      .command('graph')
      .description(
        'print the graph of a pipeline (Mermaid by default, Graphviz dot with --format dot)',
      )
      .argument('<pipeline>', 'name of the pipeline')
      .addOption(
        new Option('-f, --format <format>', 'output format')
          .choices(['mermaid', 'dot'])
          .default('mermaid'),
      ),
  ).action(async (pipeline: string, options: GraphOptions) => {
    const { graphCommand } = await import('./commands/graph.js');
    setExit(await graphCommand(ctx, pipeline, options));
  });

  configOptions(
    program
      .command('plan')
      .description(
        'show which nodes of a DAG pipeline the cache holds and which would run, and why (runs nothing)',
      )
      .argument('<pipeline>', 'name of the DAG pipeline')
      .option(
        '-s, --set <key=value>',
        'plan with this policy override, as `phys run --set` would run (repeatable)',
        collect,
        [],
      )
      .option(
        '--verify',
        'read and verify every cached entry, as a run would; a damaged one plans as "will run"',
        false,
      ),
  ).action(async (pipeline: string, options: PlanOptions) => {
    const { planCommand } = await import('./commands/plan.js');
    setExit(await planCommand(ctx, pipeline, options));
  });

  const cache = program
    .command('cache')
    .description('inspect and maintain the result cache the config declares');
  const cacheSubcommands: [CacheSubcommand, string][] = [
    ['stats', 'entries and size of the cache'],
    ['ls', 'list the entries, most recently used first'],
    [
      'gc',
      'evict down to the size limit, remove temporary files of dead writers and old quarantine',
    ],
    ['verify', 'read and check every entry; damaged ones are moved aside (exit 1 if any)'],
    ['clear', 'delete every entry (needs --yes)'],
  ];
  for (const [sub, description] of cacheSubcommands) {
    const command = configOptions(cache.command(sub).description(description));
    if (sub === 'clear') command.option('-y, --yes', 'confirm that every entry is to be deleted');
    command.action(async (options: CacheClearOptions) => {
      const { cacheCommand } = await import('./commands/cache.js');
      setExit(await cacheCommand(ctx, sub, options));
    });
  }

  configOptions(
    program
      .command('submit')
      .description(
        'queue a run of a pipeline on a server and print its job id (without a server: run it here and wait)',
      )
      .argument('<pipeline>', "name of the pipeline (the server's, with --remote)")
      .option(
        '-s, --set <key=value>',
        'override a policy value for this run (repeatable; the value is parsed as JSON when it can be)',
        collect,
        [],
      )
      .option(
        '--run-id <id>',
        'the job id, and the idempotency key: submitting the same id again returns that run',
      )
      .option('--priority <n>', 'higher runs start first among queued ones (default 0)')
      .addOption(remoteOption())
      .option('-w, --wait', 'wait for the run to end and print its result as `phys run` does')
      .option(
        '--timeout <seconds>',
        'stop waiting after this many seconds (exit 1, PHYS_WAIT_TIMEOUT); the run goes on',
      ),
  ).action(async (pipeline: string, options: SubmitOptions) => {
    const { submitCommand } = await import('./commands/submit.js');
    setExit(await submitCommand(ctx, pipeline, options));
  });

  const runs = program
    .command('runs')
    .description('list, show, wait for, cancel and read the logs of the runs a server keeps');
  const runsSubcommands: [RunsSubcommand, string, (command: Command) => Command][] = [
    [
      'ls',
      'list runs, newest first',
      (c) =>
        c
          .option('--pipeline <name>', 'only runs of this pipeline')
          .option(
            '--status <statuses>',
            'only runs in these statuses, comma-separated (queued,running,completed,failed,cancelled,timeout)',
          )
          .option('--limit <n>', 'at most this many runs (1 to 500, default 50)')
          .option('--cursor <cursor>', 'the page after the one that printed this cursor'),
    ],
    ['show', 'show one run: status, attempts, times, nodes, error, metrics', (c) => c],
    [
      'wait',
      'wait for a run to end and print its result as `phys run` does (same exit codes)',
      (c) =>
        c
          .option(
            '--timeout <seconds>',
            'stop waiting after this many seconds (exit 1, PHYS_WAIT_TIMEOUT); the run goes on',
          )
          .option(
            '--poll-interval <seconds>',
            'seconds between status checks when the server cannot stream events (default 5)',
          ),
    ],
    ['cancel', 'cancel a run: queued, it never starts; running, it is stopped', (c) => c],
    [
      'logs',
      "print a run's log lines",
      (c) =>
        c
          .option('-f, --follow', 'print lines as they come until the run ends')
          .option('--tail <n>', 'only the last n lines (default 200, at most 5000)'),
    ],
  ];
  for (const [sub, description, withOptions] of runsSubcommands) {
    const command = runs.command(sub).description(description);
    if (sub !== 'ls') command.argument('<id>', 'the job id (as `phys submit` printed it)');
    configOptions(withOptions(command).addOption(remoteOption())).action(
      async (...params: unknown[]) => {
        const jobId = sub === 'ls' ? undefined : (params[0] as string);
        const options = params[sub === 'ls' ? 0 : 1] as RunsOptions;
        const { runsCommand } = await import('./commands/runs.js');
        setExit(await runsCommand(ctx, sub, jobId, options));
      },
    );
  }

  program
    .command('exec')
    .description(
      'execute one task envelope (the entry point of process isolation and cluster jobs)',
    )
    .argument('<envelope>', 'path of the task envelope file')
    .action(async (envelope: string) => {
      // Only the runtime and the stage's config: no plugin command, no progress renderer.
      const { execCommand } = await import('./commands/exec.js');
      setExit(await execCommand(ctx, envelope));
    });

  return program;
}

/**
 * Lists the commands of first-party plugins that `program` does not have yet (their plugin is not
 * configured, or no config was loaded): for `--help` and for suggestions after a typo. They are
 * never run: a known command whose plugin is missing is answered before parsing.
 */
function addKnownPluginCommands(program: Command): void {
  for (const known of KNOWN_PLUGIN_COMMANDS) {
    if (program.commands.some((c) => c.name() === known.command)) continue;
    program
      .command(known.command)
      .description(`${known.description} [plugin '${known.plugin}', ${known.packageName}]`)
      .helpGroup(PLUGIN_COMMANDS_HEADING);
  }
}

/** The command word of `argv` (root options such as `--help` take no value). */
/**
 * Whether `argv` names a command that runs stages: `phys run` and plugin commands (`phys
 * sweep`, ...). Help never is.
 */
function hosted(argv: readonly string[]): boolean {
  const word = commandWord(argv);
  if (word === undefined || word === 'help' || hasFlag(argv, '--help') || hasFlag(argv, '-h')) {
    return false;
  }
  // `phys submit` without a server runs the pipeline here, as `phys run` does.
  if (word === 'submit') return remoteOf(argv) === undefined;
  return word === 'run' || !BUILTIN_COMMANDS.has(word);
}

/** `--remote <url>` of the command line, else PHYS_REMOTE (undefined when neither is given). */
function remoteOf(argv: readonly string[]): string | undefined {
  const end = argv.indexOf('--');
  const args = end === -1 ? argv : argv.slice(0, end);
  for (const [i, arg] of args.entries()) {
    if (arg === '--remote') return args[i + 1];
    if (arg.startsWith('--remote=')) return arg.slice('--remote='.length);
  }
  const env = process.env.PHYS_REMOTE?.trim();
  return env === '' ? undefined : env;
}

function commandWord(argv: readonly string[]): string | undefined {
  return argv.find((arg) => !arg.startsWith('-'));
}

/** Whether `flag` is among the options of `argv` (before a `--`). */
function hasFlag(argv: readonly string[], flag: string): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes(flag);
}

function isCommanderError(error: unknown): error is CommanderError {
  return error instanceof CommanderError;
}

/**
 * Runs the `phys` command line with `argv` (the arguments after the program name) and resolves
 * to the exit code. It never calls `process.exit` and writes only to the given streams, so tests
 * and other programs can call it directly.
 * @public
 */
export async function runCli(
  argv: readonly string[],
  options: RunCliOptions = {},
): Promise<number> {
  const ctx = createContext(options);
  if (hasFlag(argv, '--verbose')) ctx.verbose = true;
  let exitCode: number = ExitCode.OK;
  const setExit: SetExit = (code) => {
    exitCode = code;
  };
  const program = buildProgram(ctx, setExit);
  // Parsing may fail before any option is known; a script asking for JSON still gets JSON.
  const json = argv.includes('--json');
  let args = [...argv];
  // `phys help sweep` is `phys sweep --help`: the command comes from a plugin.
  if (args[0] === 'help' && args[1] !== undefined && !BUILTIN_COMMANDS.has(args[1])) {
    args = [...args.slice(1), '--help'];
  }
  const word = commandWord(args);
  let note: string | undefined;
  try {
    if (word !== undefined && !BUILTIN_COMMANDS.has(word)) {
      // Not built in: the command comes from a plugin of the config (or does not exist).
      const { addPluginCommands } = await import('./plugin-commands.js');
      note = await addPluginCommands(program, ctx, args, word, setExit);
    }
    addKnownPluginCommands(program);
    await program.parseAsync(args, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (isCommanderError(error)) return commanderExit(ctx, error, json, note);
    const { reportError } = await import('./report-error.js');
    return reportError(ctx, error, json);
  }
}

async function commanderExit(
  ctx: CliContext,
  error: CommanderError,
  json: boolean,
  note: string | undefined,
): Promise<number> {
  // Help and version were printed as asked for (`--help`, `help <command>`, `--version`).
  // Help shown because no command was given has the same code but a non-zero exit code.
  if (
    error.code === 'commander.helpDisplayed' ||
    error.code === 'commander.version' ||
    (error.code === 'commander.help' && error.exitCode === 0)
  ) {
    return ExitCode.OK;
  }
  const message =
    error.code === 'commander.help'
      ? 'no command given; pick one of the commands listed above.'
      : // Commander's own sentences may end with a period already ("Allowed choices are a, b.").
        `${error.message
          .replace(/^error: /, '')
          .replace(/\s*\n\s*/g, ' ')
          .replace(/\.+$/, '')}. Run 'phys --help' for usage.`;
  const [{ UsageError }, { reportError }] = await Promise.all([
    import('@phys/core'),
    import('./report-error.js'),
  ]);
  const usage = new UsageError(note === undefined ? message : `${message} ${note}`, {
    details: { commander: error.code },
  });
  return reportError(ctx, usage, json);
}

/**
 * The `phys` binary: runs {@link runCli} on `process.argv` with the process's streams, cancels
 * a running pipeline on the first SIGINT or SIGTERM, and sets `process.exitCode`.
 * @public
 */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  if (hosted(argv)) {
    // Commands that run user code run it on a thread of their own (see run-host.ts).
    const { runHosted } = await import('./run-host.js');
    process.exitCode = await runHosted(argv);
    return;
  }
  const controller = new AbortController();
  // A PhysError reason, so that stages rejecting with `signal.reason` fail as cancelled. The
  // class is loaded when the signal comes, not at start-up.
  const abort = (message: string): void => {
    if (controller.signal.aborted) return;
    void import('@phys/core').then(({ CancelledError }) => {
      if (!controller.signal.aborted) controller.abort(new CancelledError(message));
    });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    // A second signal means "stop now": restore the default so it kills the process.
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    abort(`Interrupted by ${signal}.`);
  };
  // `phys ... | head`: once the reader is gone, writes fail with EPIPE. Without a listener that
  // is an unhandled 'error' event (a crash with a stack trace); like SIGPIPE for other tools it
  // ends the work instead, through the same cancellation as ^C, so cluster jobs are cancelled.
  const onPipeError = (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    abort('The reader of the output went away (EPIPE).');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.stdout.on('error', onPipeError);
  process.stderr.on('error', onPipeError);
  try {
    process.exitCode = await runCli(argv, { signal: controller.signal });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
