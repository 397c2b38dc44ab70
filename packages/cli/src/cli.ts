import { readFileSync } from 'node:fs';
import { CancelledError, UsageError } from '@phys/core';
import { Command, CommanderError, Option } from 'commander';
import { type CacheClearOptions, type CacheSubcommand, cacheCommand } from './commands/cache.js';
import { configCommand } from './commands/config.js';
import { execCommand } from './commands/exec.js';
import { graphCommand } from './commands/graph.js';
import { packageVerifyCommand } from './commands/package.js';
import { planCommand } from './commands/plan.js';
import { runCommand } from './commands/run.js';
import { type SweepCommandOptions, sweepCommand } from './commands/sweep.js';
import { type CliContext, createContext, type RunCliOptions } from './context.js';
import { ExitCode } from './exit-codes.js';
import { reportError } from './report-error.js';

/** Options every command that reads the config accepts. */
export interface ConfigOptions {
  readonly config?: string;
  readonly cwd?: string;
  readonly json?: boolean;
}

function version(): string {
  // src/ and dist/ both sit one level below the package root.
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function configOptions(command: Command): Command {
  return command
    .option('-c, --config <file>', 'config file to use instead of searching for phys.config.*')
    .option('-C, --cwd <dir>', 'directory to search for the config from (default: the current one)')
    .option('--json', 'print one JSON object (results and errors) on stdout, for scripts');
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function buildProgram(ctx: CliContext, setExit: (code: number) => void): Command {
  const program = new Command('phys')
    .description('Run reproducible physics and ML simulation pipelines declared in phys.config.ts.')
    .version(version(), '-v, --version', 'print the version of @phys/cli')
    .helpOption('-h, --help', 'show help')
    .helpCommand('help [command]', 'show help for a command')
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
Exit codes: 0 success, 1 run failed, 64 usage error, 78 invalid config, 130 interrupted.
Docs: docs/cli.md`,
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
      .addOption(
        new Option('--progress <mode>', 'progress display')
          .choices(['auto', 'live', 'plain', 'none'])
          .default('auto'),
      ),
  ).action(async (pipeline: string, options: RunOptions) => {
    setExit(await runCommand(ctx, pipeline, options));
  });

  configOptions(
    program
      .command('config')
      .description('show the resolved config: config file, plugins, stages and pipelines'),
  ).action(async (options: ConfigOptions) => {
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
    setExit(await graphCommand(ctx, pipeline, options));
  });

  configOptions(
    program
      .command('sweep')
      .description('run a DAG pipeline once per parameter point and print the results table')
      .argument('<pipeline>', 'name of the DAG pipeline')
      .option(
        '-s, --set <node.param=values>',
        'values of a stage config key: v1,v2,... or a range lo..hi[:steps][:log][:int] (repeatable)',
        collect,
        [],
      )
      .addOption(
        new Option('-m, --mode <mode>', 'how points are made')
          .choices(['grid', 'zip', 'random', 'lhs'])
          .default('grid'),
      )
      .option('-n, --samples <n>', 'number of points to draw (random and lhs)')
      .option('--seed <seed>', 'seed of the random and lhs draws')
      .option('-o, --out <file>', 'write the results table to <file> (CSV, or JSON for *.json)')
      .addOption(
        new Option('--progress <mode>', 'progress display')
          .choices(['auto', 'live', 'plain', 'none'])
          .default('auto'),
      ),
  ).action(async (pipeline: string, options: SweepCommandOptions) => {
    setExit(await sweepCommand(ctx, pipeline, options));
  });

  program
    .command('package')
    .description('work with model packages written by @phys/ml-packager')
    .command('verify')
    .description('check a model package directory or .tar.gz: exit 0 when intact, 1 otherwise')
    .argument('<path>', 'package directory or .tar.gz archive')
    .option('--json', 'print one JSON object (the report) on stdout, for scripts')
    .action(async (path: string, options: { json?: boolean }) => {
      setExit(await packageVerifyCommand(ctx, path, options));
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
      setExit(await cacheCommand(ctx, sub, options));
    });
  }

  program
    .command('exec')
    .description(
      'execute one task envelope (the entry point of process isolation and cluster jobs)',
    )
    .argument('<envelope>', 'path of the task envelope file')
    .action(async (envelope: string) => {
      setExit(await execCommand(ctx, envelope));
    });

  return program;
}

/** Options of `phys run`. */
export interface RunOptions extends ConfigOptions {
  readonly set: readonly string[];
  readonly record?: string;
  readonly progress: 'auto' | 'live' | 'plain' | 'none';
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
  let exitCode: number = ExitCode.OK;
  const program = buildProgram(ctx, (code) => {
    exitCode = code;
  });
  // Parsing may fail before any option is known; a script asking for JSON still gets JSON.
  const json = argv.includes('--json');
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (isCommanderError(error)) return commanderExit(ctx, error, json);
    return reportError(ctx, error, json);
  }
}

function commanderExit(ctx: CliContext, error: CommanderError, json: boolean): number {
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
      : `${error.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')}. Run 'phys --help' for usage.`;
  const usage = new UsageError(message, { details: { commander: error.code } });
  return reportError(ctx, usage, json);
}

/**
 * The `phys` binary: runs {@link runCli} on `process.argv` with the process's streams, cancels
 * a running pipeline on the first SIGINT or SIGTERM, and sets `process.exitCode`.
 * @public
 */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    // A second signal means "stop now": restore the default so it kills the process.
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // A PhysError reason: stages that reject with `signal.reason` then fail as cancelled.
    controller.abort(new CancelledError(`Interrupted by ${signal}.`));
  };
  // `phys ... | head`: once the reader is gone, writes fail with EPIPE. Without a listener that
  // is an unhandled 'error' event (a crash with a stack trace); like SIGPIPE for other tools it
  // ends the work instead, through the same cancellation as ^C, so cluster jobs are cancelled.
  const onPipeError = (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    if (!controller.signal.aborted) {
      controller.abort(new CancelledError('The reader of the output went away (EPIPE).'));
    }
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
