import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, open, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CancelledError, deserializeError, PhysError, StageExecutionError } from '@phys/core';
import {
  killProcessGroup,
  type PortableResult,
  TASK_ABORT_ACK_ENV,
  taskEnvelopeEntry,
} from '@phys/runtime';
import {
  ensurePrivateDir,
  type LogTailOptions,
  logTail,
  readResultEnvelope,
  userWorkRoot,
  writeTaskEnvelope,
} from '@phys/scheduler-kit';
import type { RemoteJob } from './local-scheduler.js';

interface ProcessRunnerOptions {
  /** The work root; undefined: the user's private default (see `userWorkRoot`). */
  readonly workDir: string | undefined;
  readonly keepWorkDirs: boolean;
  readonly graceMs: number;
}

/** A run's directory under the work root while nodes of that run are in it. */
interface RunDir {
  active: number;
  /** Removing the directory after its last node: a node arriving meanwhile waits for it. */
  removing: Promise<void> | undefined;
}

/** How much of a failed child's stderr an error carries: its last 20 lines, whatever their length. */
export const STDERR_TAIL: LogTailOptions = { lines: 20, maxChars: Number.POSITIVE_INFINITY };

/**
 * How long a task process asked to stop has to acknowledge it (see `TASK_ABORT_ACK_ENV`) before
 * it is taken as stuck in synchronous code and killed, rather than granted the grace period.
 * Longer than for a thread: a process still starting up answers once its handler is installed.
 */
export const PROCESS_ABORT_ACK_MS = 500;

/**
 * `process` isolation: writes a task envelope and runs it in a child `node` process (the same
 * entry `phys exec` and cluster jobs use), so a crash, a segfault or an exhausted heap takes
 * down only that node. The child leads a process group of its own: stopping the node signals
 * the whole group, so processes the stage started stop with it, and a terminal's Ctrl-C reaches
 * the node only through the run's cancellation.
 */
export class ProcessRunner {
  readonly #options: ProcessRunnerOptions;
  readonly #children = new Set<ChildProcess>();
  readonly #root: string;
  readonly #runs = new Map<string, RunDir>();

  constructor(options: ProcessRunnerOptions) {
    this.#options = options;
    this.#root = options.workDir ?? userWorkRoot();
  }

  async run(configFile: string, job: RemoteJob, signal: AbortSignal): Promise<PortableResult> {
    if (signal.aborted) throw reasonOf(signal, job.nodeId);
    const runDir = join(this.#root, safe(job.runId));
    await this.#enter(job.runId, runDir);
    try {
      return await this.#run(runDir, configFile, job, signal);
    } finally {
      // Awaited: once a run's last process node is done, its empty directory is gone.
      await this.#leave(job.runId, runDir);
    }
  }

  /**
   * Makes the run's directory, under the default root only once that root proved private to
   * this user (created 0700; not a symbolic link, not another user's).
   */
  async #enter(runId: string, runDir: string): Promise<void> {
    let entry = this.#runs.get(runId);
    if (entry === undefined) {
      entry = { active: 0, removing: undefined };
      this.#runs.set(runId, entry);
    }
    entry.active++;
    try {
      await entry.removing;
      if (this.#options.workDir === undefined) {
        await ensurePrivateDir(this.#root, {
          elsewhere: "set the executor's `workDir` option to a directory of your own",
        });
      }
      await mkdir(runDir, { recursive: true });
    } catch (error) {
      await this.#leave(runId, runDir);
      throw error;
    }
  }

  /** After the last node of a run in flight: the run's directory goes if nothing is left in it. */
  #leave(runId: string, runDir: string): Promise<void> {
    const entry = this.#runs.get(runId);
    if (entry === undefined || --entry.active > 0) return Promise.resolve();
    // rmdir removes only an empty directory: the kept directories of failed nodes stay.
    entry.removing = rmdir(runDir)
      .catch(() => undefined)
      .then(() => {
        if (entry.active === 0 && this.#runs.get(runId) === entry) this.#runs.delete(runId);
      });
    return entry.removing;
  }

  async #run(
    runDir: string,
    configFile: string,
    job: RemoteJob,
    signal: AbortSignal,
  ): Promise<PortableResult> {
    const dir = join(runDir, `${safe(job.nodeId)}.${job.attempt}`);
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
        ...(job.point === undefined ? {} : { point: job.point }),
      },
      job.input,
    );
    const stdout = await open(join(dir, 'stdout.log'), 'w');
    const stderr = await open(join(dir, 'stderr.log'), 'w');
    const env: NodeJS.ProcessEnv = { ...process.env, [TASK_ABORT_ACK_ENV]: '3' };
    if (job.resources.gpuIds.length > 0) env.CUDA_VISIBLE_DEVICES = job.resources.gpuIds.join(',');
    let child: ChildProcess;
    let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>;
    try {
      child = spawn(process.execPath, [taskEnvelopeEntry(), envelopeFile], {
        cwd: dir,
        env,
        stdio: ['ignore', stdout.fd, stderr.fd, 'pipe'],
        detached: true,
      });
      // Listened to at once: a child that ends while the log files close must not go unseen.
      const started = child;
      exited = new Promise((resolve) => {
        started.once('error', (error) => resolve({ code: null, signal: null, error }));
        started.once('exit', (code, sig) => resolve({ code, signal: sig }));
      });
    } finally {
      await stdout.close();
      await stderr.close();
    }
    this.#children.add(child);
    let killTimer: NodeJS.Timeout | undefined;
    let killed: 'grace' | 'stuck' | undefined;
    let acked = false;
    const ack = child.stdio[3] as NodeJS.ReadableStream | null;
    ack?.once('data', () => {
      acked = true;
      // The handler ran: the stage sees its AbortSignal and gets the grace period.
      if (killTimer === undefined) return;
      clearTimeout(killTimer);
      killTimer = setTimeout(() => {
        killed = 'grace';
        killProcessGroup(child, 'SIGKILL');
      }, this.#options.graceMs);
    });
    ack?.on('error', () => {});
    const onAbort = (): void => {
      killProcessGroup(child, 'SIGTERM');
      killTimer = setTimeout(
        () => {
          killed = acked ? 'grace' : 'stuck';
          killProcessGroup(child, 'SIGKILL');
        },
        acked ? this.#options.graceMs : Math.min(PROCESS_ABORT_ACK_MS, this.#options.graceMs),
      );
    };
    signal.addEventListener('abort', onAbort, { once: true });
    // An abort while the envelope was being written fired before anyone listened.
    if (signal.aborted) onAbort();
    const exit = await exited;
    signal.removeEventListener('abort', onAbort);
    if (killTimer !== undefined) clearTimeout(killTimer);
    this.#children.delete(child);
    ack?.removeAllListeners('data');
    (ack as { destroy?: () => void } | null)?.destroy?.();
    // A stopped node leaves nothing running behind: what the stage started goes with it.
    if (signal.aborted) killProcessGroup(child, 'SIGKILL');

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
      throw killed !== undefined
        ? new PhysError(
            reason.code,
            killed === 'grace'
              ? `${reason.message} Its process did not stop within ${this.#options.graceMs / 1000} s and was killed.`
              : `${reason.message} Its process was busy in synchronous code, where the stage cannot see its AbortSignal, and was killed.`,
            { cause: reason, retryable: reason.retryable },
          )
        : reason;
    }
    const { tail, outOfMemory, native } = await readStderr(join(dir, 'stderr.log'));
    const died =
      exit.signal !== null
        ? `was killed by signal ${exit.signal}`
        : `exited with code ${exit.code} without writing a result`;
    const how =
      exit.error !== undefined
        ? `could not be started: ${exit.error.message}.`
        : outOfMemory
          ? `ran out of JavaScript heap memory (it ${died}). Give it a larger heap (NODE_OPTIONS=--max-old-space-size=<MiB> in the environment of the run), or make the stage hold less in memory at once.`
          : `${died}.`;
    const cause = exit.error ?? native;
    throw new StageExecutionError(
      job.label,
      `The process running node '${job.nodeId}' ${how}${tail === '' ? '' : ` Last lines of stderr:\n${tail}`}\nLogs and the task envelope are in ${dir}.`,
      {
        ...(cause === undefined ? {} : { cause }),
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
    for (const child of this.#children) killProcessGroup(child, 'SIGKILL');
    this.#children.clear();
  }
}

function reasonOf(signal: AbortSignal, nodeId: string): PhysError {
  const reason: unknown = signal.reason;
  return PhysError.is(reason)
    ? reason
    : new CancelledError(`Node '${nodeId}' was cancelled.`, { cause: reason });
}

/** Longest id form used as is in a file name; a file name has at most 255 bytes. */
const MAX_NAME = 100;

/**
 * A file-name-safe form of an id that stays unique: percent-encoding, like artifact files. A long
 * one keeps its first characters and ends in `.` and a hash of the whole id; short forms never
 * hold a `.` (it is encoded), so the two kinds cannot meet.
 */
export function safe(id: string): string {
  const encoded = encodeURIComponent(id).replace(/\./g, '%2E').replace(/\*/g, '%2A');
  if (encoded.length <= MAX_NAME) return encoded;
  const head = encoded.slice(0, 60).replace(/%[0-9A-F]?$/, '');
  return `${head}.${createHash('sha256').update(id).digest('hex').slice(0, 16)}`;
}

/** What a process's stderr says about how it died. */
export interface StderrReport {
  /** Its last lines ({@link STDERR_TAIL}), without V8's native stack trace and GC log. */
  readonly tail: string;
  /** Whether V8 ran out of heap. */
  readonly outOfMemory: boolean;
  /** V8's native stack trace, as the stack of an error (shown with the other stacks). */
  readonly native: Error | undefined;
}

const NATIVE_FRAME = /^\s*\d+: (0x[0-9a-f]+)\s*(.*)$/;
const GC_LOG = /^\s*<--- Last few GCs --->\s*$/;
const V8_BANNER = /^\s*(?:----- Native stack trace -----|<--- JS stacktrace --->)\s*$/;
// A GC log line, or the end of one: V8 may write several over each other on one line.
const GC_LINE = /\[\d+:0x[0-9a-f]+\]\s+[\d.]+ ms: /;
const FATAL = /^\s*(?:FATAL ERROR: |# Fatal error)/;

/**
 * Reads the end of a dead process's stderr. A V8 fatal error (an exhausted heap) prints a native
 * stack trace of a dozen lines or more that would bury the message: it is taken out of the tail
 * and becomes the stack of a `V8FatalError`, which the CLI shows with `--verbose`.
 */
export async function readStderr(file: string): Promise<StderrReport> {
  const raw = await logTail(file, { lines: 200, maxChars: Number.POSITIVE_INFINITY });
  const kept: string[] = [];
  const frames: string[] = [];
  let fatal: string | undefined;
  // V8's GC log runs from its banner to the next banner (or the fatal error line).
  let gcLog = false;
  for (const line of raw.split('\n')) {
    const frame = NATIVE_FRAME.exec(line);
    if (frame !== null) {
      frames.push(`    at ${frame[1]} ${(frame[2] ?? '').trim()}`.trimEnd());
      continue;
    }
    if (GC_LOG.test(line)) {
      gcLog = true;
      continue;
    }
    if (V8_BANNER.test(line)) {
      gcLog = false;
      continue;
    }
    if (FATAL.test(line)) {
      gcLog = false;
      fatal ??= line.trim();
    }
    if (gcLog || GC_LINE.test(line)) continue;
    if (line.trim() !== '' || (kept.length > 0 && kept.at(-1)?.trim() !== '')) kept.push(line);
  }
  const tail = kept
    .join('\n')
    .trimEnd()
    .split('\n')
    .slice(-(STDERR_TAIL.lines ?? 20))
    .join('\n');
  let native: Error | undefined;
  if (frames.length > 0) {
    native = new Error(fatal ?? 'the native stack trace of the process');
    native.name = 'V8FatalError';
    native.stack = `V8FatalError: ${native.message}\n${frames.join('\n')}`;
  }
  return {
    tail,
    outOfMemory: /JavaScript heap out of memory|Reached heap limit/.test(raw),
    native,
  };
}
