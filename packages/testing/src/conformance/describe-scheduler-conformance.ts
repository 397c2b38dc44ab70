import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JobHandle, PipelineStage, Scheduler, SchedulerTask, TaskOutcome } from '@phys/core';
import {
  ExecutionStatus,
  isTerminal,
  PhysError,
  PolicyBag,
  parseMemory,
  type ResourceRequirements,
  resources,
  type SerializedPhysError,
} from '@phys/core';
import { executeTask, loadConfig } from '@phys/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conformanceConfigFile } from './config-file.js';
import {
  ConformanceEcho,
  ConformanceFail,
  ConformanceResources,
  ConformanceSleep,
  conformanceStages,
} from './stages.js';

/**
 * The checks of {@link describeSchedulerConformance}, by id (for
 * {@link SchedulerConformanceOptions.skip}).
 * @public
 */
export type SchedulerConformanceCheck =
  | 'submit'
  | 'transitions'
  | 'round-trip'
  | 'failure'
  | 'timeout'
  | 'cancel'
  | 'resources'
  | 'max-resources'
  | 'many-tasks';

/** What the factory of {@link describeSchedulerConformance} receives. @public */
export interface SchedulerConformanceContext {
  /** A config declaring the conformance stages (`conformanceConfigFile()`): give it to the scheduler. */
  readonly configFile: string;
  /** A fresh, empty directory for work directories and logs (removed after the suite). */
  readonly workDir: string;
}

/** What the factory of {@link describeSchedulerConformance} returns. @public */
export interface SchedulerUnderTest {
  /** The scheduler under test; the suite closes it afterwards. */
  readonly scheduler: Scheduler;
  /**
   * The config the scheduler rebuilds stages from, when it is not `context.configFile`. It must
   * declare `conformanceStages`; the suite checks that before it submits anything.
   */
  readonly configFile?: string;
  /** Called after the suite, after `scheduler.close()`. */
  readonly cleanup?: () => void | Promise<void>;
}

/** Options of {@link describeSchedulerConformance}. @public */
export interface SchedulerConformanceOptions {
  /**
   * Checks to skip, each with the reason (shown in the test name). Skip only what the
   * scheduler cannot do by design, and say so in its README.
   */
  readonly skip?: Readonly<Partial<Record<SchedulerConformanceCheck, string>>>;
  /** Timeout of each check in milliseconds (default 60 000). */
  readonly testTimeoutMs?: number;
  /**
   * `timeoutSeconds` of the task the timeout check submits (default 1). Raise it for
   * schedulers whose limits are coarse (Slurm's `--time` counts minutes).
   */
  readonly timeoutSeconds?: number;
  /** How many tasks the many-tasks check submits at once (default 8). */
  readonly manyTasks?: number;
  /** Pause between two `poll` calls while the suite waits for a status (default 25 ms). */
  readonly pollIntervalMs?: number;
  /**
   * Where the suite makes its directory for gate and marker files, which both this process and
   * the jobs must see (default: the OS temp directory). On a real cluster, a shared filesystem.
   */
  readonly sharedDir?: string;
  /** What the resources check requests (default: cpu 2 and gpu 1, capped by `maxResources`; memory 64Mi). */
  readonly resources?: {
    readonly cpu?: number;
    readonly gpu?: number;
    readonly memory?: number | string;
  };
}

const RANK: Readonly<Record<ExecutionStatus, number>> = {
  QUEUED: 0,
  RUNNING: 1,
  COMPLETED: 2,
  FAILED: 2,
  CANCELLED: 2,
  TIMEOUT: 2,
};

/**
 * Defines the scheduler conformance suite as vitest `describe`/`it` blocks: submit, monotonic
 * status transitions, result round trip (typed arrays, nested objects, metrics, provenance),
 * failure, timeout and cancel mapping, resources honoured, impossible requests rejected at
 * submit, and many tasks at once. Call it at the top level of a test file. The factory is
 * called once; every check submits to the same scheduler.
 *
 * @example
 * ```ts
 * describeSchedulerConformance('my-scheduler', async ({ configFile, workDir }) => ({
 *   scheduler: new MyScheduler({ configFile, workDir }),
 * }));
 * ```
 * @public
 */
export function describeSchedulerConformance(
  name: string,
  factory: (
    context: SchedulerConformanceContext,
  ) => SchedulerUnderTest | Promise<SchedulerUnderTest>,
  options: SchedulerConformanceOptions = {},
): void {
  const testTimeout = options.testTimeoutMs ?? 60_000;
  const timeoutSeconds = options.timeoutSeconds ?? 1;
  // Long enough that a scheduler enforcing the limit late still kills the task first; short
  // enough that one ignoring it fails with "COMPLETED, expected TIMEOUT" instead of hanging.
  const sleepPastTimeout = timeoutSeconds * 2 + 60;
  const manyTasks = options.manyTasks ?? 8;
  const pollInterval = options.pollIntervalMs ?? 25;
  const runId = `conformance-${process.pid}-${Date.now().toString(36)}`;

  describe(`scheduler conformance: ${name}`, () => {
    let target: SchedulerUnderTest | undefined;
    let root = '';

    const scheduler = (): Scheduler => {
      if (target === undefined) {
        throw new PhysError(
          'PHYS_USAGE',
          `The factory of describeSchedulerConformance('${name}') did not return a scheduler; see the error of beforeAll.`,
        );
      }
      return target.scheduler;
    };
    const file = (base: string): string => join(root, 'files', base);

    function task(
      nodeId: string,
      stage: PipelineStage,
      input: unknown,
      extra: { resources?: ResourceRequirements; timeoutSeconds?: number } = {},
    ): SchedulerTask {
      return {
        runId,
        nodeId,
        stage: stage.ref,
        resources: extra.resources ?? resources(),
        attempt: 1,
        input,
        policy: { conformance: true, seed: 7 },
        ...(extra.timeoutSeconds === undefined ? {} : { timeoutSeconds: extra.timeoutSeconds }),
      };
    }

    /** Polls until `done(status)`, recording every status change in `seen`. */
    async function pollUntil(
      handle: JobHandle,
      done: (status: ExecutionStatus) => boolean,
      seen: ExecutionStatus[] = [],
    ): Promise<ExecutionStatus[]> {
      while (true) {
        const status = await scheduler().poll(handle);
        if (seen.at(-1) !== status) seen.push(status);
        if (done(status)) return seen;
        await delay(pollInterval);
      }
    }

    async function waitForFile(path: string): Promise<void> {
      while (!existsSync(path)) await delay(pollInterval);
    }

    function check(
      id: SchedulerConformanceCheck,
      title: string,
      body: (skip: (note: string) => never) => Promise<void>,
      timeout = testTimeout,
    ): void {
      const reason = options.skip?.[id];
      if (reason !== undefined) {
        it.skip(`${title} [${id}; skipped: ${reason}]`, () => undefined);
        return;
      }
      it(`${title} [${id}]`, { timeout }, (ctx) => body((note) => ctx.skip(note)));
    }

    beforeAll(async () => {
      root = await mkdtemp(join(options.sharedDir ?? tmpdir(), 'phys-conformance-'));
      await mkdir(join(root, 'files'), { recursive: true });
      const context: SchedulerConformanceContext = {
        configFile: conformanceConfigFile(),
        workDir: join(root, 'work'),
      };
      await mkdir(context.workDir, { recursive: true });
      target = await factory(context);
      if (target.configFile !== undefined && target.configFile !== context.configFile) {
        await assertDeclaresConformanceStages(target.configFile);
      }
    }, testTimeout);

    afterAll(async () => {
      try {
        await target?.scheduler.close?.();
      } finally {
        try {
          await target?.cleanup?.();
        } finally {
          if (root !== '') await rm(root, { recursive: true, force: true });
        }
      }
    }, testTimeout);

    check('submit', 'submit returns a handle and the task reaches a terminal status', async () => {
      const s = scheduler();
      const handle = await s.submit(
        task('submit', ConformanceEcho({ tag: 'submit' }), { values: new Float64Array([1]) }),
      );
      expect(typeof handle.jobId).toBe('string');
      expect(handle.jobId).not.toBe('');
      expect(handle).toMatchObject({ nodeId: 'submit', attempt: 1 });
      expect(Object.values(ExecutionStatus)).toContain(await s.poll(handle));
      const outcome = await s.wait(handle);
      expectStatus(outcome, ExecutionStatus.COMPLETED);
      expect(await s.poll(handle)).toBe(ExecutionStatus.COMPLETED);
      // Cancelling a finished task changes nothing.
      await s.cancel(handle);
      expect(await s.poll(handle)).toBe(ExecutionStatus.COMPLETED);
      expect((await s.wait(handle)).status).toBe(ExecutionStatus.COMPLETED);
    });

    check(
      'transitions',
      'poll observes QUEUED → RUNNING → COMPLETED, never going back',
      async () => {
        const s = scheduler();
        const gate = file('transitions.gate');
        const handle = await s.submit(
          task('transitions', ConformanceSleep({ seconds: sleepPastTimeout * 2, gate }), {}),
        );
        // The stage cannot finish before the gate opens, so RUNNING must show up.
        const seen = await pollUntil(handle, (st) => st !== ExecutionStatus.QUEUED);
        expect(seen.at(-1), `statuses seen: ${seen.join(' → ')}`).toBe(ExecutionStatus.RUNNING);
        await writeFile(gate, '');
        await pollUntil(handle, isTerminal, seen);
        const path = seen.join(' → ');
        expect(seen.at(-1), `statuses seen: ${path}`).toBe(ExecutionStatus.COMPLETED);
        expect(
          seen.every((st, i) => i === 0 || RANK[st] > RANK[seen[i - 1] as ExecutionStatus]),
          `statuses must only move forward, saw: ${path}`,
        ).toBe(true);
        const outcome = await s.wait(handle);
        expectStatus(outcome, ExecutionStatus.COMPLETED);
        expect(outcome.state).toEqual({ released: true });
      },
    );

    check(
      'round-trip',
      'the result (typed arrays, nested objects, metrics, provenance) equals what the stage computed',
      async () => {
        const stage = ConformanceEcho({ scale: 3, tag: 'round-trip' });
        const input = {
          values: new Float64Array([0.1, -0, Number.NaN, 1e308, 5e-324, -2.5]),
          counts: new Int32Array([1, -2, 3]),
          meta: { name: 'beam', when: new Date(0), big: 2n ** 70n, nested: { a: [1, { b: 'c' }] } },
          table: new Map<string, unknown>([['k', new Set([1, 2])]]),
        };
        const t = task('round-trip', stage, input);
        const expected = await executeTask({
          stage,
          input,
          policy: new PolicyBag(t.policy),
          runId,
          nodeId: t.nodeId,
          attempt: 1,
          resources: { cpu: 1, gpuIds: [], mpiRanks: 1, memoryBytes: undefined },
          signal: new AbortController().signal,
        });
        const outcome = await scheduler().wait(await scheduler().submit(t));
        expectStatus(outcome, ExecutionStatus.COMPLETED);
        const state = outcome.state as { values: unknown; input: { values: unknown } };
        expect(state.values).toBeInstanceOf(Float64Array);
        expect(state.input.values).toBeInstanceOf(Float64Array);
        expect(outcome.state).toEqual(expected.state);
        expect(outcome.metrics).toEqual(expected.metrics);
        expect(outcome.provenance).toEqual(expected.provenance);
      },
    );

    check(
      'failure',
      'a stage that throws ends FAILED with its error message and code',
      async () => {
        const s = scheduler();
        const plain = await s.submit(
          task('failure-plain', ConformanceFail({ message: 'conformance: plain failure' }), {}),
        );
        const coded = await s.submit(
          task(
            'failure-coded',
            ConformanceFail({
              message: 'conformance: coded failure',
              code: 'PHYS_CONFORMANCE_EXPECTED',
              retryable: true,
            }),
            {},
          ),
        );
        const [a, b] = await Promise.all([s.wait(plain), s.wait(coded)]);
        expectStatus(a, ExecutionStatus.FAILED);
        expect(a.error?.code).toBe('PHYS_STAGE_FAILED');
        expect(a.error?.message).toContain('conformance: plain failure');
        expectStatus(b, ExecutionStatus.FAILED);
        expect(b.error).toMatchObject({ code: 'PHYS_CONFORMANCE_EXPECTED', retryable: true });
        expect(b.error?.message).toContain('conformance: coded failure');
        expect(await s.poll(plain)).toBe(ExecutionStatus.FAILED);
      },
    );

    check(
      'timeout',
      'a task running past timeoutSeconds ends TIMEOUT',
      async () => {
        const s = scheduler();
        const handle = await s.submit(
          task('timeout', ConformanceSleep({ seconds: sleepPastTimeout }), {}, { timeoutSeconds }),
        );
        const outcome = await s.wait(handle);
        expectStatus(outcome, ExecutionStatus.TIMEOUT);
        if (outcome.error !== undefined) expect(outcome.error.code).toBe('PHYS_TIMEOUT');
        expect(await s.poll(handle)).toBe(ExecutionStatus.TIMEOUT);
      },
      Math.max(testTimeout, (sleepPastTimeout + 60) * 1000),
    );

    check('cancel', 'cancelling a running task ends it CANCELLED', async () => {
      const s = scheduler();
      const marker = file('cancel.started');
      const handle = await s.submit(
        task('cancel', ConformanceSleep({ seconds: sleepPastTimeout * 2, marker }), {}),
      );
      const seen = await pollUntil(handle, (st) => st !== ExecutionStatus.QUEUED);
      expect(seen.at(-1), `statuses seen: ${seen.join(' → ')}`).toBe(ExecutionStatus.RUNNING);
      // The stage itself is executing, not just its job starting up.
      await waitForFile(marker);
      await s.cancel(handle);
      const outcome = await s.wait(handle);
      expectStatus(outcome, ExecutionStatus.CANCELLED);
      if (outcome.error !== undefined) expect(outcome.error.code).toBe('PHYS_CANCELLED');
      expect(await s.poll(handle)).toBe(ExecutionStatus.CANCELLED);
    });

    check('resources', 'the stage sees the cpu, gpus and memory it requested', async () => {
      const s = scheduler();
      const max = s.capabilities.maxResources;
      const cpu = options.resources?.cpu ?? Math.max(1, Math.min(2, Math.floor(max?.cpu ?? 2)));
      const gpu = options.resources?.gpu ?? (s.capabilities.gpus ? Math.min(1, max?.gpu ?? 1) : 0);
      const memory = options.resources?.memory ?? '64Mi';
      const outcome = await s.wait(
        await s.submit(
          task(
            'resources',
            ConformanceResources({}),
            {},
            { resources: resources({ cpu, gpu, memory }) },
          ),
        ),
      );
      expectStatus(outcome, ExecutionStatus.COMPLETED);
      const seen = outcome.state as {
        cpu: number;
        gpuIds: number[];
        mpiRanks: number;
        memoryBytes: number | null;
      };
      expect(seen.cpu).toBe(cpu);
      expect(seen.mpiRanks).toBe(1);
      expect(seen.memoryBytes).toBe(parseMemory(memory));
      expect(seen.gpuIds).toHaveLength(gpu);
      expect(new Set(seen.gpuIds).size).toBe(gpu);
      for (const id of seen.gpuIds) expect(Number.isInteger(id) && id >= 0).toBe(true);
      if (outcome.granted !== undefined) {
        expect(outcome.granted.cpu).toBe(seen.cpu);
        expect([...outcome.granted.gpuIds]).toEqual(seen.gpuIds);
      }
    });

    check(
      'max-resources',
      'a request beyond capabilities.maxResources is rejected at submit with a SchedulerError',
      async (skip) => {
        const s = scheduler();
        const max = s.capabilities.maxResources;
        if (max === undefined) return skip('the scheduler declares no capabilities.maxResources');
        const echo = ConformanceEcho({ tag: 'too-big' });
        const tooBig: ResourceRequirements[] = [resources({ cpu: Math.floor(max.cpu) + 1 })];
        tooBig.push(resources({ gpu: max.gpu + 1 }));
        if (max.memoryBytes !== undefined) {
          tooBig.push(resources({ memory: max.memoryBytes + 2 ** 30 }));
        }
        for (const [i, req] of tooBig.entries()) {
          let error: unknown;
          try {
            await s.submit(task(`too-big-${i}`, echo, {}, { resources: req }));
          } catch (e) {
            error = e;
          }
          expect(
            isSchedulerError(error),
            `submit of ${JSON.stringify(req)} must reject with a SchedulerError (code PHYS_SCHEDULER…), got ${describeValue(error)}`,
          ).toBe(true);
        }
      },
    );

    check(
      'many-tasks',
      'many tasks submitted at once all complete with their own results',
      async () => {
        const s = scheduler();
        const handles = await Promise.all(
          Array.from({ length: manyTasks }, (_, i) =>
            s.submit(
              task(`many-${i}`, ConformanceEcho({ scale: i + 1, tag: `many-${i}` }), {
                values: new Float64Array([i, i + 0.5]),
              }),
            ),
          ),
        );
        expect(new Set(handles.map((h) => h.jobId)).size).toBe(manyTasks);
        const outcomes = await Promise.all(handles.map((h) => s.wait(h)));
        for (const [i, outcome] of outcomes.entries()) {
          expectStatus(outcome, ExecutionStatus.COMPLETED);
          expect(outcome.state).toMatchObject({
            tag: `many-${i}`,
            values: new Float64Array([i * (i + 1), (i + 0.5) * (i + 1)]),
          });
        }
      },
    );
  });
}

function expectStatus(outcome: TaskOutcome, status: ExecutionStatus): void {
  expect(outcome.status, `outcome: ${describeError(outcome.error)}`).toBe(status);
}

function describeError(error: SerializedPhysError | undefined): string {
  return error === undefined ? 'no error' : `${error.code}: ${error.message}`;
}

function isSchedulerError(error: unknown): boolean {
  return (
    PhysError.is(error) &&
    (error.name === 'SchedulerError' || error.code.startsWith('PHYS_SCHEDULER'))
  );
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'no error (the submit succeeded)';
  if (PhysError.is(value)) return `${value.name} ${value.code}: ${value.message}`;
  return value instanceof Error ? `${value.name}: ${value.message}` : String(value);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function assertDeclaresConformanceStages(configFile: string): Promise<void> {
  const loaded = await loadConfig({ configFile, command: 'test', mode: 'test' });
  const declared = new Set((loaded.config.stages ?? []).map((d) => `${d.stageName}@${d.version}`));
  const missing = conformanceStages
    .map((d) => `${d.stageName}@${d.version}`)
    .filter((id) => !declared.has(id));
  if (missing.length > 0) {
    throw new PhysError(
      'PHYS_USAGE',
      `${configFile} does not declare the conformance stages ${missing.join(', ')}. Add them to its stages: \`stages: [...conformanceStages, ...]\` (conformanceStages from '@phys/testing'), or hand the scheduler context.configFile instead.`,
    );
  }
}
