import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ExecutionStatus,
  type Orchestrator,
  PhysError,
  type RunEvent,
  type SubmissionResult,
} from '@phys/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The checks of {@link describeOrchestratorConformance}, by id (for
 * {@link OrchestratorConformanceOptions.skip}).
 * @public
 */
export type OrchestratorConformanceCheck =
  | 'submit'
  | 'complete'
  | 'dag'
  | 'transitions'
  | 'wait-timeout'
  | 'cancel-running'
  | 'cancel-finished'
  | 'idempotent'
  | 'not-found'
  | 'failure'
  | 'retry'
  | 'list'
  | 'events';

/** What the setup of {@link describeOrchestratorConformance} receives. @public */
export interface OrchestratorConformanceContext {
  /**
   * A fresh directory for the files the suite's runs use as gates and markers (removed after
   * the suite). The runs execute where this directory can be seen: this machine.
   */
  readonly workDir: string;
}

/** What the setup of {@link describeOrchestratorConformance} returns. @public */
export interface OrchestratorUnderTest {
  /**
   * The orchestrator, over a config declaring `orchestratorConformancePipelines()` (and their
   * stages) with a DAG executor, running at least 2 runs at once.
   */
  readonly orchestrator: Orchestrator;
  /** Called after the suite (close the orchestrator, stop the server). */
  readonly dispose?: () => void | Promise<void>;
}

/** Options of {@link describeOrchestratorConformance}. @public */
export interface OrchestratorConformanceOptions {
  /** Checks to skip, each with the reason (shown in the test name). */
  readonly skip?: Readonly<Partial<Record<OrchestratorConformanceCheck, string>>>;
  /** Timeout of each check in milliseconds (default 60 000). */
  readonly testTimeoutMs?: number;
}

const RANK: Readonly<Record<ExecutionStatus, number>> = {
  QUEUED: 0,
  RUNNING: 1,
  COMPLETED: 2,
  FAILED: 2,
  CANCELLED: 2,
  TIMEOUT: 2,
};

const TERMINAL = new Set<string>(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT']);

/**
 * Defines the orchestrator conformance suite as vitest blocks: a submission is QUEUED at once;
 * statuses never go back; waiting returns COMPLETED with outputs and a duration; a wait that
 * times out throws `PHYS_WAIT_TIMEOUT` and the run goes on; cancelling a running DAG whose node
 * blocks a worker thread ends CANCELLED; cancelling a finished run returns false; a run id
 * submitted twice is one run; unknown ids are `PHYS_RUN_NOT_FOUND`; a failing pipeline ends
 * FAILED with its error's code; a retry policy records attempts; lists filter and paginate;
 * events come in `seq` order. The same suite runs against every orchestrator (in process,
 * remote), so they behave alike. Call it at the top level of a test file; `setup` is called once.
 *
 * @example
 * ```ts
 * describeOrchestratorConformance('local', async () => {
 *   const runtime = await createRuntime(await loadConfig({ configFile }));
 *   const orchestrator = new LocalOrchestrator(runtime, { maxConcurrentRuns: 4 });
 *   return {
 *     orchestrator,
 *     dispose: async () => {
 *       await orchestrator.close();
 *       await runtime.dispose();
 *     },
 *   };
 * });
 * ```
 * @public
 */
export function describeOrchestratorConformance(
  name: string,
  setup: (
    context: OrchestratorConformanceContext,
  ) => OrchestratorUnderTest | Promise<OrchestratorUnderTest>,
  options: OrchestratorConformanceOptions = {},
): void {
  const testTimeout = options.testTimeoutMs ?? 60_000;
  // Run ids unique to this suite run, so a durable store shared across runs never collides.
  const prefix = `conf-${process.pid}-${Date.now().toString(36)}`;

  describe(`orchestrator conformance: ${name}`, () => {
    let target: OrchestratorUnderTest | undefined;
    let workDir = '';
    const cleanup: SubmissionResult[] = [];

    const orchestrator = (): Orchestrator => {
      if (target === undefined) {
        throw new PhysError(
          'PHYS_USAGE',
          `The setup of describeOrchestratorConformance('${name}') returned no orchestrator; see the error of beforeAll.`,
        );
      }
      return target.orchestrator;
    };
    const file = (base: string): string => join(workDir, base);

    function check(
      id: OrchestratorConformanceCheck,
      title: string,
      body: () => Promise<void>,
    ): void {
      const reason = options.skip?.[id];
      if (reason !== undefined) {
        it.skip(`${title} [${id}; skipped: ${reason}]`, () => undefined);
        return;
      }
      it(`${title} [${id}]`, { timeout: testTimeout }, body);
    }

    async function waitForFile(path: string): Promise<void> {
      while (!existsSync(path)) await new Promise((resolve) => setTimeout(resolve, 20));
    }

    async function expectCode(promise: Promise<unknown>, code: string): Promise<PhysError> {
      let thrown: unknown;
      try {
        await promise;
      } catch (error) {
        thrown = error;
      }
      expect(PhysError.is(thrown), `expected ${code}, got ${String(thrown)}`).toBe(true);
      expect((thrown as PhysError).code).toBe(code);
      return thrown as PhysError;
    }

    /** A slow run blocking a worker thread, RUNNING once its marker exists. */
    async function startSlow(tag: string): Promise<{ run: SubmissionResult; gate: string }> {
      const gate = file(`${tag}.gate`);
      const marker = file(`${tag}.marker`);
      const run = await orchestrator().runPipeline('conformance-slow', {
        runId: `${prefix}-${tag}`,
        params: { gate, marker },
      });
      cleanup.push(run);
      await waitForFile(marker);
      return { run, gate };
    }

    async function statusEvents(jobId: string): Promise<Extract<RunEvent, { type: 'status' }>[]> {
      const out: Extract<RunEvent, { type: 'status' }>[] = [];
      for await (const event of orchestrator().runEvents(jobId)) {
        if (event.type === 'status') out.push(event);
      }
      return out;
    }

    beforeAll(async () => {
      workDir = await mkdtemp(join(tmpdir(), 'phys-orchestrator-conformance-'));
      target = await setup({ workDir });
    }, testTimeout);

    afterAll(async () => {
      try {
        // Nothing of the suite may outlive it: a blocked thread keeps a worker pool busy.
        for (const run of cleanup) await run.cancel().catch(() => false);
        await target?.dispose?.();
      } finally {
        if (workDir !== '') await rm(workDir, { recursive: true, force: true });
      }
    }, testTimeout);

    check('submit', 'runPipeline returns a QUEUED submission at once', async () => {
      const run = await orchestrator().runPipeline('conformance-quick', {
        runId: `${prefix}-submit`,
      });
      expect(run.jobId).toBe(`${prefix}-submit`);
      expect(run.pipeline).toBe('conformance-quick');
      expect(run.status).toBe(ExecutionStatus.QUEUED);
      expect(run.durationSeconds).toBeUndefined();
      expect(run.outputs).toEqual({});
      expect(run.record).toMatchObject({ jobId: run.jobId, status: 'QUEUED', params: {} });
      expect(Object.values(ExecutionStatus)).toContain(
        await orchestrator().getRunStatus(run.jobId),
      );
      expect((await run.waitForCompletion({ timeout: 30 })).status).toBe('COMPLETED');
    });

    check(
      'complete',
      'waitForCompletion returns COMPLETED with outputs and a duration',
      async () => {
        const run = await orchestrator().runPipeline('conformance-quick', {
          runId: `${prefix}-complete`,
          params: { increment: 5 },
        });
        const done = await run.waitForCompletion({ timeout: 30, pollInterval: 0.05 });
        expect(done.status).toBe(ExecutionStatus.COMPLETED);
        // The params reached the stages: 1 + 5 + 5.
        expect(done.outputs).toEqual({ value: 11 });
        expect(typeof done.durationSeconds).toBe('number');
        expect(done.durationSeconds).toBeGreaterThanOrEqual(0);
        expect(done.error).toBeUndefined();
        expect(done.record.attempt).toBe(1);
        expect(await orchestrator().getRunStatus(run.jobId)).toBe(ExecutionStatus.COMPLETED);
        const again = await orchestrator().getRun(run.jobId);
        expect(again.outputs).toEqual({ value: 11 });
        expect(Object.keys(again.record.nodes ?? {}).sort()).toEqual(['one', 'two']);
      },
    );

    check('dag', 'a DAG pipeline completes with its sink outputs', async () => {
      const run = await orchestrator().runPipeline('conformance-dag', {
        runId: `${prefix}-dag`,
        params: { increment: 10 },
      });
      const done = await run.waitForCompletion({ timeout: 30, pollInterval: 0.05 });
      expect(done.status, JSON.stringify(done.error)).toBe(ExecutionStatus.COMPLETED);
      expect(JSON.stringify(done.outputs)).toContain('21');
      expect(done.record.nodes?.a?.status).toMatch(/^(COMPLETED|CACHED)$/);
      expect(done.record.nodes?.b?.status).toMatch(/^(COMPLETED|CACHED)$/);
      // Plain JSON all the way.
      expect(JSON.parse(JSON.stringify(done.record))).toEqual(done.record);
    });

    check('transitions', 'statuses move QUEUED → RUNNING → terminal and never back', async () => {
      const { run, gate } = await startSlow('transitions');
      expect(await orchestrator().getRunStatus(run.jobId)).toBe(ExecutionStatus.RUNNING);
      await writeFile(gate, '');
      const done = await run.waitForCompletion({ timeout: 30, pollInterval: 0.05 });
      expect(done.status).toBe(ExecutionStatus.COMPLETED);
      const statuses = (await statusEvents(run.jobId)).map((e) => e.status);
      expect(statuses[0]).toBe('QUEUED');
      expect(statuses).toContain('RUNNING');
      expect(statuses.at(-1)).toBe('COMPLETED');
      for (let i = 1; i < statuses.length; i++) {
        const [a, b] = [statuses[i - 1] as ExecutionStatus, statuses[i] as ExecutionStatus];
        expect(RANK[b], `${statuses.join(' → ')}`).toBeGreaterThanOrEqual(RANK[a]);
        expect(TERMINAL.has(a), `${statuses.join(' → ')}`).toBe(false);
      }
    });

    check(
      'wait-timeout',
      'a wait past its timeout throws PHYS_WAIT_TIMEOUT; the run goes on',
      async () => {
        const { run, gate } = await startSlow('wait-timeout');
        const error = await expectCode(
          run.waitForCompletion({ timeout: 0.2, pollInterval: 0.05 }),
          'PHYS_WAIT_TIMEOUT',
        );
        expect(error.name).toBe('TimeoutError');
        expect(await orchestrator().getRunStatus(run.jobId)).toBe(ExecutionStatus.RUNNING);
        await writeFile(gate, '');
        const done = await run.waitForCompletion({ timeout: 30, pollInterval: 0.05 });
        expect(done.status).toBe(ExecutionStatus.COMPLETED);
        expect(done.outputs).toEqual({ block: { released: true } });
      },
    );

    check('cancel-running', 'cancel of a DAG blocking a worker thread ends CANCELLED', async () => {
      const { run } = await startSlow('cancel-running');
      expect(await run.cancel()).toBe(true);
      expect(await orchestrator().getRunStatus(run.jobId)).toBe(ExecutionStatus.CANCELLED);
      const done = await run.waitForCompletion({ timeout: 30, pollInterval: 0.05 });
      expect(done.status).toBe(ExecutionStatus.CANCELLED);
      expect(done.error?.code).toBe('PHYS_CANCELLED');
      // Idempotent.
      expect(await run.cancel()).toBe(true);
      expect(await orchestrator().cancelRun(run.jobId)).toBe(true);
      const statuses = (await statusEvents(run.jobId)).map((e) => e.status);
      expect(statuses.at(-1)).toBe('CANCELLED');
      expect(statuses.filter((s) => TERMINAL.has(s))).toEqual(['CANCELLED']);
    });

    check(
      'cancel-finished',
      'cancel of a finished run returns false and changes nothing',
      async () => {
        const run = await orchestrator().runPipeline('conformance-quick', {
          runId: `${prefix}-cancel-finished`,
        });
        await run.waitForCompletion({ timeout: 30, pollInterval: 0.05 });
        expect(await run.cancel()).toBe(false);
        expect(await orchestrator().cancelRun(run.jobId)).toBe(false);
        expect(await orchestrator().getRunStatus(run.jobId)).toBe(ExecutionStatus.COMPLETED);
      },
    );

    check('idempotent', 'the same run id twice is one run; other params conflict', async () => {
      const runId = `${prefix}-idempotent`;
      const params = { increment: 2, nested: { list: [1, 2] } };
      const [first, second] = await Promise.all([
        orchestrator().runPipeline('conformance-quick', { runId, params }),
        orchestrator().runPipeline('conformance-quick', { runId, params }),
      ]);
      const third = await orchestrator().runPipeline('conformance-quick', { runId, params });
      expect([first?.jobId, second?.jobId, third.jobId]).toEqual([runId, runId, runId]);
      expect(third.record.submittedAt).toBe(first?.record.submittedAt);
      await expectCode(
        orchestrator().runPipeline('conformance-quick', { runId, params: { increment: 3 } }),
        'PHYS_RUN_CONFLICT',
      );
      await expectCode(
        orchestrator().runPipeline('conformance-dag', { runId, params }),
        'PHYS_RUN_CONFLICT',
      );
      const done = await third.waitForCompletion({ timeout: 30, pollInterval: 0.05 });
      expect(done.outputs).toEqual({ value: 5 });
      const page = await orchestrator().listRuns({ pipeline: 'conformance-quick', limit: 500 });
      expect(page.runs.filter((r) => r.jobId === runId)).toHaveLength(1);
      const queued = (await statusEvents(runId)).filter((e) => e.status === 'QUEUED');
      expect(queued).toHaveLength(1);
    });

    check('not-found', 'unknown job ids are PHYS_RUN_NOT_FOUND', async () => {
      const unknown = `${prefix}-never-submitted`;
      await expectCode(orchestrator().getRunStatus(unknown), 'PHYS_RUN_NOT_FOUND');
      await expectCode(orchestrator().getRun(unknown), 'PHYS_RUN_NOT_FOUND');
      await expectCode(orchestrator().cancelRun(unknown), 'PHYS_RUN_NOT_FOUND');
      const events = async () => {
        for await (const _ of orchestrator().runEvents(unknown)) {
          // never reached
        }
      };
      await expectCode(events(), 'PHYS_RUN_NOT_FOUND');
    });

    check('failure', 'a failing pipeline ends FAILED with the error and its code', async () => {
      const run = await orchestrator().runPipeline('conformance-fail', {
        runId: `${prefix}-failure`,
      });
      const done = await run.waitForCompletion({ timeout: 30, pollInterval: 0.05 });
      expect(done.status).toBe(ExecutionStatus.FAILED);
      expect(done.error).toBeDefined();
      const codes: string[] = [];
      for (let e = done.error; e !== undefined; e = e.cause) codes.push(e.code);
      expect(codes).toContain('PHYS_CONFORMANCE_FAILED');
      expect(typeof done.error?.message).toBe('string');
      expect(done.outputs).toEqual({});
      expect(done.record.nodes?.fail?.status).toBe('FAILED');
      const last = (await statusEvents(run.jobId)).at(-1);
      expect(last?.status).toBe('FAILED');
      expect(last?.error?.code).toBe(done.error?.code);
    });

    check('retry', 'a retry policy runs a failed attempt again and records attempts', async () => {
      const counter = file('retry.counter');
      const run = await orchestrator().runPipeline('conformance-flaky', {
        runId: `${prefix}-retry`,
        params: { counter },
        retryPolicy: { maxAttempts: 3, initialDelaySeconds: 0 },
      });
      expect(run.record.maxAttempts).toBe(3);
      const done = await run.waitForCompletion({ timeout: 30, pollInterval: 0.05 });
      expect(done.status, JSON.stringify(done.error)).toBe(ExecutionStatus.COMPLETED);
      expect(done.record.attempt).toBe(2);
      expect(done.outputs).toEqual({ executions: 2 });
      const running = (await statusEvents(run.jobId)).filter((e) => e.status === 'RUNNING');
      expect(running.map((e) => e.attempt)).toEqual([1, 2]);
      // Without a policy the same failure is final.
      const once = await orchestrator().runPipeline('conformance-flaky', {
        runId: `${prefix}-no-retry`,
        params: { counter: file('no-retry.counter') },
      });
      const failed = await once.waitForCompletion({ timeout: 30, pollInterval: 0.05 });
      expect([failed.status, failed.record.attempt]).toEqual(['FAILED', 1]);
    });

    check(
      'list',
      'listRuns filters by pipeline and status and paginates newest first',
      async () => {
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) {
          const run = await orchestrator().runPipeline('conformance-fail', {
            runId: `${prefix}-list-${i}`,
          });
          await run.waitForCompletion({ timeout: 30, pollInterval: 0.05 });
          ids.unshift(run.jobId);
        }
        const seen: string[] = [];
        let cursor: string | undefined;
        for (let page = 0; page < 100; page++) {
          const result = await orchestrator().listRuns({
            pipeline: 'conformance-fail',
            status: ['FAILED'],
            limit: 2,
            ...(cursor === undefined ? {} : { cursor }),
          });
          expect(result.runs.length).toBeLessThanOrEqual(2);
          for (const r of result.runs) {
            expect([r.pipeline, r.status]).toEqual(['conformance-fail', 'FAILED']);
          }
          seen.push(...result.runs.map((r) => r.jobId));
          cursor = result.nextCursor;
          if (cursor === undefined) break;
        }
        expect(cursor).toBeUndefined();
        expect(new Set(seen).size).toBe(seen.length);
        expect(seen.filter((id) => ids.includes(id))).toEqual(ids);
        const none = await orchestrator().listRuns({
          pipeline: 'conformance-fail',
          status: ['RUNNING'],
        });
        expect(none.runs.filter((r) => ids.includes(r.jobId))).toEqual([]);
      },
    );

    check('events', 'runEvents yields events in seq order and resumes after a seq', async () => {
      const run = await orchestrator().runPipeline('conformance-quick', {
        runId: `${prefix}-events`,
      });
      // Subscribed while the run may still be queued: live events follow the stored ones.
      const live: RunEvent[] = [];
      for await (const event of orchestrator().runEvents(run.jobId)) live.push(event);
      expect(live.map((e) => e.seq)).toEqual(live.map((_, i) => i + 1));
      const statuses = live.filter((e) => e.type === 'status').map((e) => e.status);
      expect(statuses).toEqual(['QUEUED', 'RUNNING', 'COMPLETED']);
      const nodes = live.filter((e) => e.type === 'node');
      expect(nodes.map((e) => `${e.node}:${e.status}`)).toEqual(
        expect.arrayContaining(['one:COMPLETED', 'two:COMPLETED']),
      );
      const resumed: RunEvent[] = [];
      for await (const event of orchestrator().runEvents(run.jobId, { after: 1 })) {
        resumed.push(event);
      }
      expect(resumed).toEqual(live.slice(1));
    });
  });
}
