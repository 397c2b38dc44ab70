import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import {
  type ArtifactRef,
  CancelledError,
  defineStage,
  PhysError,
  type StageContext,
  type StageDefinition,
  StageExecutionError,
} from '@phys/core';
import { ensurePrivateDir, logTail, userWorkRoot } from '@phys/scheduler-kit';
import type { z } from 'zod';
import { STDERR_TAIL, safe } from './process-runner.js';

/** The program a command stage runs. @public */
export interface CommandSpec {
  readonly program: string;
  readonly args?: readonly string[];
  /** Working directory, relative to the node's work directory (default: the work directory). */
  readonly cwd?: string;
  /** Extra environment variables (the parent's environment is inherited). */
  readonly env?: Readonly<Record<string, string>>;
}

/** What a command's `command` function receives besides the config. @public */
export interface CommandContext<TIn> extends StageContext {
  /** The node's own working directory (created before the command starts). */
  readonly workDir: string;
  readonly input: TIn;
}

/** What a finished command left behind; the default output state of a command stage. @public */
export interface CommandResult {
  readonly workDir: string;
  readonly stdout: string;
  readonly stderr: string;
  /** Declared output files, by their declared (relative) name, as absolute paths. */
  readonly outputs: Readonly<Record<string, string>>;
  readonly command: readonly string[];
}

/** How mpi ranks are launched: argv prefix with `{ranks}` replaced, or a function of the rank count. @public */
export type MpiLauncher = readonly string[] | ((ranks: number) => readonly string[]);

/** What {@link defineCommandStage} takes. @public */
export interface CommandStageSpec<TSchema extends z.ZodType, TIn, TOut> {
  readonly name: string;
  readonly version?: string;
  readonly description?: string;
  readonly config: TSchema;
  /**
   * The program and its arguments: a function of the config, or a fixed spec whose strings may
   * hold `{key.path}` placeholders filled from the config (and `{ranks}`, `{workDir}`, `{nodeId}`).
   */
  readonly command:
    | CommandSpec
    | ((config: z.output<TSchema>, ctx: CommandContext<TIn>) => CommandSpec | Promise<CommandSpec>);
  /** Files the command must produce (relative to the work directory); they become artifacts. */
  readonly outputs?: readonly string[] | ((config: z.output<TSchema>) => readonly string[]);
  /** Builds the output state from the finished command (default: the {@link CommandResult}). */
  readonly result?: (
    run: CommandResult,
    input: TIn,
    config: z.output<TSchema>,
  ) => TOut | Promise<TOut>;
  /**
   * Launcher for nodes with `mpiRanks > 1` (default: `$PHYS_MPI_LAUNCHER`, else `srun -n {ranks}`
   * inside a Slurm allocation, else `mpirun -n {ranks}`).
   */
  readonly launcher?: MpiLauncher;
  /**
   * Base of the per-node work directories (default: `$PHYS_WORK_DIR`, else `<tmp>/phys-<uid>`,
   * made private to the user and refused when it is a symbolic link or another user's).
   */
  readonly workRoot?: string;
  /** Seconds between SIGTERM and SIGKILL when the node is aborted (default 5). */
  readonly killGraceSeconds?: number;
  /** Preferred isolation (default `inline`: the program is already its own process). */
  readonly isolation?: 'inline' | 'thread' | 'process';
}

/**
 * Defines a stage that runs an external program (a Fortran, C++ or MPI code) with arguments
 * templated from its config, in its own working directory, with stdout and stderr streamed to
 * `stdout.log` / `stderr.log`. A non-zero exit fails the node with the exit code and the last
 * lines of stderr; death by a signal (a segfault) names the signal; declared output files become
 * artifacts; granted GPUs are exported as `CUDA_VISIBLE_DEVICES`; mpi ranks go through a
 * launcher; aborting the node kills the program.
 * @public
 */
export function defineCommandStage<TSchema extends z.ZodType, TIn = unknown, TOut = CommandResult>(
  spec: CommandStageSpec<TSchema, TIn, TOut>,
): StageDefinition<z.input<TSchema>, z.output<TSchema>, TIn, TOut> {
  const graceMs = (spec.killGraceSeconds ?? 5) * 1000;
  return defineStage({
    name: spec.name,
    ...(spec.version === undefined ? {} : { version: spec.version }),
    ...(spec.description === undefined ? {} : { description: spec.description }),
    config: spec.config,
    isolation: spec.isolation ?? 'inline',
    async process(input: TIn, ctx) {
      const config = ctx.config;
      let root = spec.workRoot ?? process.env.PHYS_WORK_DIR;
      if (root === undefined) {
        root = userWorkRoot();
        await ensurePrivateDir(root, {
          elsewhere: "set PHYS_WORK_DIR, or the stage's `workRoot`, to a directory of your own",
        });
      }
      const workDir = resolve(
        root,
        'commands',
        safe(ctx.runId),
        `${safe(ctx.nodeId)}.${ctx.attempt}`,
      );
      await mkdir(workDir, { recursive: true });
      const cctx: CommandContext<TIn> = {
        config,
        policy: ctx.policy,
        signal: ctx.signal,
        logger: ctx.logger,
        resources: ctx.resources,
        artifacts: ctx.artifacts,
        runId: ctx.runId,
        nodeId: ctx.nodeId,
        attempt: ctx.attempt,
        workDir,
        input,
      };
      const vars = { ranks: String(ctx.resources.mpiRanks), workDir, nodeId: ctx.nodeId };
      const cmd =
        typeof spec.command === 'function'
          ? await spec.command(config, cctx)
          : templated(spec.command, config, vars, spec.name);
      if (typeof cmd?.program !== 'string' || cmd.program === '') {
        throw new PhysError(
          'PHYS_STAGE_CONTRACT',
          `Command stage '${spec.name}' produced no program to run; \`command\` must return { program, args? }.`,
        );
      }
      const ranks = ctx.resources.mpiRanks;
      const argv = [
        ...(ranks > 1 ? launcherArgv(spec.launcher, ranks) : []),
        cmd.program,
        ...(cmd.args ?? []),
      ];
      const cwd = cmd.cwd === undefined ? workDir : resolve(workDir, cmd.cwd);
      const stdoutFile = join(workDir, 'stdout.log');
      const stderrFile = join(workDir, 'stderr.log');
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        ...cmd.env,
        PHYS_NODE_ID: ctx.nodeId,
        PHYS_RUN_ID: ctx.runId,
      };
      if (ctx.resources.gpuIds.length > 0)
        env.CUDA_VISIBLE_DEVICES = ctx.resources.gpuIds.join(',');
      const t0 = performance.now();
      const exit = await runProgram(argv, cwd, env, stdoutFile, stderrFile, ctx.signal, graceMs);
      const seconds = (performance.now() - t0) / 1000;
      if (ctx.signal.aborted) {
        const reason: unknown = ctx.signal.reason;
        throw PhysError.is(reason)
          ? reason
          : new CancelledError(`Node '${ctx.nodeId}' was cancelled.`, { cause: reason });
      }
      const shown = argv.join(' ');
      if (exit.error !== undefined || exit.code !== 0) {
        const tail = await logTail(stderrFile, STDERR_TAIL);
        const how =
          exit.error !== undefined
            ? `could not be started (${exit.error.message})`
            : exit.signal !== null
              ? `was killed by signal ${exit.signal}`
              : `exited with code ${exit.code}`;
        throw new StageExecutionError(
          spec.name,
          `Command '${shown}' of node '${ctx.nodeId}' ${how}.${tail === '' ? '' : ` Last lines of stderr:\n${tail}`}\nLogs are in ${workDir}.`,
          {
            ...(exit.error === undefined ? {} : { cause: exit.error }),
            details: {
              nodeId: ctx.nodeId,
              exitCode: exit.code,
              signal: exit.signal,
              stderrTail: tail,
              workDir,
              command: argv,
            },
          },
        );
      }
      const declared =
        typeof spec.outputs === 'function' ? spec.outputs(config) : (spec.outputs ?? []);
      const outputs: Record<string, string> = {};
      const artifacts: Record<string, ArtifactRef & Readonly<Record<string, unknown>>> = {};
      const missing: string[] = [];
      for (const name of declared) {
        const path = isAbsolute(name) ? name : join(workDir, name);
        const ref = await fileRef(path);
        if (ref === undefined) missing.push(name);
        else {
          outputs[name] = path;
          artifacts[name] = ref;
        }
      }
      if (missing.length > 0) {
        throw new StageExecutionError(
          spec.name,
          `Command '${shown}' of node '${ctx.nodeId}' exited 0 but did not produce the declared output${missing.length > 1 ? 's' : ''} ${missing.map((m) => `'${m}'`).join(', ')} in ${workDir}.`,
          { details: { nodeId: ctx.nodeId, missing, workDir } },
        );
      }
      const run: CommandResult = {
        workDir,
        stdout: stdoutFile,
        stderr: stderrFile,
        outputs,
        command: argv,
      };
      const state =
        spec.result === undefined
          ? (run as unknown as TOut)
          : await spec.result(run, input, config);
      return {
        state,
        metrics: { commandSeconds: seconds },
        artifacts,
        provenance: { command: argv, workDir },
      };
    },
  });
}

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly error?: Error;
}

async function runProgram(
  argv: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  stdoutFile: string,
  stderrFile: string,
  signal: AbortSignal,
  graceMs: number,
): Promise<Exit> {
  if (signal.aborted) return { code: null, signal: null };
  const out = await open(stdoutFile, 'w');
  const err = await open(stderrFile, 'w');
  try {
    const [program, ...args] = argv as [string, ...string[]];
    // Its own process group, so that aborting also stops what the program started (mpirun's ranks).
    const child = spawn(program, args, {
      cwd,
      env,
      stdio: ['ignore', out.fd, err.fd],
      detached: true,
    });
    let timer: NodeJS.Timeout | undefined;
    const kill = (sig: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        child.kill(sig);
      }
    };
    const onAbort = (): void => {
      kill('SIGTERM');
      timer = setTimeout(() => kill('SIGKILL'), graceMs);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await new Promise<Exit>((done) => {
        child.once('error', (error) => done({ code: null, signal: null, error }));
        child.once('exit', (code, sig) => done({ code, signal: sig }));
      });
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (timer !== undefined) clearTimeout(timer);
    }
  } finally {
    await out.close();
    await err.close();
  }
}

function launcherArgv(launcher: MpiLauncher | undefined, ranks: number): string[] {
  if (typeof launcher === 'function') return [...launcher(ranks)];
  const fromEnv = process.env.PHYS_MPI_LAUNCHER?.trim();
  const base =
    launcher ??
    (fromEnv !== undefined && fromEnv !== ''
      ? fromEnv.split(/\s+/)
      : process.env.SLURM_JOB_ID !== undefined
        ? ['srun', '-n', '{ranks}']
        : ['mpirun', '-n', '{ranks}']);
  return base.map((part) => part.replaceAll('{ranks}', String(ranks)));
}

function templated(
  spec: CommandSpec,
  config: unknown,
  vars: Readonly<Record<string, string>>,
  stage: string,
): CommandSpec {
  const fill = (text: string): string =>
    text.replace(/\{([A-Za-z_$][\w$]*(?:\.[\w$]+)*)\}/g, (whole, path: string) => {
      if (path in vars) return vars[path] as string;
      let value: unknown = config;
      for (const part of path.split('.')) {
        value =
          typeof value === 'object' && value !== null
            ? (value as Record<string, unknown>)[part]
            : undefined;
      }
      if (value === undefined) {
        throw new PhysError(
          'PHYS_STAGE_CONTRACT',
          `Command stage '${stage}': placeholder ${whole} names no config key. Use keys of the stage config, {ranks}, {workDir} or {nodeId}.`,
        );
      }
      return typeof value === 'string' ? value : JSON.stringify(value);
    });
  return {
    program: fill(spec.program),
    args: (spec.args ?? []).map(fill),
    ...(spec.cwd === undefined ? {} : { cwd: fill(spec.cwd) }),
    ...(spec.env === undefined
      ? {}
      : { env: Object.fromEntries(Object.entries(spec.env).map(([k, v]) => [k, fill(v)])) }),
  };
}

async function fileRef(
  path: string,
): Promise<(ArtifactRef & Readonly<Record<string, unknown>>) | undefined> {
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) return undefined;
    size = s.size;
  } catch {
    return undefined;
  }
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return { path, bytes: size, sha256: hash.digest('hex'), mediaType: 'application/octet-stream' };
}
