// LocalOrchestrator on sequential pipelines (DAG pipelines need an executor plugin: the
// conformance suite runs them in tests/integration): the queue, cancel, retry, recovery after a
// restart, shutdown, a custom execute step, and runtime.orchestrator.
import {
  CancelledError,
  definePlugin,
  defineStage,
  ExecutionStatus,
  type Orchestrator,
  OrchestratorToken,
  PhysError,
  type RunEvent,
  type RunRecord,
  silentLogger,
} from '@phys/core';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { executeRun, type RunOutcome } from '../src/orchestrator/execute-run.js';
import { toJsonSafe } from '../src/orchestrator/json-safe.js';
import { type ExecuteContext, LocalOrchestrator } from '../src/orchestrator/local-orchestrator.js';
import { MemoryRunStore } from '../src/orchestrator/memory-run-store.js';
import { assertTransition } from '../src/orchestrator/transitions.js';
import { createRuntime, isPhysRuntime, type PhysRuntime } from '../src/runtime.js';

/** Gates: a run of `hold` waits until its gate is opened (or it is aborted). */
const gates = new Map<string, () => void>();
const started: string[] = [];
const executions = new Map<string, number>();

function open(name: string): void {
  gates.get(name)?.();
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

const Hold = defineStage({
  name: 'test/hold',
  config: z.object({}),
  process: async (state: unknown, ctx) => {
    const name = String(ctx.policy.get('gate', 'default'));
    started.push(name);
    await new Promise<void>((resolve, reject) => {
      gates.set(name, resolve);
      const abort = () => reject(new CancelledError(`'${name}' was aborted`));
      if (ctx.signal.aborted) abort();
      ctx.signal.addEventListener('abort', abort, { once: true });
    });
    return { state: { held: name, input: state } };
  },
});

const Add = defineStage({
  name: 'test/add',
  config: z.object({}),
  process: (state: number, ctx) => {
    const value = state + Number(ctx.policy.get('increment', 1));
    ctx.logger.info(`added to ${state}`);
    return { state: value, metrics: { value } };
  },
});

const Flaky = defineStage({
  name: 'test/flaky',
  config: z.object({ code: z.string().optional() }),
  process: (_state: unknown, ctx) => {
    const key = ctx.runId;
    const n = (executions.get(key) ?? 0) + 1;
    executions.set(key, n);
    if (n < Number(ctx.policy.get('succeedOn', 2))) {
      if (ctx.config.code !== undefined) {
        throw new PhysError(ctx.config.code, `execution ${n} failed`, { retryable: false });
      }
      throw new Error(`execution ${n} failed`);
    }
    return { state: { executions: n, data: new Float64Array([0.5, 1.5]) } };
  },
});

const runtimes: PhysRuntime[] = [];
afterEach(async () => {
  for (const runtime of runtimes.splice(0)) await runtime.dispose();
  gates.clear();
  started.length = 0;
  executions.clear();
});

async function makeRuntime(plugins: unknown[] = []): Promise<PhysRuntime> {
  const runtime = await createRuntime(
    {
      config: {
        plugins: plugins as never,
        stages: [Hold, Add, Flaky],
        pipelines: {
          hold: { stages: [Hold({}, { label: 'hold' })], initialState: 0 },
          add: {
            stages: [Add({}, { label: 'one' }), Add({}, { label: 'two' })],
            initialState: 1,
            policy: { increment: 2 },
          },
          flaky: { stages: [Flaky({}, { label: 'flaky' })] },
          oom: { stages: [Flaky({ code: 'PHYS_JOB_OOM' }, { label: 'oom' })] },
        },
      },
      configDir: process.cwd(),
    },
    { logger: silentLogger },
  );
  runtimes.push(runtime);
  return runtime;
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    if (PhysError.is(error)) return error.code;
    throw error;
  }
  return undefined;
}

async function events(orchestrator: Orchestrator, jobId: string): Promise<RunEvent[]> {
  const out: RunEvent[] = [];
  for await (const event of orchestrator.runEvents(jobId)) out.push(event);
  return out;
}

describe('LocalOrchestrator', () => {
  it('runs a submitted pipeline with its params over the policy', async () => {
    const orchestrator = new LocalOrchestrator(await makeRuntime());
    const run = await orchestrator.runPipeline('add', { params: { increment: 10 } });
    expect(run.status).toBe('QUEUED');
    const done = await run.waitForCompletion();
    expect(done).toMatchObject({ status: 'COMPLETED', outputs: { value: 21 }, error: undefined });
    expect(done.record.metrics).toEqual({ 'add.one.value': 11, 'add.two.value': 21 });
    expect(done.record.nodes).toMatchObject({
      one: { status: 'COMPLETED', attempts: 1 },
      two: { status: 'COMPLETED', attempts: 1 },
    });
    // Without params the pipeline's policy holds: 1 + 2 + 2.
    const plain = await (await orchestrator.runPipeline('add')).waitForCompletion();
    expect(plain.outputs).toEqual({ value: 5 });
    // The stages' log lines are the run's log events.
    const logs = (await events(orchestrator, run.jobId)).filter((e) => e.type === 'log');
    expect(logs.map((e) => e.type === 'log' && e.message)).toEqual(['added to 1', 'added to 11']);
  });

  it('starts at most maxConcurrentRuns, higher priority first, FIFO within one', async () => {
    const orchestrator = new LocalOrchestrator(await makeRuntime(), { maxConcurrentRuns: 1 });
    const submit = (gate: string, priority = 0) =>
      orchestrator.runPipeline('hold', { runId: gate, params: { gate }, priority });
    const first = await submit('first');
    await until(() => started.includes('first'));
    const runs = [
      await submit('low-1'),
      await submit('high', 5),
      await submit('low-2'),
      await submit('mid', 2),
      await submit('high-2', 5),
    ];
    expect(orchestrator.load).toEqual({ queued: 5, running: 1 });
    expect(await orchestrator.getRunStatus('low-1')).toBe('QUEUED');
    const order = ['first', 'high', 'high-2', 'mid', 'low-1', 'low-2'];
    for (const name of order) {
      await until(() => started.includes(name));
      expect(started.at(-1)).toBe(name);
      open(name);
    }
    for (const run of [first, ...runs]) {
      expect((await run.waitForCompletion()).status).toBe('COMPLETED');
    }
    expect(started).toEqual(order);
  });

  it('submit tells whether it created the run: of concurrent submissions of one id, one did', async () => {
    const orchestrator = new LocalOrchestrator(await makeRuntime());
    const all = await Promise.all(
      Array.from({ length: 5 }, () => orchestrator.submit('add', { runId: 'once' })),
    );
    expect(all.filter((s) => s.created)).toHaveLength(1);
    expect(new Set(all.map((s) => s.submission.jobId))).toEqual(new Set(['once']));
    const again = await orchestrator.submit('add', { runId: 'once' });
    expect(again.created).toBe(false);
    expect((await again.submission.waitForCompletion()).status).toBe('COMPLETED');
    expect((await orchestrator.listRuns()).runs).toHaveLength(1);
  });

  it('records every stage event before the final status, numbered in order', async () => {
    const orchestrator = new LocalOrchestrator(await makeRuntime());
    const run = await orchestrator.runPipeline('add');
    await run.waitForCompletion();
    const all = await events(orchestrator, run.jobId);
    expect(all.map((e) => e.seq)).toEqual(all.map((_e, i) => i + 1));
    expect(
      all
        .filter((e) => e.type !== 'log')
        .map((e) =>
          e.type === 'node' ? `${e.node} ${e.status}` : e.type === 'status' && e.status,
        ),
    ).toEqual([
      'QUEUED',
      'RUNNING',
      'one RUNNING',
      'one COMPLETED',
      'two RUNNING',
      'two COMPLETED',
      'COMPLETED',
    ]);
  });

  it('cancels a queued run at once (it never starts) and a running one through its signal', async () => {
    const orchestrator = new LocalOrchestrator(await makeRuntime(), { maxConcurrentRuns: 1 });
    const running = await orchestrator.runPipeline('hold', { params: { gate: 'running' } });
    const queued = await orchestrator.runPipeline('hold', { params: { gate: 'queued' } });
    await until(() => started.includes('running'));
    expect(await queued.cancel()).toBe(true);
    expect(await orchestrator.getRunStatus(queued.jobId)).toBe('CANCELLED');
    expect(await running.cancel()).toBe(true);
    const done = await running.waitForCompletion();
    expect(done.status).toBe('CANCELLED');
    expect(done.error?.code).toBe('PHYS_CANCELLED');
    expect(done.record.nodes?.hold?.status).toBe('CANCELLED');
    expect(started).toEqual(['running']);
    expect(await queued.cancel()).toBe(true);
    const statuses = (await events(orchestrator, queued.jobId)).map(
      (e) => e.type === 'status' && e.status,
    );
    expect(statuses).toEqual(['QUEUED', 'CANCELLED']);
  });

  it('retries a failed attempt per the run retry policy, the guide aliases included', async () => {
    const orchestrator = new LocalOrchestrator(await makeRuntime(), {
      retryPolicy: { maxAttempts: 3, initialDelaySeconds: 0, retryableErrors: ['oom'] },
    });
    // A stage's own exception is not listed: with the orchestrator's policy it is final.
    const flaky = await (await orchestrator.runPipeline('flaky')).waitForCompletion();
    expect([flaky.status, flaky.record.attempt, flaky.error?.code]).toEqual([
      'FAILED',
      1,
      'PHYS_STAGE_FAILED',
    ]);
    const oom = await (await orchestrator.runPipeline('oom')).waitForCompletion();
    expect([oom.status, oom.record.attempt]).toEqual(['COMPLETED', 2]);
    // Outputs are plain JSON: the typed array is an array.
    expect(oom.outputs).toEqual({ executions: 2, data: [0.5, 1.5] });
    // A run's own policy wins.
    const own = await (
      await orchestrator.runPipeline('flaky', {
        params: { succeedOn: 3 },
        retryPolicy: { maxAttempts: 3 },
      })
    ).waitForCompletion();
    expect([own.status, own.record.attempt, own.record.maxAttempts]).toEqual(['COMPLETED', 3, 3]);
    const attempts = (await events(orchestrator, own.jobId))
      .filter((e) => e.type === 'status')
      .map((e) => `${e.type === 'status' && e.status}@${e.type === 'status' && e.attempt}`);
    expect(attempts).toEqual(['QUEUED@0', 'RUNNING@1', 'RUNNING@2', 'RUNNING@3', 'COMPLETED@3']);
  });

  it('checks what it is given: pipeline, run id, params, priority, retry policy', async () => {
    const orchestrator = new LocalOrchestrator(await makeRuntime());
    expect(await codeOf(orchestrator.runPipeline('nope'))).toBe('PHYS_PIPELINE_NOT_FOUND');
    await expect(orchestrator.runPipeline('ad')).rejects.toMatchObject({
      code: 'PHYS_PIPELINE_NOT_FOUND',
      message: expect.stringMatching(/^Unknown pipeline 'ad'\. Did you mean 'add'\? Pipelines in /),
      details: { suggestions: ['add'] },
    });
    expect(await codeOf(orchestrator.runPipeline('add', { runId: 'has space' }))).toBe(
      'PHYS_USAGE',
    );
    expect(await codeOf(orchestrator.runPipeline('add', { runId: 'x'.repeat(129) }))).toBe(
      'PHYS_USAGE',
    );
    const bad = orchestrator.runPipeline('add', {
      params: { f: () => 1, n: Number.NaN, deep: { d: new Date() } } as never,
      priority: 1.5,
      retryPolicy: { maxAttempts: 0 },
    });
    const error = await bad.catch((e: unknown) => e as PhysError);
    expect(error).toMatchObject({ code: 'PHYS_USAGE' });
    const issues = ((error as PhysError).details?.issues ?? []) as { path: string }[];
    const paths = issues.map((i) => i.path);
    expect(paths).toEqual([
      'params.f',
      'params.n',
      'params.deep.d',
      'priority',
      'retryPolicy.maxAttempts',
    ]);
    expect(await codeOf(orchestrator.runPipeline({ name: 'x' } as never))).toBe('PHYS_USAGE');
    expect((await orchestrator.listRuns()).runs).toEqual([]);
    const runtime = runtimes.at(-1) as PhysRuntime;
    expect(() => new LocalOrchestrator(runtime, { maxConcurrentRuns: 0 })).toThrow(
      /maxConcurrentRuns/,
    );
  });

  it('runs a pipeline given as an object', async () => {
    const orchestrator = new LocalOrchestrator(await makeRuntime());
    const run = await orchestrator.runPipeline(
      { name: 'adhoc', stages: [Add({}, { label: 'only' })], initialState: 40 },
      { runId: 'adhoc-1', params: { increment: 2 } },
    );
    const done = await run.waitForCompletion();
    expect([done.pipeline, done.outputs]).toEqual(['adhoc', { value: 42 }]);
  });

  it('waits event-driven; a wait past its timeout throws PHYS_WAIT_TIMEOUT and the run goes on', async () => {
    const orchestrator = new LocalOrchestrator(await makeRuntime());
    const run = await orchestrator.runPipeline('hold', { params: { gate: 'wait' } });
    const error = await run.waitForCompletion({ timeout: 0.05 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'TimeoutError', code: 'PHYS_WAIT_TIMEOUT' });
    const stop = new AbortController();
    const waiting = run.waitForCompletion({ signal: stop.signal });
    stop.abort();
    expect(await codeOf(waiting)).toBe('PHYS_CANCELLED');
    expect(await orchestrator.getRunStatus(run.jobId)).toBe('RUNNING');
    open('wait');
    expect((await run.waitForCompletion()).status).toBe('COMPLETED');
    expect(await codeOf(run.waitForCompletion({ timeout: -1 }))).toBe('PHYS_USAGE');
  });

  it('runEvents stops when its signal aborts', async () => {
    const orchestrator = new LocalOrchestrator(await makeRuntime());
    const run = await orchestrator.runPipeline('hold', { params: { gate: 'events' } });
    await until(() => started.includes('events'));
    const stop = new AbortController();
    const seen: RunEvent[] = [];
    for await (const event of orchestrator.runEvents(run.jobId, { signal: stop.signal })) {
      seen.push(event);
      if (event.type === 'node' && event.status === 'RUNNING') stop.abort();
    }
    expect(seen.map((e) => e.type)).toEqual(['status', 'status', 'node']);
    await run.cancel();
  });

  it('close() leaves running runs RUNNING and queued ones QUEUED; recover() resumes them', async () => {
    const store = new MemoryRunStore();
    const runtime = await makeRuntime();
    const first = new LocalOrchestrator(runtime, {
      store,
      retryPolicy: { maxAttempts: 2 },
    });
    const running = await first.runPipeline('hold', { runId: 'r-running', params: { gate: 'a' } });
    await first.runPipeline('add', { runId: 'r-queued' });
    await until(() => started.includes('a'));
    await first.close();
    expect(await store.get('r-running')).toMatchObject({ status: 'RUNNING', attempt: 1 });
    expect(await store.get('r-queued')).toMatchObject({ status: 'QUEUED', attempt: 0 });
    expect(await codeOf(first.runPipeline('add'))).toBe('PHYS_ORCHESTRATOR_CLOSED');
    expect(await codeOf(running.waitForCompletion())).toBe('PHYS_ORCHESTRATOR_CLOSED');
    // A run with no attempt left, as a crashed process would leave it.
    const stuck: RunRecord = {
      jobId: 'r-stuck',
      pipeline: 'add',
      status: 'RUNNING',
      params: {},
      priority: 0,
      trigger: { kind: 'api' },
      attempt: 1,
      maxAttempts: 1,
      submittedAt: new Date().toISOString(),
      startedAt: new Date().toISOString(),
    };
    await store.insert(stuck, {
      at: stuck.submittedAt,
      type: 'status',
      status: 'RUNNING',
      attempt: 1,
    });

    const second = new LocalOrchestrator(runtime, { store, maxConcurrentRuns: 2 });
    const report = await second.recover();
    expect(report).toEqual({ resumed: ['r-running'], failed: ['r-stuck'], queued: ['r-queued'] });
    await until(() => started.filter((s) => s === 'a').length === 2);
    open('a');
    const resumed = await (await second.getRun('r-running')).waitForCompletion();
    expect([resumed.status, resumed.record.attempt]).toEqual(['COMPLETED', 2]);
    expect((await (await second.getRun('r-queued')).waitForCompletion()).status).toBe('COMPLETED');
    const failed = await second.getRun('r-stuck');
    expect([failed.status, failed.error?.code]).toEqual(['FAILED', 'PHYS_SERVER_RESTARTED']);
    expect(failed.error?.message).toMatch(/server stopped while run 'r-stuck' was running/);
    const statuses = (await events(second, 'r-running'))
      .filter((e) => e.type === 'status')
      .map((e) => e.type === 'status' && `${e.status}@${e.attempt}`);
    expect(statuses).toEqual(['QUEUED@0', 'RUNNING@1', 'RUNNING@2', 'COMPLETED@2']);
    await second.close();
  });

  it('lets a subclass override execute and call super.execute', async () => {
    class Audited extends LocalOrchestrator {
      readonly seen: string[] = [];
      protected override async execute(
        pipeline: Parameters<LocalOrchestrator['execute']>[0],
        runId: string,
        context: ExecuteContext,
      ): Promise<RunOutcome> {
        this.seen.push(`${pipeline.name}/${runId}@${context.attempt}`);
        const outcome = await super.execute(pipeline, runId, context);
        return { ...outcome, metrics: { ...outcome.metrics, audited: 1 } };
      }
    }
    const orchestrator = new Audited(await makeRuntime());
    const done = await (await orchestrator.runPipeline('add', { runId: 'a1' })).waitForCompletion();
    expect(orchestrator.seen).toEqual(['add/a1@1']);
    expect(done.record.metrics?.audited).toBe(1);

    class Broken extends LocalOrchestrator {
      protected override execute(): Promise<RunOutcome> {
        throw new TypeError('a bug in the override');
      }
    }
    const broken = new Broken(await makeRuntime());
    const failed = await (await broken.runPipeline('add')).waitForCompletion();
    expect([failed.status, failed.error?.message]).toEqual(['FAILED', 'a bug in the override']);
  });

  it('is runtime.orchestrator unless a plugin provides one', async () => {
    const runtime = await makeRuntime();
    expect(isPhysRuntime(runtime)).toBe(true);
    expect(isPhysRuntime({ ...runtime })).toBe(false);
    expect(runtime.orchestrator).toBeInstanceOf(LocalOrchestrator);
    expect(runtime.orchestrator).toBe(runtime.orchestrator);
    const done = await (await runtime.orchestrator.runPipeline('add')).waitForCompletion();
    expect(done.status).toBe(ExecutionStatus.COMPLETED);

    const provided = { name: 'provided' } as Orchestrator;
    const withPlugin = await makeRuntime([
      definePlugin({
        name: 'test-orchestrator',
        provides: ['orchestrator'],
        register: (ctx) => {
          ctx.container.register(OrchestratorToken, { useValue: provided });
        },
      }),
    ]);
    expect(withPlugin.orchestrator).toBe(provided);
  });

  it('dispose closes the local orchestrator: a running run is aborted', async () => {
    const runtime = await createRuntime(
      {
        config: { stages: [Hold], pipelines: { hold: { stages: [Hold({}, { label: 'h' })] } } },
        configDir: process.cwd(),
      },
      { logger: silentLogger },
    );
    await runtime.orchestrator.runPipeline('hold', { params: { gate: 'dispose' } });
    await until(() => started.includes('dispose'));
    await runtime.dispose();
    expect(await codeOf(runtime.orchestrator.runPipeline('hold'))).toBe('PHYS_ORCHESTRATOR_CLOSED');
  });
});

describe('executeRun', () => {
  it('never throws: a config problem is a FAILED outcome', async () => {
    const runtime = await makeRuntime();
    const outcome = await executeRun(runtime, {
      pipeline: { name: 'dag', kind: 'dag', nodes: [{ id: 'a', stage: Add({}) }] },
      runId: 'x',
      attempt: 1,
    });
    expect([outcome.status, outcome.error?.code]).toEqual(['FAILED', 'PHYS_CONFIG_INVALID']);
    expect(outcome.error?.message).toMatch(/no plugin .* provides an executor/);
  });

  it('reports a failing stage FAILED and the stages after it SKIPPED', async () => {
    const runtime = await makeRuntime();
    const outcome = await executeRun(runtime, {
      pipeline: {
        name: 'two',
        stages: [Flaky({}, { label: 'first' }), Add({}, { label: 'second' })],
      },
      runId: 'y',
      attempt: 1,
    });
    expect(outcome.status).toBe('FAILED');
    expect(outcome.nodes.first).toMatchObject({ status: 'FAILED', attempts: 1 });
    expect(outcome.nodes.first?.error?.code).toBe('PHYS_STAGE_FAILED');
    expect(outcome.nodes.second).toEqual({ status: 'SKIPPED', attempts: 0 });
  });
});

describe('toJsonSafe', () => {
  it('makes results plain JSON, artifacts as references', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(
      toJsonSafe({
        typed: new Int32Array([1, 2]),
        big: 10n,
        nan: Number.NaN,
        map: new Map([['k', new Set([1])]]),
        lazy: () => 'x',
        missing: undefined,
        when: new Date('2026-01-01T00:00:00Z'),
        plot: { path: 'out/plot.png', bytes: 10, sha256: 'ab', mediaType: 'image/png' },
        cyclic,
      }),
    ).toEqual({
      typed: [1, 2],
      big: '10',
      nan: 'NaN',
      map: { k: [1] },
      when: '2026-01-01T00:00:00.000Z',
      plot: {
        kind: 'artifact',
        path: 'out/plot.png',
        bytes: 10,
        sha256: 'ab',
        mediaType: 'image/png',
      },
      cyclic: { a: 1, self: '[cycle]' },
    });
  });
});

describe('run transitions', () => {
  it('go forward only; anything else is PHYS_RUN_TRANSITION', () => {
    expect(() => assertTransition('r', 'QUEUED', 'RUNNING')).not.toThrow();
    expect(() => assertTransition('r', 'RUNNING', 'RUNNING')).not.toThrow();
    expect(() => assertTransition('r', 'QUEUED', 'CANCELLED')).not.toThrow();
    for (const [from, to] of [
      ['RUNNING', 'QUEUED'],
      ['COMPLETED', 'RUNNING'],
      ['CANCELLED', 'COMPLETED'],
      ['FAILED', 'FAILED'],
    ] as const) {
      expect(() => assertTransition('r', from, to)).toThrow(
        expect.objectContaining({ code: 'PHYS_RUN_TRANSITION' }),
      );
    }
  });
});
