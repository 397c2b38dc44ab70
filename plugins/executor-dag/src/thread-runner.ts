import { MessageChannel, type ResourceLimits, Worker } from 'node:worker_threads';
import {
  CancelledError,
  decodeState,
  deserializeError,
  encodeState,
  PhysError,
  type SerializedPhysError,
  StageExecutionError,
} from '@phys/core';
import type { PortableResult } from '@phys/core/node';
import { Piscina } from 'piscina';
import { builtFile } from './built-file.js';
import type { RemoteJob } from './local-scheduler.js';
import type { AbortMessage, ThreadTask } from './worker.js';

interface ThreadRunnerOptions {
  readonly maxThreads: number;
  readonly graceMs: number;
  readonly resourceLimits?: ResourceLimits;
}

type Reply = ({ ok: true } & PortableResult) | { ok: false; error: SerializedPhysError };

/**
 * `thread` isolation: a piscina pool whose workers rebuild stages by identity. Piscina gives a
 * bounded pool with transfer lists, worker replacement after a crash, and termination of a
 * worker whose task is aborted; an abort is first delivered cooperatively (the stage's
 * AbortSignal fires in the worker) and the worker is terminated only after the grace period.
 */
export class ThreadRunner {
  readonly #options: ThreadRunnerOptions;
  #pool: Piscina | undefined;

  constructor(options: ThreadRunnerOptions) {
    this.#options = options;
  }

  #getPool(): Piscina {
    if (this.#pool === undefined) {
      const pool = new Piscina({
        filename: builtFile(import.meta.url, 'worker.js'),
        minThreads: 0,
        maxThreads: this.#options.maxThreads,
        idleTimeout: 30_000,
        atomics: 'disabled',
        execArgv: workerExecArgv(),
        ...(this.#options.resourceLimits === undefined
          ? {}
          : { resourceLimits: this.#options.resourceLimits }),
      });
      // A worker dying between tasks is replaced by piscina; without a listener the 'error'
      // event would crash the whole process.
      pool.on('error', () => undefined);
      this.#pool = pool;
    }
    return this.#pool;
  }

  async run(configFile: string, job: RemoteJob, signal: AbortSignal): Promise<PortableResult> {
    if (signal.aborted) throw abortReason(signal, job.nodeId);
    const input = encodeState(job.input);
    const { port1, port2 } = new MessageChannel();
    const hard = new AbortController();
    let grace: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      const reason: unknown = signal.reason;
      const message: AbortMessage = {
        abort: PhysError.is(reason) && reason.code === 'PHYS_TIMEOUT' ? 'timeout' : 'cancel',
        message: PhysError.is(reason) ? reason.message : `Node '${job.nodeId}' was cancelled.`,
      };
      port1.postMessage(message);
      grace = setTimeout(() => hard.abort(), this.#options.graceMs);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const task: ThreadTask = {
      configFile,
      stage: job.stage,
      label: job.label,
      runId: job.runId,
      nodeId: job.nodeId,
      attempt: job.attempt,
      policy: job.policy,
      resources: job.resources,
      input,
      port: port2,
      ...(job.artifactsDir === undefined ? {} : { artifactsDir: job.artifactsDir }),
    };
    let bytes: Uint8Array;
    try {
      bytes = (await this.#getPool().run(task, {
        transferList: [input.buffer as ArrayBuffer, port2],
        signal: hard.signal,
      })) as Uint8Array;
    } catch (error) {
      if (hard.signal.aborted) {
        const reason = abortReason(signal, job.nodeId);
        throw new PhysError(
          reason.code,
          `${reason.message} The worker thread did not stop within ${this.#options.graceMs / 1000} s and was terminated.`,
          { cause: reason, retryable: reason.retryable },
        );
      }
      throw crashed(job, error);
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (grace !== undefined) clearTimeout(grace);
      port1.close();
    }
    const reply = decodeState(bytes) as Reply;
    if (!reply.ok) throw deserializeError(reply.error);
    const { ok: _ok, ...result } = reply;
    return result;
  }

  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    await pool?.destroy();
  }
}

/**
 * The parent's node flags for the pool's workers, minus export conditions (workers run the built
 * JavaScript of the workspace packages, never their TypeScript sources, which `--conditions
 * @phys/source` picks) and minus the flags a worker thread refuses: V8 options such as
 * `--max-old-space-size` or `--expose-gc` apply to the whole process, and Node throws
 * ERR_WORKER_INVALID_EXEC_ARGV for a worker given one. Which flags those are is Node's to say,
 * so it is asked once, with one flag that is invalid on purpose: the Worker constructor then
 * rejects the list before starting any thread and names every invalid flag in it.
 */
function workerExecArgv(): string[] {
  workerFlags ??= acceptedByWorkers(withoutConditions(process.execArgv));
  return [...workerFlags];
}

let workerFlags: readonly string[] | undefined;

const PROBE_FLAG = '--phys-probe-worker-flags';

function withoutConditions(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--conditions' || arg === '-C') {
      i++;
      continue;
    }
    if (arg.startsWith('--conditions=')) continue;
    out.push(arg);
  }
  return out;
}

function acceptedByWorkers(argv: readonly string[]): readonly string[] {
  if (argv.length === 0) return argv;
  let message: string;
  try {
    // Never starts: the probe flag makes the constructor throw before the thread is created.
    const worker = new Worker('', { eval: true, execArgv: [...argv, PROBE_FLAG] });
    void worker.terminate();
    return argv;
  } catch (error) {
    const e = error as { code?: unknown; message?: unknown };
    if (e.code !== 'ERR_WORKER_INVALID_EXEC_ARGV' || typeof e.message !== 'string') return argv;
    message = e.message;
  }
  const listed = message.slice(message.indexOf(':') + 1).split(',');
  const invalid = new Set(listed.map((flag) => flag.trim()));
  if (!invalid.has(PROBE_FLAG)) return argv;
  return argv.filter((arg) => !invalid.has(arg));
}

function abortReason(signal: AbortSignal, nodeId: string): PhysError {
  const reason: unknown = signal.reason;
  return PhysError.is(reason)
    ? reason
    : new CancelledError(`Node '${nodeId}' was cancelled.`, { cause: reason });
}

function crashed(job: RemoteJob, error: unknown): PhysError {
  const e = error as { message?: unknown; code?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(error);
  const outOfMemory = e?.code === 'ERR_WORKER_OUT_OF_MEMORY' || /out of memory/i.test(message);
  return new StageExecutionError(
    job.label,
    outOfMemory
      ? `The worker thread running node '${job.nodeId}' ran out of memory (${message}). Raise threadResourceLimits or run the node with 'process' isolation.`
      : `The worker thread running node '${job.nodeId}' crashed: ${message}. The stage exited the thread or threw outside its promise; fix the stage or use 'process' isolation.`,
    { cause: error, details: { nodeId: job.nodeId, crash: true, outOfMemory } },
  );
}
