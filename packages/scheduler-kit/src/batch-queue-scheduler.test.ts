import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ExecutionStatus,
  encodeState,
  JobFailureError,
  type JobHandle,
  type Logger,
  resources,
  SchedulerError,
  type SchedulerTask,
  StageExecutionError,
  serializeError,
} from '@phys/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type {
  BatchJobRecord,
  BatchJobState,
  BatchQueueBackend,
  BatchSubmission,
  BatchTask,
} from './batch-queue-backend.js';
import { BatchQueueScheduler, type BatchQueueSchedulerOptions } from './batch-queue-scheduler.js';
import { atomicWrite, type ResultEnvelope } from './envelope.js';

const STATES: Readonly<Record<string, BatchJobState>> = {
  PENDING: { status: ExecutionStatus.QUEUED, terminal: false },
  STUCK: { status: ExecutionStatus.QUEUED, terminal: false, failure: 'UNSATISFIABLE' },
  RUNNING: { status: ExecutionStatus.RUNNING, terminal: false },
  COMPLETED: { status: ExecutionStatus.COMPLETED, terminal: true },
  FAILED: { status: ExecutionStatus.FAILED, terminal: true },
  OUT_OF_MEMORY: { status: ExecutionStatus.FAILED, terminal: true, failure: 'OOM' },
  TIMEOUT: { status: ExecutionStatus.TIMEOUT, terminal: true },
  CANCELLED: { status: ExecutionStatus.CANCELLED, terminal: true },
};

/** A batch system in memory: the test moves jobs between states and writes their results. */
class FakeQueue implements BatchQueueBackend {
  readonly name = 'fake';
  readonly capabilities = { arrays: true, dependencies: true, gpus: false, cancel: true };
  readonly logFileName = 'fake.log';
  readonly submissions: BatchSubmission[] = [];
  readonly cancels: string[][] = [];
  readonly jobs = new Map<string, BatchJobRecord>();
  readonly details = new Map<string, BatchJobRecord>();
  readonly tasks = new Map<string, BatchTask>();
  /** What `stalls` reports, by job id (a node that stopped answering, ...). */
  readonly stalled = new Map<string, string>();
  /** Jobs on a node that does not answer: a cancel is accepted, but they stay as they are. */
  readonly unreachable = new Set<string>();
  queries = 0;
  lookups = 0;
  submitError: unknown;
  cancelError: unknown;
  /** submit waits (as between retries against a busy controller) until its signal aborts. */
  submitWaits = false;
  /** Submissions that started waiting. */
  submitting = 0;
  #seq = 0;

  batchKey(_task: SchedulerTask, req: { cpu: number }): string {
    if (req.cpu > 64)
      throw new SchedulerError('PHYS_SCHEDULER_FAKE_RESOURCES', 'No node has that many cpus.');
    return `cpu=${req.cpu}`;
  }

  async submit(batch: BatchSubmission): Promise<readonly string[]> {
    if (this.submitError !== undefined) throw this.submitError;
    if (this.submitWaits) {
      this.submitting++;
      await new Promise((_, reject) =>
        batch.signal.addEventListener('abort', () => reject(batch.signal.reason), { once: true }),
      );
    }
    this.submissions.push(batch);
    const base = ++this.#seq;
    return batch.tasks.map((t, i) => {
      const id = `${base}_${i}`;
      this.tasks.set(id, t);
      this.jobs.set(id, { nativeState: 'PENDING' });
      return id;
    });
  }

  async query(ids: readonly string[]): Promise<ReadonlyMap<string, BatchJobRecord>> {
    this.queries++;
    const out = new Map<string, BatchJobRecord>();
    for (const id of ids) {
      const record = this.jobs.get(id);
      if (record !== undefined) out.set(id, record);
    }
    return out;
  }

  async lookup(ids: readonly string[]): Promise<ReadonlyMap<string, BatchJobRecord>> {
    this.lookups++;
    return new Map(
      ids.flatMap((id) =>
        this.details.has(id) ? [[id, this.details.get(id) as BatchJobRecord]] : [],
      ),
    );
  }

  async cancel(ids: readonly string[]): Promise<void> {
    this.cancels.push([...ids]);
    if (this.cancelError !== undefined) throw this.cancelError;
    for (const id of ids) {
      if (!this.unreachable.has(id)) this.jobs.set(id, { nativeState: 'CANCELLED' });
    }
  }

  async stalls(jobs: ReadonlyMap<string, BatchJobRecord>): Promise<ReadonlyMap<string, string>> {
    return new Map(
      [...jobs.keys()].flatMap((id) => {
        const problem = this.stalled.get(id);
        return problem === undefined ? [] : [[id, problem] as const];
      }),
    );
  }

  mapState(record: BatchJobRecord): BatchJobState {
    return STATES[record.nativeState] ?? { status: ExecutionStatus.RUNNING, terminal: false };
  }

  /** Writes the task's result envelope (and encoded state) as `phys exec` would. */
  async result(
    id: string,
    status: ResultEnvelope['status'],
    extra: { state?: unknown; error?: Error } = {},
  ): Promise<void> {
    const t = this.tasks.get(id) as BatchTask;
    if (status === 'COMPLETED')
      await atomicWrite(join(t.dir, 'result.bin'), encodeState({ state: extra.state }));
    const envelope: ResultEnvelope = {
      format: 'phys-result/1',
      runId: t.task.runId,
      nodeId: t.task.nodeId,
      attempt: t.task.attempt,
      status,
      ...(status === 'COMPLETED' ? { stateFile: 'result.bin', metrics: { answer: 42 } } : {}),
      ...(extra.error === undefined ? {} : { error: serializeError(extra.error) }),
      startedAt: '2024-01-01T00:00:00.000Z',
      finishedAt: '2024-01-01T00:00:01.000Z',
    };
    await atomicWrite(join(t.dir, 'result.json'), JSON.stringify(envelope));
  }
}

let root: string;
const open: BatchQueueScheduler[] = [];
let seq = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'phys-batch-queue-'));
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function setup(options: Partial<BatchQueueSchedulerOptions> = {}): {
  queue: FakeQueue;
  scheduler: BatchQueueScheduler;
} {
  const queue = new FakeQueue();
  const scheduler = new BatchQueueScheduler(queue, {
    configFile: join(root, 'phys.config.js'),
    workDir: join(root, `work-${++seq}`),
    taskCommand: ['node', 'exec.js'],
    codePrefix: 'PHYS_SCHEDULER_FAKE',
    poll: { initialSeconds: 0.01, maxSeconds: 0.03 },
    resultTimeoutSeconds: 0.2,
    ...options,
  });
  open.push(scheduler);
  return { queue, scheduler };
}

function task(nodeId: string, extra: Partial<SchedulerTask> = {}): SchedulerTask {
  return {
    runId: 'run',
    nodeId,
    attempt: 1,
    stage: { name: 'demo/echo', version: '1', config: {} },
    resources: resources(),
    input: { x: 1 },
    policy: {},
    ...extra,
  };
}

/** A logger that keeps what it is told, as the CLI shows it. */
function recordingLogger(): Logger & { readonly lines: string[] } {
  const lines: string[] = [];
  const logger = {
    lines,
    debug: () => undefined,
    info: (message: string) => void lines.push(`info ${message}`),
    warn: (message: string) => void lines.push(`warn ${message}`),
    error: (message: string) => void lines.push(`error ${message}`),
    child: () => logger,
  };
  return logger;
}

async function until(check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 2000 && !(await check()); i++) await new Promise((r) => setTimeout(r, 5));
}

describe('BatchQueueScheduler', () => {
  it('submits ready tasks of one stage together, polls them with one query, and reads their results', async () => {
    const { queue, scheduler } = setup();
    const handles = await Promise.all(['a', 'b', 'c'].map((id) => scheduler.submit(task(id))));
    const other = await scheduler.submit(
      task('d', { stage: { name: 'demo/other', version: '1', config: {} } }),
    );
    expect(queue.submissions.map((s) => s.tasks.length)).toEqual([3, 1]);
    expect(handles.map((h) => h.jobId)).toEqual(['1_0', '1_1', '1_2']);
    const [first] = queue.submissions as [BatchSubmission];
    expect(first.command).toEqual(['node', 'exec.js']);
    expect(first.tasks.map((t) => t.envelopeFile)).toEqual(
      [0, 1, 2].map((i) => join(first.dir, String(i), 'task.json')),
    );
    expect(first.tasks[0]?.logFile).toBe(join(first.dir, '0', 'fake.log'));

    queue.jobs.set('1_0', { nativeState: 'RUNNING' });
    await until(
      async () => (await scheduler.poll(handles[0] as JobHandle)) === ExecutionStatus.RUNNING,
    );
    for (const h of [...handles, other]) {
      await queue.result(h.jobId, 'COMPLETED', { state: { node: h.nodeId } });
      queue.jobs.set(h.jobId, { nativeState: 'COMPLETED', exitCode: 0 });
    }
    const outcomes = await Promise.all([...handles, other].map((h) => scheduler.wait(h)));
    expect(outcomes.map((o) => [o.status, (o.state as { node: string }).node])).toEqual([
      ['COMPLETED', 'a'],
      ['COMPLETED', 'b'],
      ['COMPLETED', 'c'],
      ['COMPLETED', 'd'],
    ]);
    expect(outcomes[0]?.metrics).toEqual({ answer: 42 });
    expect(scheduler.queueStats).toMatchObject({ tasks: 4, submissions: 2, arrays: 1 });
    expect(queue.queries).toBe(scheduler.queueStats.polls);
    // Completed tasks leave nothing behind.
    expect(await readdir(join(scheduler.workDir, 'run'))).toEqual([]);
  });

  it('maps a native failure state to its job-failure code, with the scheduler, native state and log tail', async () => {
    const { queue, scheduler } = setup();
    const handle = await scheduler.submit(task('fit'));
    const t = queue.tasks.get(handle.jobId) as BatchTask;
    await writeFile(t.logFile, 'allocating 9 GiB\nkilled: out of memory\n');
    queue.jobs.set(handle.jobId, { nativeState: 'OUT_OF_MEMORY', reason: 'OutOfMemory' });
    const outcome = await scheduler.wait(handle);
    expect(outcome.status).toBe('FAILED');
    expect(outcome.error).toMatchObject({
      name: 'JobFailureError',
      code: 'PHYS_JOB_OOM',
      retryable: false,
      details: {
        reason: 'OOM',
        scheduler: 'fake',
        nativeState: 'OUT_OF_MEMORY',
        nodeId: 'fit',
        jobId: handle.jobId,
      },
    });
    expect(outcome.error?.message).toContain('ran out of memory');
    expect(outcome.error?.message).toContain('killed: out of memory');
    expect(outcome.granted).toMatchObject({ cpu: 1 });
  });

  it('a job that failed without a result reports its exit code; one whose exit code promised a result ends NO_RESULT', async () => {
    const { queue, scheduler } = setup();
    const [crashed, silent] = await Promise.all([
      scheduler.submit(task('crashed')),
      scheduler.submit(task('silent')),
    ]);
    queue.jobs.set(crashed.jobId, { nativeState: 'FAILED', exitCode: 7, signal: 0 });
    // Exit code 1 is a task that failed and wrote its result: wait for the file, then give up.
    queue.jobs.set(silent.jobId, { nativeState: 'FAILED', exitCode: 1, signal: 0 });
    const [a, b] = await Promise.all([scheduler.wait(crashed), scheduler.wait(silent)]);
    expect(a.error).toMatchObject({
      code: 'PHYS_JOB_FAILED',
      retryable: false,
      details: { exitCode: 7, nativeState: 'FAILED' },
    });
    expect(a.error?.message).toContain('with exit code 7');
    expect(b.error).toMatchObject({ code: 'PHYS_JOB_NO_RESULT', retryable: true });
  });

  it('passes a task’s own failure through unchanged', async () => {
    const { queue, scheduler } = setup();
    const handle = await scheduler.submit(task('throws'));
    await queue.result(handle.jobId, 'FAILED', {
      error: new StageExecutionError('demo/echo', 'matrix is singular'),
    });
    queue.jobs.set(handle.jobId, { nativeState: 'FAILED', exitCode: 1 });
    const outcome = await scheduler.wait(handle);
    expect(outcome).toMatchObject({
      status: 'FAILED',
      error: { code: 'PHYS_STAGE_FAILED', message: 'matrix is singular' },
    });
  });

  it('reads the exit code of a job the query no longer lists from lookup, and declares one nobody knows lost', async () => {
    const { queue, scheduler } = setup();
    const [looked, lost] = await Promise.all([
      scheduler.submit(task('looked')),
      scheduler.submit(task('lost')),
    ]);
    queue.details.set(looked.jobId, { nativeState: 'FAILED', exitCode: 9 });
    queue.jobs.delete(looked.jobId);
    queue.jobs.delete(lost.jobId);
    const [a, b] = await Promise.all([scheduler.wait(looked), scheduler.wait(lost)]);
    expect(a.error).toMatchObject({ code: 'PHYS_JOB_FAILED', details: { exitCode: 9 } });
    expect(b.error).toMatchObject({
      code: 'PHYS_JOB_LOST',
      retryable: true,
      details: { scheduler: 'fake' },
    });
    expect(queue.lookups).toBeGreaterThanOrEqual(3);
  });

  it('cancels and fails a job stuck in a state it never leaves', async () => {
    const { queue, scheduler } = setup();
    const handle = await scheduler.submit(task('huge', { resources: resources({ cpu: 48 }) }));
    queue.jobs.set(handle.jobId, { nativeState: 'STUCK', reason: 'PartitionConfig' });
    const outcome = await scheduler.wait(handle);
    expect(outcome.error).toMatchObject({
      code: 'PHYS_JOB_UNSATISFIABLE',
      details: { nativeState: 'STUCK' },
    });
    expect(outcome.error?.message).toContain('PartitionConfig');
    expect(outcome.error?.message).toContain('cpu 48');
    expect(queue.cancels).toEqual([[handle.jobId]]);
  });

  it('ends a job running past timeoutSeconds TIMEOUT, and one the batch system stopped too', async () => {
    const { queue, scheduler } = setup();
    const [mine, theirs] = await Promise.all([
      scheduler.submit(task('slow', { timeoutSeconds: 0.05 })),
      scheduler.submit(task('limit')),
    ]);
    queue.jobs.set(mine.jobId, { nativeState: 'RUNNING' });
    queue.jobs.set(theirs.jobId, { nativeState: 'TIMEOUT', reason: 'TimeLimit' });
    const [a, b] = await Promise.all([scheduler.wait(mine), scheduler.wait(theirs)]);
    expect(a).toMatchObject({ status: 'TIMEOUT', error: { code: 'PHYS_TIMEOUT' } });
    expect(a.error?.message).toContain('timeout of 0.05 s');
    expect(queue.cancels).toEqual([[mine.jobId]]);
    expect(b).toMatchObject({
      status: 'TIMEOUT',
      error: { code: 'PHYS_TIMEOUT', retryable: true },
    });
    expect(b.error?.message).toContain('TimeLimit');
  });

  it('cancels jobs of one moment in one call; a job cancelled by someone else ends CANCELLED too', async () => {
    const { queue, scheduler } = setup();
    const [a, b, c] = (await Promise.all(
      ['a', 'b', 'c'].map((id) => scheduler.submit(task(id))),
    )) as [JobHandle, JobHandle, JobHandle];
    await Promise.all([scheduler.cancel(a), scheduler.cancel(b)]);
    expect(queue.cancels).toEqual([[a.jobId, b.jobId]]);
    queue.jobs.set(c.jobId, { nativeState: 'CANCELLED' });
    const outcomes = await Promise.all([a, b, c].map((h) => scheduler.wait(h)));
    expect(outcomes.map((o) => [o.status, o.error?.code])).toEqual([
      ['CANCELLED', 'PHYS_CANCELLED'],
      ['CANCELLED', 'PHYS_CANCELLED'],
      ['CANCELLED', 'PHYS_CANCELLED'],
    ]);
    expect(outcomes[2]?.error?.message).toContain('outside this run');
    await scheduler.cancel(a);
    expect(queue.cancels).toHaveLength(1);
  });

  it('rejects what can never run at submit, and names each node of a refused submission', async () => {
    const { queue, scheduler } = setup();
    await expect(
      scheduler.submit(task('big', { resources: resources({ cpu: 128 }) })),
    ).rejects.toMatchObject({
      code: 'PHYS_SCHEDULER_FAKE_RESOURCES',
    });
    queue.submitError = new JobFailureError('SUBMIT_FAILED', {
      scheduler: 'fake',
      nativeState: 'exit 1',
      note: 'no such queue',
    });
    const refused = await Promise.allSettled(['x', 'y'].map((id) => scheduler.submit(task(id))));
    expect(refused.map((r) => (r as PromiseRejectedResult).reason)).toMatchObject([
      { code: 'PHYS_JOB_SUBMIT_FAILED', failure: { nodeId: 'x' } },
      { code: 'PHYS_JOB_SUBMIT_FAILED', failure: { nodeId: 'y' } },
    ]);
    expect(String((refused[0] as PromiseRejectedResult).reason.message)).toContain("Node 'x'");
  });

  it('hands afterOk dependencies to the backend as job ids', async () => {
    const { queue, scheduler } = setup();
    const first = await scheduler.submit(task('first'));
    await scheduler.submit(task('second'), { afterOk: [first] });
    expect(queue.submissions[1]?.afterOk).toEqual([first.jobId]);
  });

  it('warns when jobs stall on a node that stopped answering, and fails them NODE_FAIL after stuckAfterSeconds', async () => {
    const logger = recordingLogger();
    const { queue, scheduler } = setup({ logger, stuckAfterSeconds: 0.3 });
    const [a, b, c] = (await Promise.all(
      ['a', 'b', 'c'].map((id) => scheduler.submit(task(id))),
    )) as [JobHandle, JobHandle, JobHandle];
    for (const h of [a, b, c]) queue.jobs.set(h.jobId, { nativeState: 'RUNNING' });
    const down = 'compute node cn01 is DOWN+NOT_RESPONDING';
    queue.stalled.set(a.jobId, down);
    queue.stalled.set(b.jobId, down);
    queue.stalled.set(c.jobId, 'compute node cn02 is IDLE+NOT_RESPONDING');
    await until(() => logger.lines.some((l) => l.includes('cn02')));
    // cn02 answers again before the deadline: its job goes on, and the log says so.
    queue.stalled.delete(c.jobId);
    const [outA, outB] = await Promise.all([scheduler.wait(a), scheduler.wait(b)]);
    for (const [out, h] of [
      [outA, a],
      [outB, b],
    ] as const) {
      expect(out.status).toBe('FAILED');
      expect(out.error).toMatchObject({
        code: 'PHYS_JOB_NODE_FAIL',
        retryable: true,
        details: { reason: 'NODE_FAIL', scheduler: 'fake', nativeState: 'RUNNING', jobId: h.jobId },
      });
      expect(out.error?.message).toContain(`fake: ${down} (for`);
      expect(out.error?.message).toContain('The job was cancelled.');
    }
    expect(queue.cancels).toContainEqual([a.jobId, b.jobId]);
    // One warning per problem, naming the jobs that wait on it, as soon as it is seen.
    const warnings = logger.lines.filter((l) => l.startsWith('warn'));
    expect(warnings).toEqual([
      `warn fake: ${down}; 2 jobs wait on it: 'a' (job ${a.jobId}), 'b' (job ${b.jobId}). Unless that changes within 0.3 s (stuckAfterSeconds), they fail with PHYS_JOB_NODE_FAIL, which the retry policy may retry.`,
      expect.stringContaining(`'c' (job ${c.jobId})`),
    ]);
    expect(logger.lines).toContainEqual(
      `info fake: 'c' (job ${c.jobId}) is no longer stalled (compute node cn02 is IDLE+NOT_RESPONDING).`,
    );
    expect(await scheduler.poll(c)).toBe(ExecutionStatus.RUNNING);
    await queue.result(c.jobId, 'COMPLETED', { state: 3 });
    queue.jobs.set(c.jobId, { nativeState: 'COMPLETED', exitCode: 0 });
    expect((await scheduler.wait(c)).status).toBe('COMPLETED');
  });

  it('a stalled job that wrote its result is done, though its node keeps it COMPLETING', async () => {
    const { queue, scheduler } = setup({ stuckAfterSeconds: 600 });
    const handle = await scheduler.submit(task('finished'));
    queue.jobs.set(handle.jobId, { nativeState: 'COMPLETING' });
    queue.stalled.set(handle.jobId, 'compute node cn01 is MIXED+NOT_RESPONDING');
    await queue.result(handle.jobId, 'COMPLETED', { state: 'done' });
    const outcome = await scheduler.wait(handle);
    expect(outcome).toMatchObject({ status: 'COMPLETED', state: 'done' });
    expect(queue.cancels).toEqual([]);
  });

  it('a cancelled job the batch system keeps listing (its node does not answer) ends CANCELLED within seconds', async () => {
    const { queue, scheduler } = setup({ poll: { initialSeconds: 0.05, maxSeconds: 0.05 } });
    const handle = await scheduler.submit(task('orphan'));
    queue.jobs.set(handle.jobId, { nativeState: 'RUNNING' });
    queue.unreachable.add(handle.jobId);
    await until(async () => (await scheduler.poll(handle)) === ExecutionStatus.RUNNING);
    await scheduler.cancel(handle);
    const outcome = await scheduler.wait(handle);
    expect(outcome).toMatchObject({ status: 'CANCELLED', error: { code: 'PHYS_CANCELLED' } });
    expect(queue.jobs.get(handle.jobId)?.nativeState).toBe('RUNNING');
    expect(queue.cancels).toEqual([[handle.jobId]]);
  });

  it('a cancel the batch system refuses still ends a job cancelled from outside, with a warning naming it', async () => {
    const logger = recordingLogger();
    const { queue, scheduler } = setup({ logger });
    const run = new AbortController();
    const handle = await scheduler.submit(task('left', { signal: run.signal }));
    queue.jobs.set(handle.jobId, { nativeState: 'RUNNING' });
    queue.cancelError = new SchedulerError('PHYS_SCHEDULER_FAKE_DOWN', 'controller unreachable');
    run.abort(new Error('Interrupted by SIGTERM.'));
    const outcome = await scheduler.wait(handle);
    expect(outcome.status).toBe('CANCELLED');
    expect(logger.lines).toContainEqual(
      expect.stringContaining(
        `warn Cancelling fake job(s) 'left' (job ${handle.jobId}) failed (controller unreachable). They are reported cancelled, but may still be queued or running`,
      ),
    );
  });

  it('close() and cancelling every task stop a submission that waits to retry', async () => {
    const { queue, scheduler } = setup();
    queue.submitWaits = true;
    const run = new AbortController();
    const cancelled = scheduler.submit(task('x', { signal: run.signal }));
    const alsoCancelled = scheduler.submit(task('y', { signal: run.signal }));
    await until(() => queue.submitting > 0);
    run.abort();
    await expect(cancelled).rejects.toMatchObject({ code: 'PHYS_CANCELLED' });
    await expect(alsoCancelled).rejects.toMatchObject({ code: 'PHYS_CANCELLED' });
    const closed = expect(scheduler.submit(task('z'))).rejects.toMatchObject({
      code: 'PHYS_SCHEDULER_FAKE_CLOSED',
    });
    await until(() => queue.submitting > 0);
    await scheduler.close();
    await closed;
  });

  it('close() cancels what still runs, ends it CANCELLED and refuses new tasks', async () => {
    const { queue, scheduler } = setup();
    const handle = await scheduler.submit(task('long'));
    queue.jobs.set(handle.jobId, { nativeState: 'RUNNING' });
    await scheduler.close();
    expect(queue.cancels).toEqual([[handle.jobId]]);
    expect((await scheduler.wait(handle)).status).toBe('CANCELLED');
    await expect(scheduler.submit(task('late'))).rejects.toMatchObject({
      code: 'PHYS_SCHEDULER_FAKE_CLOSED',
    });
  });
});
