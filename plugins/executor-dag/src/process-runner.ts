import { type ChildProcess, spawn } from 'node:child_process';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CancelledError, deserializeError, PhysError, StageExecutionError } from '@phys/core';
import { type PortableResult, taskEnvelopeEntry } from '@phys/runtime';
import {
  type LogTailOptions,
  logTail,
  readResultEnvelope,
  writeTaskEnvelope,
} from '@phys/scheduler-kit';
import type { RemoteJob } from './local-scheduler.js';

interface ProcessRunnerOptions {
  readonly workDir: string;
  readonly keepWorkDirs: boolean;
  readonly graceMs: number;
}

/** How much of a failed child's stderr an error carries: its last 20 lines, whatever their length. */
export const STDERR_TAIL: LogTailOptions = { lines: 20, maxChars: Number.POSITIVE_INFINITY };

/**
 * `process` isolation: writes a task envelope and runs it in a child `node` process (the same
 * entry `phys exec` and cluster jobs use), so a crash, a segfault or an exhausted heap takes
 * down only that node.
 */
export class ProcessRunner {
  readonly #options: ProcessRunnerOptions;
  readonly #children = new Set<ChildProcess>();

  constructor(options: ProcessRunnerOptions) {
    this.#options = options;
  }

  async run(configFile: string, job: RemoteJob, signal: AbortSignal): Promise<PortableResult> {
    if (signal.aborted) throw reasonOf(signal, job.nodeId);
    const dir = join(this.#options.workDir, safe(job.runId), `${safe(job.nodeId)}.${job.attempt}`);
    const envelopeFile = await writeTaskEnvelope(
      dir,
      {
        runId: job.runId,
        nodeId: job.nodeId,
        attempt: job.attempt,
        stage: job.stage,
        label: job.label,
        configFile,
        policy: job.policy,
        resources: job.resources,
        ...(job.artifactsDir === undefined ? {} : { artifactsDir: job.artifactsDir }),
      },
      job.input,
    );
    const stdout = await open(join(dir, 'stdout.log'), 'w');
    const stderr = await open(join(dir, 'stderr.log'), 'w');
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (job.resources.gpuIds.length > 0) env.CUDA_VISIBLE_DEVICES = job.resources.gpuIds.join(',');
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [taskEnvelopeEntry(), envelopeFile], {
        cwd: dir,
        env,
        stdio: ['ignore', stdout.fd, stderr.fd],
      });
    } finally {
      await stdout.close();
      await stderr.close();
    }
    this.#children.add(child);
    let killTimer: NodeJS.Timeout | undefined;
    let killed = false;
    const onAbort = (): void => {
      child.kill('SIGTERM');
      killTimer = setTimeout(() => {
        killed = true;
        child.kill('SIGKILL');
      }, this.#options.graceMs);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    // An abort while the envelope was being written fired before anyone listened.
    if (signal.aborted) onAbort();
    const exit = await new Promise<{
      code: number | null;
      signal: NodeJS.Signals | null;
      error?: Error;
    }>((resolve) => {
      child.once('error', (error) => resolve({ code: null, signal: null, error }));
      child.once('exit', (code, sig) => resolve({ code, signal: sig }));
    });
    signal.removeEventListener('abort', onAbort);
    if (killTimer !== undefined) clearTimeout(killTimer);
    this.#children.delete(child);

    const result = await readResultEnvelope(envelopeFile).catch(() => undefined);
    if (result !== undefined) {
      const { envelope } = result;
      if (envelope.status === 'COMPLETED') {
        if (!this.#options.keepWorkDirs) await rm(dir, { recursive: true, force: true });
        return {
          state: result.state,
          ...(envelope.metrics === undefined ? {} : { metrics: envelope.metrics }),
          ...(result.artifacts === undefined ? {} : { artifacts: result.artifacts }),
          ...(envelope.provenance === undefined ? {} : { provenance: envelope.provenance }),
          wallTimeSeconds: envelope.wallTimeSeconds ?? 0,
        };
      }
      if (envelope.error !== undefined) {
        if (signal.aborted && envelope.status === 'CANCELLED') throw reasonOf(signal, job.nodeId);
        throw deserializeError(envelope.error);
      }
    }
    if (signal.aborted) {
      const reason = reasonOf(signal, job.nodeId);
      throw killed
        ? new PhysError(
            reason.code,
            `${reason.message} Its process did not stop within ${this.#options.graceMs / 1000} s and was killed.`,
            { cause: reason, retryable: reason.retryable },
          )
        : reason;
    }
    const tail = await logTail(join(dir, 'stderr.log'), STDERR_TAIL);
    const how =
      exit.error !== undefined
        ? `could not be started: ${exit.error.message}`
        : exit.signal !== null
          ? `was killed by signal ${exit.signal}`
          : `exited with code ${exit.code} without writing a result`;
    throw new StageExecutionError(
      job.label,
      `The process running node '${job.nodeId}' ${how}.${tail === '' ? '' : ` Last lines of stderr:\n${tail}`}\nLogs and the task envelope are in ${dir}.`,
      {
        ...(exit.error === undefined ? {} : { cause: exit.error }),
        details: {
          nodeId: job.nodeId,
          exitCode: exit.code,
          signal: exit.signal,
          stderrTail: tail,
          workDir: dir,
        },
      },
    );
  }

  async close(): Promise<void> {
    for (const child of this.#children) child.kill('SIGKILL');
    this.#children.clear();
  }
}

function reasonOf(signal: AbortSignal, nodeId: string): PhysError {
  const reason: unknown = signal.reason;
  return PhysError.is(reason)
    ? reason
    : new CancelledError(`Node '${nodeId}' was cancelled.`, { cause: reason });
}

/** A file-name-safe form of an id that stays unique (percent-encoding, like artifact files). */
export function safe(id: string): string {
  return encodeURIComponent(id).replace(/\./g, '%2E').replace(/\*/g, '%2A');
}
