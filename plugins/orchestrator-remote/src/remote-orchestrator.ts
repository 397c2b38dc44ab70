import { randomUUID } from 'node:crypto';
import {
  CancelledError,
  ExecutionStatus,
  isTerminal,
  type NamedPipeline,
  type Orchestrator,
  type OrchestratorRetryPolicy,
  PhysError,
  type RetryPolicy,
  type RunEvent,
  type RunFilter,
  type RunPage,
  type RunPipelineOptions,
  type RunRecord,
  type SerializedPhysError,
  type SubmissionResult,
  TimeoutError,
  UsageError,
  type WaitOptions,
} from '@phys/core';
import { ApiClient, DEFAULT_REQUEST_RETRY, sleep } from './api-client.js';
import { followEvents, NO_EVENT_STREAM } from './event-stream.js';
import {
  apiBase,
  type OrchestratorRemoteOptions,
  parseRemoteOptions,
  SERVER_TOKEN_ENV,
} from './options.js';

/** A pipeline the server declares (`GET /pipelines`). @public */
export interface RemotePipeline {
  readonly name: string;
  readonly kind: 'sequential' | 'dag';
  readonly description?: string;
  /** Stages or nodes. */
  readonly size: number;
}

/** One log line of a run (`GET /runs/:id/logs`). @public */
export interface RemoteLogLine {
  readonly seq: number;
  readonly at: string;
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly message: string;
  readonly node?: string;
}

const RUN_ID = /^[A-Za-z0-9._-]{1,128}$/;
const STATUSES: ReadonlySet<string> = new Set(Object.values(ExecutionStatus));

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A submission as last read from the server. */
class RemoteSubmission implements SubmissionResult {
  readonly record: RunRecord;
  readonly #orchestrator: RemoteOrchestrator;

  constructor(record: RunRecord, orchestrator: RemoteOrchestrator) {
    this.record = record;
    this.#orchestrator = orchestrator;
  }
  get jobId(): string {
    return this.record.jobId;
  }
  get pipeline(): string {
    return this.record.pipeline;
  }
  get status(): ExecutionStatus {
    return this.record.status;
  }
  get durationSeconds(): number | undefined {
    return this.record.durationSeconds;
  }
  get outputs(): Readonly<Record<string, unknown>> {
    return this.record.outputs ?? {};
  }
  get error(): SerializedPhysError | undefined {
    return this.record.error;
  }
  waitForCompletion(options?: WaitOptions): Promise<SubmissionResult> {
    return this.#orchestrator.waitForCompletion(this.jobId, options);
  }
  refresh(): Promise<SubmissionResult> {
    return this.#orchestrator.getRun(this.jobId);
  }
  cancel(): Promise<boolean> {
    return this.#orchestrator.cancelRun(this.jobId);
  }
}

function isUnavailable(error: unknown): boolean {
  return PhysError.is(error) && error.code === 'PHYS_SERVER_UNAVAILABLE';
}

function checkSeconds(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw new UsageError(`${name} must be a number of seconds ≥ 0, got ${String(value)}.`);
  }
  return value;
}

/**
 * Runs pipelines on a `phys serve` server through its HTTP API (v1): the same
 * {@link @phys/core#Orchestrator} as the in-process one, over the network. Pipelines are the
 * server's, named as in its config. A submission always carries its run id (generated here when
 * not given), so a request retried after a lost answer never starts a second run; waiting
 * follows the run's Server-Sent Events (resumed with `Last-Event-ID`) and falls back to polling.
 * @public
 */
export class RemoteOrchestrator implements Orchestrator {
  readonly name = 'remote';
  readonly #api: ApiClient;
  readonly #retryPolicy: OrchestratorRetryPolicy | undefined;
  readonly #requestRetry: RetryPolicy;
  readonly #streams = new Set<AbortController>();

  constructor(options: OrchestratorRemoteOptions = {}) {
    const parsed = parseRemoteOptions(options, 'RemoteOrchestrator');
    const token = parsed.token ?? (process.env[SERVER_TOKEN_ENV]?.trim() || undefined);
    this.#retryPolicy = parsed.retryPolicy;
    this.#requestRetry = parsed.requestRetry ?? DEFAULT_REQUEST_RETRY;
    this.#api = new ApiClient(
      apiBase(parsed.url, 'RemoteOrchestrator'),
      token,
      parsed.requestTimeoutSeconds,
      this.#requestRetry,
    );
  }

  /** The server, as `http://host:port`. */
  get url(): string {
    return this.#api.server;
  }

  async runPipeline(
    pipeline: string | NamedPipeline,
    options: RunPipelineOptions = {},
  ): Promise<SubmissionResult> {
    if (typeof pipeline !== 'string') {
      throw new UsageError(
        `A remote orchestrator runs the pipelines of the server's config, by name: pass the name (e.g. '${isObject(pipeline) && typeof pipeline.name === 'string' ? pipeline.name : 'ising-scan'}') instead of a pipeline object, and declare the pipeline in the config \`phys serve\` loads on ${this.url}. Pipeline objects run in process only (LocalOrchestrator).`,
      );
    }
    if (pipeline.trim() === '') throw new UsageError('The pipeline name is empty.');
    const runId = options.runId ?? randomUUID();
    if (typeof runId !== 'string' || !RUN_ID.test(runId)) {
      throw new UsageError(
        `Run id '${String(runId)}' is not valid: use 1 to 128 letters, digits, '.', '_' or '-' (e.g. 'scan-2026-06-01').`,
      );
    }
    const retryPolicy = options.retryPolicy ?? this.#retryPolicy;
    const { body } = await this.#api.json<unknown>({
      method: 'POST',
      path: 'runs',
      // The run id is the idempotency key: a retry of this request returns the run it created.
      headers: { 'idempotency-key': runId },
      body: {
        pipeline,
        runId,
        ...(options.params === undefined ? {} : { params: options.params }),
        ...(options.priority === undefined ? {} : { priority: options.priority }),
        ...(retryPolicy === undefined ? {} : { retryPolicy }),
      },
    });
    return new RemoteSubmission(this.#record(body, 'POST runs'), this);
  }

  async getRunStatus(jobId: string): Promise<ExecutionStatus> {
    return (await this.#get(jobId)).status;
  }

  async getRun(jobId: string): Promise<SubmissionResult> {
    return new RemoteSubmission(await this.#get(jobId), this);
  }

  async listRuns(filter: RunFilter = {}): Promise<RunPage> {
    const { body } = await this.#api.json<unknown>({
      method: 'GET',
      path: 'runs',
      query: {
        pipeline: filter.pipeline,
        status: filter.status === undefined ? undefined : filter.status.join(','),
        limit: filter.limit === undefined ? undefined : String(filter.limit),
        cursor: filter.cursor,
      },
    });
    if (!isObject(body) || !Array.isArray(body.runs)) throw this.#odd('GET runs', body);
    const runs = body.runs.map((run) => this.#record(run, 'GET runs'));
    const next = body.nextCursor;
    return typeof next === 'string' && next !== '' ? { runs, nextCursor: next } : { runs };
  }

  async cancelRun(jobId: string): Promise<boolean> {
    const { body } = await this.#api.json<unknown>({
      method: 'POST',
      path: `runs/${this.#id(jobId)}/cancel`,
    });
    if (!isObject(body) || typeof body.cancelled !== 'boolean') {
      throw this.#odd('POST runs/:id/cancel', body);
    }
    return body.cancelled;
  }

  runEvents(
    jobId: string,
    options: { readonly after?: number; readonly signal?: AbortSignal } = {},
  ): AsyncIterable<RunEvent> {
    this.#id(jobId);
    return this.#follow(jobId, options.after, options.signal);
  }

  /**
   * Waits until run `jobId` is terminal and resolves with its last snapshot: follows its event
   * stream, or polls `GET /runs/:id` every `pollInterval` seconds when the server (or a proxy in
   * front of it) does not stream; a server that restarts meanwhile is waited for. At `timeout`
   * seconds a `TimeoutError` `PHYS_WAIT_TIMEOUT`; the run goes on.
   */
  async waitForCompletion(jobId: string, options: WaitOptions = {}): Promise<SubmissionResult> {
    const timeout = checkSeconds('timeout', options.timeout, 3600);
    const pollInterval = Math.max(0.05, checkSeconds('pollInterval', options.pollInterval, 5));
    const deadline = new AbortController();
    let status: ExecutionStatus | undefined;
    const expire = () =>
      deadline.abort(
        new TimeoutError(
          `Run '${jobId}' did not finish within ${timeout} s of waiting (it is ${status ?? 'not yet seen'}); it goes on on ${this.url}. Wait again with \`phys runs wait ${jobId}\` or a longer timeout.`,
          { code: 'PHYS_WAIT_TIMEOUT', details: { jobId, timeout, ...(status ? { status } : {}) } },
        ),
      );
    // setTimeout holds at most about 24.8 days: longer waits re-arm it (Infinity never expires).
    const end = performance.now() + timeout * 1000;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      const left = end - performance.now();
      if (left <= 0) expire();
      else if (Number.isFinite(left)) timer = setTimeout(arm, Math.min(left, 2 ** 31 - 1));
    };
    const signal =
      options.signal === undefined
        ? deadline.signal
        : AbortSignal.any([deadline.signal, options.signal]);
    try {
      if (timeout === 0) {
        // Only a look: a run that ended is returned, any other is a timeout at once.
        const record = await this.#get(jobId, signal);
        status = record.status;
        if (isTerminal(record.status)) return new RemoteSubmission(record, this);
        expire();
        throw deadline.signal.reason;
      }
      arm();
      // The stream replays the run's events first: a run that already ended ends it at once,
      // so no request is spent on reading the run before following it.
      let streaming = true;
      let record: RunRecord | undefined;
      // Until the server answered once, an unreachable one is an error (a wrong URL fails
      // fast); after that, a server that restarts is waited for.
      let reached = false;
      while (record === undefined || !isTerminal(record.status)) {
        if (streaming) {
          try {
            for await (const event of this.#follow(jobId, 0, signal)) {
              reached = true;
              if (event.type === 'status') status = event.status;
            }
          } catch (error) {
            if (signal.aborted || (!reached && isUnavailable(error))) throw error;
            // No stream here, or it keeps failing: poll instead.
            if (
              !PhysError.is(error) ||
              (error.code !== 'PHYS_SERVER_UNAVAILABLE' &&
                !(
                  error.code === 'PHYS_SERVER_RESPONSE' && error.details?.reason === NO_EVENT_STREAM
                ))
            ) {
              throw error;
            }
            streaming = false;
          }
        } else if (record !== undefined) {
          await sleep(pollInterval, signal);
        }
        try {
          record = await this.#get(jobId, signal);
          reached = true;
          status = record.status;
        } catch (error) {
          if (signal.aborted || !reached || !isUnavailable(error)) throw error;
          streaming = false;
        }
      }
      return new RemoteSubmission(record, this);
    } catch (error) {
      if (deadline.signal.aborted) throw deadline.signal.reason;
      if (options.signal?.aborted === true) {
        throw new CancelledError(
          `Stopped waiting for run '${jobId}'; the run goes on on ${this.url} (\`phys runs cancel ${jobId}\` stops it).`,
          { cause: options.signal.reason },
        );
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The run's log lines, the last `tail` (default 200, at most 5000). */
  async runLogs(jobId: string, options: { readonly tail?: number } = {}): Promise<RemoteLogLine[]> {
    const { body } = await this.#api.json<unknown>({
      method: 'GET',
      path: `runs/${this.#id(jobId)}/logs`,
      query: { tail: options.tail === undefined ? undefined : String(options.tail) },
    });
    if (!isObject(body) || !Array.isArray(body.lines)) throw this.#odd('GET runs/:id/logs', body);
    return body.lines as RemoteLogLine[];
  }

  /** The pipelines the server runs. */
  async pipelines(): Promise<RemotePipeline[]> {
    const { body } = await this.#api.json<unknown>({ method: 'GET', path: 'pipelines' });
    if (!isObject(body) || !Array.isArray(body.pipelines)) throw this.#odd('GET pipelines', body);
    return body.pipelines as RemotePipeline[];
  }

  /** Closes the event streams still open (iterations of {@link RemoteOrchestrator.runEvents}). */
  async close(): Promise<void> {
    for (const controller of this.#streams) controller.abort(new CancelledError('Closed.'));
    this.#streams.clear();
  }

  async *#follow(
    jobId: string,
    after: number | undefined,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<RunEvent, void, undefined> {
    const own = new AbortController();
    this.#streams.add(own);
    try {
      yield* followEvents(this.#api, jobId, {
        after,
        signal: signal === undefined ? own.signal : AbortSignal.any([own.signal, signal]),
        retry: this.#requestRetry,
        status: async (s) => (await this.#get(jobId, s)).status,
      });
    } finally {
      this.#streams.delete(own);
    }
  }

  async #get(jobId: string, signal?: AbortSignal): Promise<RunRecord> {
    const { body } = await this.#api.json<unknown>({
      method: 'GET',
      path: `runs/${this.#id(jobId)}`,
      signal,
    });
    return this.#record(body, 'GET runs/:id');
  }

  #id(jobId: string): string {
    if (typeof jobId !== 'string' || !RUN_ID.test(jobId)) {
      throw new UsageError(
        `'${String(jobId)}' is not a job id: job ids are 1 to 128 letters, digits, '.', '_' or '-'.`,
      );
    }
    return encodeURIComponent(jobId);
  }

  #record(value: unknown, route: string): RunRecord {
    if (
      !isObject(value) ||
      typeof value.jobId !== 'string' ||
      typeof value.pipeline !== 'string' ||
      typeof value.status !== 'string' ||
      !STATUSES.has(value.status)
    ) {
      throw this.#odd(route, value);
    }
    return value as unknown as RunRecord;
  }

  #odd(route: string, body: unknown): PhysError {
    const shown = JSON.stringify(body) ?? String(body);
    return new PhysError(
      'PHYS_SERVER_RESPONSE',
      `The server at ${this.url} answered ${route} with JSON that is not the phys API's (${shown.length > 120 ? `${shown.slice(0, 117)}...` : shown}). Is it a \`phys serve\` of a matching version?`,
      { details: { route } },
    );
  }
}
