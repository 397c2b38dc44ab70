import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { type RemoteOptions, withOrchestrator } from '../orchestrator-for.js';
import { printJson, recordJson } from '../run-record-format.js';
import { parseOverrides } from './run.js';
import { parseSeconds, parseWhole, waitAndReport } from './runs.js';

/** Options of `phys submit`. */
export interface SubmitOptions extends RemoteOptions {
  readonly set: readonly string[];
  readonly runId?: string;
  readonly priority?: string;
  readonly wait?: boolean;
  readonly timeout?: string;
}

/**
 * `phys submit <pipeline>`: queues a run on a server (`--remote`, PHYS_REMOTE, or the config's
 * orchestrator plugin) and prints its job id, or with `--wait` waits and prints its result as
 * `phys run` does. Without a server the run has nobody to keep it going once this process ends,
 * so it runs here and is waited for (Ctrl-C cancels it).
 */
export async function submitCommand(
  ctx: CliContext,
  pipeline: string,
  options: SubmitOptions,
): Promise<number> {
  const json = options.json === true;
  const params = parseOverrides(options.set);
  const priority =
    options.priority === undefined
      ? undefined
      : parseWhole('--priority', options.priority, -1_000_000, 1_000_000);
  const timeout =
    options.timeout === undefined ? undefined : parseSeconds('--timeout', options.timeout);
  return withOrchestrator(ctx, options, 'submit', async (orchestrator, target) => {
    const submission = await orchestrator.runPipeline(pipeline, {
      ...(Object.keys(params).length === 0 ? {} : { params }),
      ...(options.runId === undefined ? {} : { runId: options.runId }),
      ...(priority === undefined ? {} : { priority }),
      ...(target.remote === undefined ? { trigger: { kind: 'cli' } } : {}),
    });
    const { jobId } = submission;
    const where = target.remote === undefined ? '' : ` on ${target.remote}`;
    const remoteFlag = target.remote === undefined ? '' : ` --remote ${target.remote}`;

    if (target.inProcess) {
      // Nobody else would keep this run going: cancel it with the process's signal.
      const cancel = () => void submission.cancel().catch(() => {});
      ctx.signal?.addEventListener('abort', cancel, { once: true });
      try {
        if (!json) {
          ctx.err(
            `submitted ${pipeline}: run ${jobId}, in this process: no server was given (--remote URL or PHYS_REMOTE), so phys waits for its end (Ctrl-C cancels it).`,
          );
        }
        return await waitAndReport(ctx, orchestrator, jobId, {
          json,
          ...(timeout === undefined ? {} : { timeout }),
        });
      } finally {
        ctx.signal?.removeEventListener('abort', cancel);
      }
    }

    if (options.wait === true) {
      if (!json) {
        ctx.err(
          `submitted ${pipeline}: run ${jobId} (${submission.status})${where}; waiting for its end (Ctrl-C stops waiting, the run goes on)`,
        );
      }
      return waitAndReport(ctx, orchestrator, jobId, {
        json,
        ...(timeout === undefined ? {} : { timeout }),
        ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
      });
    }
    if (json) {
      printJson(ctx, recordJson(submission.record, ctx.verbose));
      return ExitCode.OK;
    }
    // The job id alone on stdout (`id=$(phys submit ...)`); the rest is for people.
    ctx.out(jobId);
    ctx.err(`submitted ${pipeline}: run ${jobId} (${submission.status})${where}`);
    ctx.err(`  wait for it:  phys runs wait ${jobId}${remoteFlag}`);
    ctx.err(`  cancel it:    phys runs cancel ${jobId}${remoteFlag}`);
    return ExitCode.OK;
  });
}
