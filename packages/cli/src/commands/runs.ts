import {
  ExecutionStatus,
  isTerminal,
  type Orchestrator,
  parseStatus,
  type RunEvent,
  type RunRecord,
  UsageError,
} from '@phys/core';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { needsServer, type RemoteOptions, withOrchestrator } from '../orchestrator-for.js';
import {
  exitCodeOfRun,
  printJson,
  printRunDetails,
  printRunSummary,
  printRunTable,
  recordJson,
} from '../run-record-format.js';

/** The subcommands of `phys runs`. */
export type RunsSubcommand = 'ls' | 'show' | 'wait' | 'cancel' | 'logs';

/** Options of `phys runs ...` (each subcommand reads its own). */
export interface RunsOptions extends RemoteOptions {
  readonly pipeline?: string;
  readonly status?: string;
  readonly limit?: string;
  readonly cursor?: string;
  readonly timeout?: string;
  readonly pollInterval?: string;
  readonly follow?: boolean;
  readonly tail?: string;
}

/** A whole number from `min` to `max`, or a UsageError naming the option. */
export function parseWhole(option: string, raw: string, min: number, max: number): number {
  const value = /^-?\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`${option} expects a whole number from ${min} to ${max}, got '${raw}'.`);
  }
  return value;
}

/** Seconds ≥ 0 (fractions allowed), or a UsageError naming the option. */
export function parseSeconds(option: string, raw: string): number {
  const value = raw.trim() === '' ? Number.NaN : Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    throw new UsageError(`${option} expects a number of seconds ≥ 0, got '${raw}'.`);
  }
  return value;
}

const RUN_STATUSES: readonly string[] = Object.values(ExecutionStatus);

/** `--status running,failed` → `['RUNNING', 'FAILED']`. */
export function parseStatuses(raw: string): ExecutionStatus[] {
  return raw.split(',').map((word) => {
    const status = parseStatus(word);
    if (status === undefined || !RUN_STATUSES.includes(status)) {
      throw new UsageError(
        `--status: '${word.trim()}' is not a run status; use ${RUN_STATUSES.join(', ')} (case does not matter; several separated by commas).`,
      );
    }
    return status as ExecutionStatus;
  });
}

/**
 * Prints a run's status changes on stderr while `signal` is not aborted, for people who wait
 * at a terminal. Best effort: a stream that fails only ends the lines, never the wait.
 */
export async function watchStatus(
  ctx: CliContext,
  orchestrator: Orchestrator,
  jobId: string,
  signal: AbortSignal,
): Promise<void> {
  try {
    for await (const event of orchestrator.runEvents(jobId, { signal })) {
      if (event.type !== 'status' || isTerminal(event.status)) continue;
      const attempt = event.attempt > 1 ? ` (attempt ${event.attempt})` : '';
      ctx.err(`  run ${jobId}: ${event.status}${attempt}`);
    }
  } catch {
    // The wait reports what matters; these lines are a courtesy.
  }
}

/**
 * Waits for run `jobId` and prints its result as `phys run` does (or the record with `--json`);
 * resolves to the exit code of the run.
 */
export async function waitAndReport(
  ctx: CliContext,
  orchestrator: Orchestrator,
  jobId: string,
  options: {
    readonly json: boolean;
    readonly timeout?: number;
    readonly pollInterval?: number;
    readonly signal?: AbortSignal;
  },
): Promise<number> {
  const submission = await orchestrator.getRun(jobId);
  const stop = new AbortController();
  const watching = options.json ? undefined : watchStatus(ctx, orchestrator, jobId, stop.signal);
  let record: RunRecord;
  try {
    const done = await submission.waitForCompletion({
      timeout: options.timeout ?? Number.POSITIVE_INFINITY,
      ...(options.pollInterval === undefined ? {} : { pollInterval: options.pollInterval }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    record = done.record;
  } finally {
    stop.abort();
    await watching;
  }
  const exitCode = exitCodeOfRun(record.status);
  if (options.json) printJson(ctx, { ...recordJson(record, ctx.verbose), exitCode });
  else printRunSummary(ctx, record);
  return exitCode;
}

function logLine(line: {
  readonly at: string;
  readonly level: string;
  readonly message: string;
  readonly node?: string;
}): string {
  const at = line.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  return `${at} ${line.level.padEnd(5)} ${line.node === undefined ? '' : `[${line.node}] `}${line.message}`;
}

interface LogSource {
  runLogs(
    jobId: string,
    options?: { readonly tail?: number },
  ): Promise<
    {
      readonly seq: number;
      readonly at: string;
      readonly level: string;
      readonly message: string;
      readonly node?: string;
    }[]
  >;
}

function hasLogTail(orchestrator: Orchestrator): orchestrator is Orchestrator & LogSource {
  return typeof (orchestrator as Partial<LogSource>).runLogs === 'function';
}

async function logsCommand(
  ctx: CliContext,
  orchestrator: Orchestrator,
  jobId: string,
  options: RunsOptions,
): Promise<number> {
  const json = options.json === true;
  const tail = options.tail === undefined ? undefined : parseWhole('--tail', options.tail, 1, 5000);
  if (options.follow !== true) {
    let lines: Awaited<ReturnType<LogSource['runLogs']>>;
    if (hasLogTail(orchestrator)) {
      lines = await orchestrator.runLogs(jobId, tail === undefined ? {} : { tail });
    } else {
      // Orchestrators without a tail of their own: the log events of a run that ended.
      const record = (await orchestrator.getRun(jobId)).record;
      if (!isTerminal(record.status)) {
        throw new UsageError(
          `Run '${jobId}' is ${record.status} and this orchestrator keeps no log tail: follow its lines with \`phys runs logs ${jobId} --follow\`.`,
        );
      }
      lines = [];
      for await (const event of orchestrator.runEvents(jobId)) {
        if (event.type === 'log') lines.push(event);
      }
      if (tail !== undefined) lines = lines.slice(-tail);
    }
    if (json) printJson(ctx, { lines });
    else for (const line of lines) ctx.out(logLine(line));
    return ExitCode.OK;
  }
  const seen: Extract<RunEvent, { type: 'log' }>[] = [];
  for await (const event of orchestrator.runEvents(
    jobId,
    ctx.signal === undefined ? {} : { signal: ctx.signal },
  )) {
    if (event.type !== 'log') continue;
    if (json) seen.push(event);
    else ctx.out(logLine(event));
  }
  if (json) printJson(ctx, { lines: seen.map(({ type: _type, ...line }) => line) });
  return ExitCode.OK;
}

/** `phys runs ls|show|wait|cancel|logs`: the runs a server (or the config's orchestrator) keeps. */
export async function runsCommand(
  ctx: CliContext,
  sub: RunsSubcommand,
  jobId: string | undefined,
  options: RunsOptions,
): Promise<number> {
  const json = options.json === true;
  // Options are checked before anything is loaded or sent.
  const filter = {
    ...(options.pipeline === undefined ? {} : { pipeline: options.pipeline }),
    ...(options.status === undefined ? {} : { status: parseStatuses(options.status) }),
    ...(options.limit === undefined ? {} : { limit: parseWhole('--limit', options.limit, 1, 500) }),
    ...(options.cursor === undefined ? {} : { cursor: options.cursor }),
  };
  const timeout =
    options.timeout === undefined ? undefined : parseSeconds('--timeout', options.timeout);
  const pollInterval =
    options.pollInterval === undefined
      ? undefined
      : parseSeconds('--poll-interval', options.pollInterval);
  return withOrchestrator(ctx, options, 'runs', async (orchestrator, target) => {
    if (target.inProcess) throw needsServer(`runs ${sub}`);
    const id = jobId as string;
    switch (sub) {
      case 'ls': {
        const page = await orchestrator.listRuns(filter);
        if (json) {
          printJson(ctx, { ...page, runs: page.runs.map((r) => recordJson(r, ctx.verbose)) });
        } else if (page.runs.length === 0) {
          ctx.out('no runs');
        } else {
          printRunTable(ctx, page.runs);
        }
        if (!json && page.nextCursor !== undefined) {
          ctx.err(
            `more runs follow: phys runs ls --cursor ${page.nextCursor} (with the same filters)`,
          );
        }
        return ExitCode.OK;
      }
      case 'show': {
        const { record } = await orchestrator.getRun(id);
        if (json) printJson(ctx, recordJson(record, ctx.verbose));
        else printRunDetails(ctx, record);
        return ExitCode.OK;
      }
      case 'wait':
        return waitAndReport(ctx, orchestrator, id, {
          json,
          ...(timeout === undefined ? {} : { timeout }),
          ...(pollInterval === undefined ? {} : { pollInterval }),
          ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
        });
      case 'cancel': {
        const cancelled = await orchestrator.cancelRun(id);
        const { record } = await orchestrator.getRun(id);
        const exitCode = cancelled ? ExitCode.OK : ExitCode.RUN_FAILED;
        if (json) {
          printJson(ctx, { cancelled, run: recordJson(record, ctx.verbose), exitCode });
        } else if (cancelled) {
          ctx.out(`✓ run ${id} (${record.pipeline}): CANCELLED`);
        } else {
          ctx.out(
            `✗ run ${id} (${record.pipeline}) had already ended ${record.status}: nothing to cancel`,
          );
        }
        return exitCode;
      }
      case 'logs':
        return logsCommand(ctx, orchestrator, id, options);
    }
  });
}
