import { Worker } from 'node:worker_threads';
import type { NodeStatus } from '@phys/core';
import { killProcessGroup } from '@phys/runtime/process-group';
import { ExitCode } from './exit-codes.js';
import { formatCounts, formatDuration, plural, stringify } from './format.js';
import type { RunJournalEvent } from './journal.js';

/** What the host gives the thread that runs the command. */
export interface HostSettings {
  readonly argv: readonly string[];
  readonly isTTY: boolean;
  readonly columns: number | undefined;
  readonly rows: number | undefined;
}

/** Host → thread. */
export type HostMessage = { readonly type: 'cancel'; readonly reason: string };

/** Thread → host. */
export type ThreadMessage =
  | { readonly type: 'ack' }
  | { readonly type: 'done'; readonly code: number }
  | { readonly type: 'out'; readonly fd: 1 | 2; readonly chunk: string }
  | { readonly type: 'journal'; readonly event: RunJournalEvent }
  | { readonly type: 'child'; readonly pid: number }
  | { readonly type: 'child-exit'; readonly pid: number };

/**
 * How long the command's thread has to acknowledge a cancellation. A free event loop answers
 * within milliseconds; a thread that does not is held by a stage's synchronous code, which can
 * never see its AbortSignal, so the run is stopped from here instead (Ctrl-C takes effect within
 * a second whatever the stages do).
 */
export const CANCEL_ACK_MS = 300;

/** The exit code of a thread whose top-level await can never settle (Node's own). */
const UNSETTLED_AWAIT = 13;

/** How long the command's thread may stay alive after its command finished (see 'done'). */
const DONE_GRACE_MS = 1000;

/**
 * Runs a command that executes user code (`phys run`, plugin commands) on a worker thread while
 * this thread only waits for signals. Stage code can block its own event loop for as long as it
 * computes, and a blocked event loop never runs a signal handler; here one always does.
 *
 * The first SIGINT or SIGTERM asks the run to cancel. If the command's thread answers, the run
 * cancels itself and prints its partial result as usual. If it does not answer within
 * {@link CANCEL_ACK_MS}, a stage holds it: the thread is terminated, the processes it started are
 * killed, and the partial result is reported from what the run told this thread as it went (see
 * journal.ts). A second signal stops the run in the same way at once, whatever it is doing.
 * Resolves to the exit code.
 */
export async function runHosted(argv: readonly string[]): Promise<number> {
  const settings: HostSettings = {
    argv,
    isTTY: process.stderr.isTTY === true,
    columns: process.stderr.isTTY === true ? process.stderr.columns : undefined,
    rows: process.stderr.isTTY === true ? process.stderr.rows : undefined,
  };
  const worker = new Worker(new URL('./run-host-worker.js', import.meta.url), {
    workerData: settings,
  });
  const started = performance.now();
  const run = new RunJournal();
  const children = new Set<number>();
  let code: number | undefined;
  let stopped = false;
  let cancelling = false;
  let ackTimer: NodeJS.Timeout | undefined;

  return new Promise<number>((resolve) => {
    const finish = (exitCode: number): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if (ackTimer !== undefined) clearTimeout(ackTimer);
      resolve(exitCode);
    };

    const stop = (signal: NodeJS.Signals, why: 'stuck' | 'again'): void => {
      if (stopped) return;
      stopped = true;
      if (ackTimer !== undefined) clearTimeout(ackTimer);
      for (const pid of children) killProcessGroup(pid, 'SIGKILL');
      void worker.terminate();
      run.report(signal, why, (performance.now() - started) / 1000);
      finish(ExitCode.INTERRUPTED);
    };

    const onSignal = (signal: NodeJS.Signals): void => {
      if (cancelling) {
        stop(signal, 'again');
        return;
      }
      cancelling = true;
      const message: HostMessage = { type: 'cancel', reason: `Interrupted by ${signal}.` };
      worker.postMessage(message);
      ackTimer = setTimeout(() => stop(signal, 'stuck'), CANCEL_ACK_MS);
      process.stderr.write(
        `\n${signal}: ${run.interruptNotice} (${signal === 'SIGINT' ? 'press Ctrl-C' : 'send it'} again to stop at once).\n`,
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // `phys run ... | head`: once the reader is gone the run is cancelled, as on SIGPIPE.
    const onPipeError = (error: NodeJS.ErrnoException): void => {
      if (error.code !== 'EPIPE') throw error;
      if (cancelling) return;
      cancelling = true;
      const message: HostMessage = {
        type: 'cancel',
        reason: 'The reader of the output went away (EPIPE).',
      };
      worker.postMessage(message);
    };
    process.stdout.on('error', onPipeError);
    process.stderr.on('error', onPipeError);

    worker.on('message', (message: ThreadMessage) => {
      switch (message.type) {
        case 'ack':
          if (ackTimer !== undefined) clearTimeout(ackTimer);
          ackTimer = undefined;
          break;
        case 'done':
          code = message.code;
          // Done, but maybe kept alive by something a stage left running (a timer of a stage
          // that ignored its cancellation): then the thread is stopped.
          setTimeout(() => void worker.terminate(), DONE_GRACE_MS).unref();
          break;
        case 'out':
          (message.fd === 1 ? process.stdout : process.stderr).write(message.chunk);
          break;
        case 'journal':
          run.record(message.event);
          break;
        case 'child':
          children.add(message.pid);
          break;
        case 'child-exit':
          children.delete(message.pid);
          break;
      }
    });
    worker.on('error', (error) => {
      if (stopped) return;
      // A bug that escaped the command (its own errors are reported by runCli).
      process.stderr.write(`error PHYS_INTERNAL: ${error.stack ?? String(error)}\n`);
      code ??= ExitCode.RUN_FAILED;
    });
    // Exit, not 'done': output a stage wrote to its own process.stdout is flushed by then.
    worker.on('exit', (exitCode) => {
      if (stopped) return;
      if (code !== undefined) {
        finish(code);
        return;
      }
      // Neither done nor an error: code on the thread called process.exit, which in a worker
      // thread ends the thread only. Say who, and fail whatever code it asked for: a stage's
      // 0 is no success, and its 78 or 130 must not read as phys's own.
      run.exited(exitCode, (performance.now() - started) / 1000, argv.includes('--json'));
      finish(ExitCode.RUN_FAILED);
    });
  });
}

interface JournalNode {
  status: NodeStatus;
  metrics?: Readonly<Record<string, number>>;
}

/** The run as the command's thread described it: what a report needs when that thread is gone. */
class RunJournal {
  #run: Extract<RunJournalEvent, { type: 'run' }> | undefined;
  readonly #nodes = new Map<string, JournalNode>();
  /** What the first signal says the command does about it (a plugin command may say its own). */
  interruptNotice = 'cancelling the run';

  record(event: RunJournalEvent): void {
    if (event.type === 'command') {
      this.interruptNotice = event.interruptNotice;
      return;
    }
    if (event.type === 'run') {
      this.#run = event;
      this.#nodes.clear();
      for (const id of event.nodes) this.#nodes.set(id, { status: 'QUEUED' });
      return;
    }
    this.#nodes.set(event.id, {
      status: event.status,
      ...(event.metrics === undefined ? {} : { metrics: event.metrics }),
    });
  }

  /**
   * Reports a run whose thread ended because code on it called `process.exit(exitCode)`: the
   * node or stage that was running did, unless none was. Running ones end FAILED, those that had
   * not finished CANCELLED; printed as `phys run` prints results.
   */
  exited(exitCode: number, seconds: number, json: boolean): void {
    const run = this.#run;
    const what = run?.kind === 'sequential' ? 'stage' : 'node';
    const running = [...this.#nodes].filter(([, n]) => n.status === 'RUNNING').map(([id]) => id);
    const named = running.map((id) => `'${id}'`).join(', ');
    // Node's own code for a module whose top-level await can never settle: here, the command
    // waited on a stage's promise with nothing left that could settle it.
    if (exitCode === UNSETTLED_AWAIT && run !== undefined && running.length > 0) {
      const message = `The run stopped while ${running.length === 1 ? `${what} ${named} was` : `${what}s ${named} were`} running: ${running.length === 1 ? 'it' : 'one of them'} returned a promise that never settles, and nothing was left pending that could settle it. Resolve or reject the stage's promise on every path.`;
      this.#printFailure(run, json, seconds, {
        name: 'StageContractError',
        code: 'PHYS_STAGE_CONTRACT',
        message,
        retryable: false,
        details: { exitCode, [`${what}s`]: running },
      });
      return;
    }
    const call = `process.exit(${exitCode})`;
    const who =
      run === undefined
        ? `Code that phys ran before any run started (the config, a plugin or a command) called ${call}`
        : running.length === 1
          ? `${what === 'node' ? 'Node' : 'Stage'} '${running[0]}' called ${call}`
          : running.length > 1
            ? `One of the ${what}s ${named} (running at the time) called ${call}`
            : `Code of the run called ${call} while no ${what} was running (a hook or a plugin)`;
    const fix =
      run === undefined
        ? 'Throw an error instead.'
        : what === 'node'
          ? "A stage must not end the process: throw an error to fail its node, or give the node isolation 'process', where exiting fails that node alone."
          : 'A stage must not end the process: throw an error to fail it.';
    const message = `${who}, which ended the run. ${fix}`;
    this.#printFailure(run, json, seconds, {
      name: 'PhysError',
      code: 'PHYS_STAGE_EXIT',
      message,
      retryable: false,
      details: { exitCode, [`${what}s`]: running },
    });
  }

  /** Prints a run that failed with `error` from here: running nodes FAILED, queued CANCELLED. */
  #printFailure(
    run: Extract<RunJournalEvent, { type: 'run' }> | undefined,
    json: boolean,
    seconds: number,
    error: { name: string; code: string; message: string; retryable: false; details: object },
  ): void {
    const what = run?.kind === 'sequential' ? 'stage' : 'node';
    const nodes: Record<string, { status: NodeStatus; metrics?: Record<string, number> }> = {};
    const counts: Partial<Record<NodeStatus, number>> = {};
    for (const [id, node] of this.#nodes) {
      const status: NodeStatus =
        node.status === 'RUNNING' ? 'FAILED' : node.status === 'QUEUED' ? 'CANCELLED' : node.status;
      nodes[id] = {
        status,
        ...(node.metrics === undefined ? {} : { metrics: { ...node.metrics } }),
      };
      counts[status] = (counts[status] ?? 0) + 1;
    }
    if (run?.json ?? json) {
      const report =
        run === undefined
          ? { error, exitCode: ExitCode.RUN_FAILED }
          : {
              pipeline: run.pipeline,
              kind: run.kind,
              runId: run.runId,
              status: 'FAILED',
              durationSeconds: seconds,
              nodes,
              counts,
              error,
              exitCode: ExitCode.RUN_FAILED,
            };
      process.stdout.write(`${stringify(report)}\n`);
      return;
    }
    if (run !== undefined) {
      const out = [
        `✗ ${run.pipeline}: FAILED in ${formatDuration(seconds)} (${run.kind}, ${plural(run.nodes.length, what)})`,
        `  run ${run.runId}`,
        `  ${what}s: ${formatCounts(counts)}`,
      ];
      for (const [id, node] of Object.entries(nodes)) {
        if (node.status !== 'COMPLETED' && node.status !== 'CACHED') continue;
        for (const [name, value] of Object.entries(node.metrics ?? {})) {
          out.push(`  ${id}.${name} = ${value}`);
        }
      }
      process.stdout.write(`${out.join('\n')}\n`);
    }
    process.stderr.write(`error ${error.code}: ${error.message}\n`);
  }

  /** Prints the partial result of a run stopped from outside, as `phys run` prints results. */
  report(signal: NodeJS.Signals, why: 'stuck' | 'again', seconds: number): void {
    const run = this.#run;
    const busy: string[] = [];
    const nodes: Record<string, { status: NodeStatus; metrics?: Record<string, number> }> = {};
    const counts: Partial<Record<NodeStatus, number>> = {};
    for (const [id, node] of this.#nodes) {
      // Whatever had not finished was cancelled.
      const status: NodeStatus =
        node.status === 'QUEUED' || node.status === 'RUNNING' ? 'CANCELLED' : node.status;
      if (node.status === 'RUNNING') busy.push(id);
      nodes[id] = {
        status,
        ...(node.metrics === undefined ? {} : { metrics: { ...node.metrics } }),
      };
      counts[status] = (counts[status] ?? 0) + 1;
    }
    const what = run?.kind === 'sequential' ? 'stage' : 'node';
    const how =
      why === 'again'
        ? `stopped at once on the second signal`
        : `the run did not respond within ${CANCEL_ACK_MS} ms${busy.length > 0 ? `: ${what} ${busy.map((id) => `'${id}'`).join(', ')} ${busy.length === 1 ? 'was' : 'were'} busy in synchronous code, which cannot see its AbortSignal` : ''}; it was stopped at once`;
    const message = `Interrupted by ${signal}: ${how}.`;
    if (run?.json === true) {
      process.stdout.write(
        `${stringify({
          pipeline: run.pipeline,
          kind: run.kind,
          runId: run.runId,
          status: 'CANCELLED',
          durationSeconds: seconds,
          nodes,
          counts,
          error: { name: 'CancelledError', code: 'PHYS_CANCELLED', message, retryable: false },
          exitCode: ExitCode.INTERRUPTED,
        })}\n`,
      );
      return;
    }
    if (run === undefined) {
      process.stderr.write(`${message}\n`);
      return;
    }
    const out = [
      `✗ ${run.pipeline}: CANCELLED in ${formatDuration(seconds)} (${run.kind}, ${plural(run.nodes.length, what)})`,
      `  run ${run.runId}`,
      `  ${what}s: ${formatCounts(counts)}`,
    ];
    const done = Object.entries(nodes).filter(
      ([, n]) => n.status === 'COMPLETED' || n.status === 'CACHED',
    );
    for (const [id, node] of done) {
      for (const [name, value] of Object.entries(node.metrics ?? {})) {
        out.push(`  ${id}.${name} = ${value}`);
      }
    }
    process.stdout.write(`${out.join('\n')}\n`);
    process.stderr.write(`${message}\n`);
  }
}
