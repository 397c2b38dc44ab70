// End-to-end on a real Slurm (scripts/services/slurm-up.sh): SlurmScheduler with jobs that run
// `phys exec` on task envelopes and report through squeue/scontrol. The node has as many CPUs as
// the machine (2 in CI), which bounds how many jobs run at once. DAGs run through DagExecutor on
// Slurm (executor-dag with this plugin) are tested in
// tests/integration/test/scheduler-slurm-executor-dag.integration.test.ts.
import { existsSync } from 'node:fs';
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ExecutionStatus,
  type JobHandle,
  resources,
  type SchedulerTask,
  type StageRef,
} from '@phys/core';
import { taskCommand } from '@phys/testing';
import { afterAll, describe, expect, it, type TestContext } from 'vitest';
import { SlurmScheduler, type SlurmSchedulerOptions } from '../src/index.js';
import { type Carried, Scale, Sleep } from './fixtures/stages.js';
import { describeSlurm, fixtureConfig, tempDir } from './helpers.js';

const FAST = { pollInterval: 0.3, maxPollInterval: 2, resultTimeout: 10, batchWindow: 0.05 };

// Every test runs concurrently: the time-limit test holds a CPU for over a minute, which is the
// floor of the suite's time. On a 2-CPU node the other tests' jobs queue meanwhile, hence the
// long timeouts.
describeSlurm(
  'SlurmScheduler on a real Slurm',
  () => {
    const work = tempDir('phys-slurm-it-');
    const schedulers: SlurmScheduler[] = [];
    // A scheduler per test, closed (its jobs cancelled) as soon as the test ends, so that a
    // failing test does not leave jobs that hold the node's few CPUs from the others.
    const make = (t: TestContext, options: Partial<SlurmSchedulerOptions> = {}): SlurmScheduler => {
      const s = new SlurmScheduler({
        configFile: fixtureConfig,
        // What the runtime hands the plugin; jobs run `node <task entry> <envelope>`.
        taskCommand: taskCommand(),
        workDir: join(work.path, `w${schedulers.length}`),
        ...FAST,
        ...options,
      });
      schedulers.push(s);
      t.onTestFinished(() => s.close());
      return s;
    };
    afterAll(async () => {
      await Promise.all(schedulers.map((s) => s.close()));
      work.remove();
    });

    const task = (nodeId: string, stage: StageRef, extra: Partial<SchedulerTask> = {}) =>
      ({
        runId: 'it',
        nodeId,
        stage,
        resources: resources(),
        attempt: 1,
        input: {},
        policy: {},
        ...extra,
      }) satisfies SchedulerTask;

    describe('job endings', () => {
      it('cancels a running and a pending task of one array, and a held job: all end CANCELLED', async (t) => {
        // One task of the array at a time (%1): task 0 runs, task 1 waits; one CPU is enough.
        const scheduler = make(t, { arrayParallelism: 1 });
        const held = make(t, { extraSbatchArgs: ['--begin=now+3600'] });
        const marker = join(work.path, 'cancel-0.started');
        const [first, second] = (await Promise.all([
          scheduler.submit(task('cancel-0', Sleep({ seconds: 300, marker }).ref)),
          scheduler.submit(task('cancel-1', Sleep({ seconds: 300 }).ref)),
        ])) as [JobHandle, JobHandle];
        expect([first.jobId.split('_')[1], second.jobId.split('_')[1]]).toEqual(['0', '1']);
        const pending = await held.submit(task('cancel-held', Sleep({ seconds: 1 }).ref));
        await waitFor(async () => existsSync(marker));
        await waitFor(async () => (await scheduler.poll(first)) === ExecutionStatus.RUNNING);
        await waitFor(async () => held.stats.polls > 0);
        expect(await scheduler.poll(second)).toBe(ExecutionStatus.QUEUED);
        expect(await held.poll(pending)).toBe(ExecutionStatus.QUEUED);

        // scancel <array>_1 ends that task only.
        await scheduler.cancel(second);
        const outSecond = await scheduler.wait(second);
        expect(outSecond.status).toBe(ExecutionStatus.CANCELLED);
        expect(outSecond.error?.code).toBe('PHYS_CANCELLED');
        expect(await scheduler.poll(first)).toBe(ExecutionStatus.RUNNING);

        await Promise.all([scheduler.cancel(first), held.cancel(pending)]);
        const [outFirst, outHeld] = await Promise.all([scheduler.wait(first), held.wait(pending)]);
        expect(outFirst.status).toBe(ExecutionStatus.CANCELLED);
        expect(outFirst.error?.code).toBe('PHYS_CANCELLED');
        expect(outHeld.status).toBe(ExecutionStatus.CANCELLED);
      });

      it('a job over its Slurm time limit ends TIMEOUT', async (t) => {
        const scheduler = make(t, { maxPollInterval: 5 });
        const handle = await scheduler.submit(
          task('over-time', Sleep({ seconds: 600 }).ref, {
            resources: resources({ wallTime: '1m' }),
          }),
        );
        const outcome = await scheduler.wait(handle);
        expect(outcome.status).toBe(ExecutionStatus.TIMEOUT);
        expect(outcome.error?.code).toBe('PHYS_TIMEOUT');
        expect(outcome.error?.message).toContain('hit its time limit (wall time 60 s)');
        expect(outcome.error?.details).toMatchObject({
          scheduler: 'slurm',
          nativeState: 'TIMEOUT',
          reason: 'TimeLimit',
        });
        expect(outcome.error?.retryable).toBe(true);
      });

      it('fails a task whose input cannot be encoded alone; its array siblings run', async (t) => {
        const scheduler = make(t);
        const input = (payload: number, extra: object = {}) => ({ payload, seen: [], ...extra });
        const submitted = await Promise.allSettled([
          scheduler.submit(task('ok-0', Scale({ factor: 2 }).ref, { input: input(1) })),
          scheduler.submit(
            task('bad', Scale({ factor: 2 }).ref, { input: input(2, { callback: () => 0 }) }),
          ),
          scheduler.submit(task('ok-2', Scale({ factor: 2 }).ref, { input: input(3) })),
        ]);
        expect(submitted.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
        expect((submitted[1] as PromiseRejectedResult).reason).toMatchObject({
          code: 'PHYS_STATE_UNSUPPORTED',
        });
        const handles = submitted.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
        expect(handles.map((h) => h.jobId.split('_')[1])).toEqual(['0', '1']);
        const outcomes = await Promise.all(handles.map((h) => scheduler.wait(h)));
        expect(outcomes.map((o) => (o.state as Carried).payload)).toEqual([2, 6]);
      });

      it('retries sbatch after transient controller errors', async (t) => {
        const bin = join(work.path, 'flaky-bin');
        await fakeSlurmBin(bin, 2);
        const scheduler = make(t, { slurmBin: bin, submitRetryDelay: 0.05 });
        const outcome = await scheduler.wait(
          await scheduler.submit(
            task('flaky', Scale({ factor: 3 }).ref, { input: { payload: 2, seen: [] } }),
          ),
        );
        expect(outcome.status).toBe(ExecutionStatus.COMPLETED);
        expect((outcome.state as Carried).payload).toBe(6);
        expect(scheduler.stats.sbatch).toBe(3);
      });

      it('rejects a permanent sbatch failure at once, with sbatch’s message', async (t) => {
        const scheduler = make(t, { partition: 'no-such-partition' });
        const error = await scheduler
          .submit(task('nowhere', Scale({ factor: 1 }).ref))
          .catch((e: unknown) => e);
        expect(error).toMatchObject({
          name: 'JobFailureError',
          code: 'PHYS_JOB_SUBMIT_FAILED',
          retryable: false,
          failure: { scheduler: 'slurm', nodeId: 'nowhere' },
        });
        expect(String((error as Error).message)).toContain('Invalid partition name specified');
        expect(scheduler.stats.sbatch).toBe(1);
      });

      it('fails a job that can never start instead of waiting forever', async (t) => {
        const scheduler = make(t);
        const outcome = await scheduler.wait(
          await scheduler.submit(
            task('huge', Scale({ factor: 1 }).ref, { resources: resources({ cpu: 512 }) }),
          ),
        );
        expect(outcome.status).toBe(ExecutionStatus.FAILED);
        expect(outcome.error?.code).toBe('PHYS_JOB_UNSATISFIABLE');
        expect(outcome.error?.details).toMatchObject({
          scheduler: 'slurm',
          nativeState: 'PENDING',
        });
        expect(outcome.error?.message).toContain('it asked for cpu 512');
      });
    });
  },
  { concurrent: true, timeout: 240_000 },
);

/** Polls `check` every 100 ms for up to 200 s (jobs may queue behind others on a small node). */
async function waitFor(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('condition not met within 200 s');
}

/**
 * A Slurm bin directory whose sbatch fails `failures` times the way a busy controller makes it
 * fail, then runs the real sbatch; the other commands are the real ones.
 */
async function fakeSlurmBin(dir: string, failures: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  const which = (name: string) =>
    (process.env.PATH ?? '')
      .split(':')
      .map((p) => join(p, name))
      .find((p) => existsSync(p)) as string;
  for (const name of ['squeue', 'scontrol', 'scancel', 'sacct']) {
    await symlink(which(name), join(dir, name));
  }
  const count = join(dir, 'sbatch.count');
  await writeFile(
    join(dir, 'sbatch'),
    `#!/bin/bash
n=$(cat '${count}' 2>/dev/null || echo 0); echo $((n + 1)) > '${count}'
if [ "$n" -lt ${failures} ]; then
  echo 'sbatch: error: Batch job submission failed: Socket timed out on send/recv operation' >&2
  exit 1
fi
exec '${which('sbatch')}' "$@"
`,
  );
  await chmod(join(dir, 'sbatch'), 0o755);
}
