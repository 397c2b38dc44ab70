import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ExecutionStatus,
  type JobHandle,
  type Logger,
  resources,
  type SchedulerTask,
  type StageRef,
} from '@phys/core';
import {
  ConformanceEcho,
  ConformanceFail,
  ConformanceSleep,
  conformanceConfigFile,
  recordingLogger,
  taskCommand,
} from '@phys/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PbsScheduler, type PbsSchedulerInit } from '../src/index.js';
import { type FakePbs, installFakePbs } from './fake-pbs.js';

let fake: FakePbs;
let dir: string;
const open: PbsScheduler[] = [];
let runSeq = 0;

beforeAll(async () => {
  fake = await installFakePbs({ killDelayMs: 500 });
  dir = await mkdtemp(join(tmpdir(), 'phys-pbs-it-'));
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  await fake.configure({ qsubFailures: 0, faults: [], nodes: { cn01: { state: 'free' } } });
});
afterAll(async () => {
  await fake.shutdown();
  await rm(dir, { recursive: true, force: true });
});

function pbs(options: Partial<PbsSchedulerInit> = {}, logger?: Logger): PbsScheduler {
  const scheduler = new PbsScheduler(
    {
      configFile: conformanceConfigFile(),
      taskCommand: taskCommand(),
      workDir: join(dir, 'work'),
      pollInterval: { initialSeconds: 0.05, maxSeconds: 0.2 },
      lostJobGraceSeconds: 0.5,
      submitRetryDelaySeconds: 0.01,
      ...options,
    },
    logger,
  );
  open.push(scheduler);
  return scheduler;
}

function task(nodeId: string, stage: StageRef, extra: Partial<SchedulerTask> = {}): SchedulerTask {
  return {
    runId: `run-${++runSeq}`,
    nodeId,
    attempt: 1,
    stage,
    resources: resources(),
    input: { values: new Float64Array([1, 2, 3]) },
    policy: {},
    ...extra,
  };
}

async function vitestUntil(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 20));
}

async function until(s: PbsScheduler, handle: JobHandle, status: ExecutionStatus): Promise<void> {
  while ((await s.poll(handle)) !== status) await new Promise((r) => setTimeout(r, 20));
}

describe('PbsScheduler against the fake PBS Pro commands', () => {
  it('submits tasks with equal resources as one job array and polls them with one qstat per interval', async () => {
    // keepWorkDirs: the job scripts stay for the checks below.
    const s = pbs({
      queue: 'gpu',
      account: 'proj1',
      setup: ['export PHYS_SETUP_RAN=yes'],
      keepWorkDirs: true,
    });
    const before = (await fake.calls()).length;
    const req = resources({ cpu: 2, memory: '512Mi', gpu: 1, wallTime: 600 });
    // Ready tasks of one run and stage with equal resources, as a sweep hands them over.
    const runId = `run-${++runSeq}`;
    const handles = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        s.submit(
          task(`sweep-${i}`, ConformanceEcho({ scale: i + 1 }).ref, { resources: req, runId }),
        ),
      ),
    );
    const single = await s.submit(task('lonely', ConformanceEcho({ scale: 10 }).ref));
    const array = /^(\d+)\[0\]\.pbs01$/.exec(handles[0]?.jobId ?? '')?.[1];
    expect(array).toBeDefined();
    expect(handles.map((h) => h.jobId)).toEqual(
      Array.from({ length: 5 }, (_, i) => `${array}[${i}].pbs01`),
    );
    expect(single.jobId).toMatch(/^\d+\.pbs01$/);
    const outcomes = await Promise.all(handles.map((h) => s.wait(h)));
    for (const [i, outcome] of outcomes.entries()) {
      expect(outcome.status).toBe('COMPLETED');
      expect((outcome.state as { values: Float64Array }).values).toEqual(
        new Float64Array([1, 2, 3].map((v) => v * (i + 1))),
      );
    }
    expect((await s.wait(single)).status).toBe('COMPLETED');

    const calls = (await fake.calls()).slice(before);
    const qsubs = calls.filter((c) => c.cmd === 'qsub');
    expect(qsubs).toHaveLength(2);
    const script = await readFile(qsubs[0]?.args[0] as string, 'utf8');
    expect(script).toContain('#PBS -l select=1:ncpus=2:mem=512mb:ngpus=1\n');
    expect(script).toContain('#PBS -l walltime=00:10:00\n');
    expect(script).toContain('#PBS -q gpu\n#PBS -A proj1\n#PBS -J 0-4\n');
    expect(script).toContain('export PHYS_SETUP_RAN=yes\n');
    expect(script).toContain('PBS_ARRAY_INDEX');
    const qstats = calls.filter((c) => c.cmd === 'qstat');
    expect(qstats.length).toBeGreaterThan(0);
    for (const call of qstats) expect(call.args.slice(0, 4)).toEqual(['-f', '-F', 'json', '-x']);
    // One call covers the array and the single job together, never one call per job.
    const both = qstats.filter(
      (c) => c.args.includes(`${array}[].pbs01`) && c.args.includes(single.jobId),
    );
    expect(both.length).toBeGreaterThan(0);
    expect(qstats.every((c) => !c.args.some((a) => /\[\d+\]/.test(a)))).toBe(true);
    expect(s.commandCounts).toEqual({
      qsub: 2,
      qstat: qstats.length,
      qdel: 0,
      // The state of the jobs' nodes, once per poll while jobs are in flight.
      pbsnodes: calls.filter((c) => c.cmd === 'pbsnodes').length,
    });
  });

  it('surfaces a non-zero exit of the job with its code and stderr tail', async () => {
    const s = pbs({ command: ['/bin/sh', '-c', 'echo "module: not found" >&2; exit 7', 'sh'] });
    const outcome = await s.wait(await s.submit(task('broken', ConformanceEcho({}).ref)));
    expect(outcome.status).toBe('FAILED');
    expect(outcome.error).toMatchObject({
      name: 'JobFailureError',
      code: 'PHYS_JOB_FAILED',
      retryable: false,
      details: { reason: 'EXIT', scheduler: 'pbs', nativeState: 'Exit_status=7', exitCode: 7 },
    });
    expect(outcome.error?.message).toContain('module: not found');
  });

  it('maps a signal kill (Exit_status 256 + 9) and PBS-internal negative codes', async () => {
    const s = pbs({ command: ['/bin/sh', '-c', 'kill -KILL $$', 'sh'] });
    const killed = await s.wait(await s.submit(task('killed', ConformanceEcho({}).ref)));
    expect(killed).toMatchObject({
      status: 'FAILED',
      error: {
        code: 'PHYS_JOB_FAILED',
        details: { scheduler: 'pbs', nativeState: 'Exit_status=265' },
      },
    });
    expect(killed.error?.message).toContain('killed by signal SIGKILL');
    await fake.configure({ faults: [{ name: '^phys-unlucky', exitStatus: -1 }] });
    const t = pbs();
    const failed = await t.wait(await t.submit(task('unlucky', ConformanceEcho({}).ref)));
    expect(failed).toMatchObject({
      status: 'FAILED',
      error: {
        code: 'PHYS_JOB_NODE_FAIL',
        retryable: true,
        details: { reason: 'NODE_FAIL', scheduler: 'pbs', nativeState: 'Exit_status=-1' },
      },
    });
    expect(failed.error?.message).toContain('JOB_EXEC_FAIL1');
  });

  it('retries qsub after transient failures and gives up at once on permanent ones', async () => {
    await fake.configure({ qsubFailures: 2 });
    const s = pbs({ submitAttempts: 3 });
    const handle = await s.submit(task('flaky', ConformanceEcho({}).ref));
    expect((await s.wait(handle)).status).toBe('COMPLETED');
    expect(s.commandCounts.qsub).toBe(3);

    const t = pbs({ queue: 'nowhere' });
    await expect(t.submit(task('misrouted', ConformanceEcho({}).ref))).rejects.toMatchObject({
      code: 'PHYS_JOB_SUBMIT_FAILED',
      retryable: false,
      failure: { scheduler: 'pbs', nodeId: 'misrouted' },
      message: expect.stringContaining('Unknown queue'),
    });
    expect(t.commandCounts.qsub).toBe(1);
  });

  it('declares a job that vanished from qstat lost (retryable) after the grace period', async () => {
    const s = pbs();
    const handle = await s.submit(task('ghost', ConformanceSleep({ seconds: 60 }).ref));
    await until(s, handle, ExecutionStatus.RUNNING);
    await fake.forget(handle.jobId);
    const outcome = await s.wait(handle);
    expect(outcome).toMatchObject({
      status: 'FAILED',
      error: {
        code: 'PHYS_JOB_LOST',
        retryable: true,
        details: { scheduler: 'pbs', nodeId: 'ghost' },
      },
    });
  });

  it('runs after dependencies with -W depend=afterok, and cancels a job whose dependency failed', async () => {
    const s = pbs({ keepWorkDirs: true });
    const gate = join(dir, 'dep.gate');
    const first = await s.submit(task('first', ConformanceSleep({ seconds: 60, gate }).ref));
    const second = await s.submit(task('second', ConformanceEcho({}).ref), { afterOk: [first] });
    await until(s, first, ExecutionStatus.RUNNING);
    expect(await s.poll(second)).toBe('QUEUED');
    await writeFile(gate, '');
    expect((await s.wait(first)).status).toBe('COMPLETED');
    expect((await s.wait(second)).status).toBe('COMPLETED');
    const qsubs = (await fake.calls()).filter((c) => c.cmd === 'qsub');
    const script = await readFile(qsubs.at(-1)?.args[0] as string, 'utf8');
    expect(script).toContain(`#PBS -W depend=afterok:${first.jobId}\n`);

    const bad = await s.submit(task('bad', ConformanceFail({ message: 'upstream broke' }).ref));
    const after = await s.submit(task('after-bad', ConformanceEcho({}).ref), { afterOk: [bad] });
    expect((await s.wait(bad)).status).toBe('FAILED');
    const dropped = await s.wait(after);
    expect(dropped).toMatchObject({
      status: 'CANCELLED',
      error: { code: 'PHYS_CANCELLED', details: { scheduler: 'pbs', nativeState: 'F' } },
    });
    expect(dropped.error?.message).toContain('as result of dependency on job');
  });

  it('cancels one subjob of an array with qdel; the others complete', async () => {
    const s = pbs();
    const gate = join(dir, 'array.gate');
    const runId = `run-${++runSeq}`;
    const handles = await Promise.all(
      [0, 1, 2].map((i) =>
        s.submit(task(`part-${i}`, ConformanceSleep({ seconds: 60, gate }).ref, { runId })),
      ),
    );
    await Promise.all(handles.map((h) => until(s, h, ExecutionStatus.RUNNING)));
    await s.cancel(handles[1] as JobHandle);
    expect((await s.wait(handles[1] as JobHandle)).status).toBe('CANCELLED');
    await writeFile(gate, '');
    expect((await s.wait(handles[0] as JobHandle)).status).toBe('COMPLETED');
    expect((await s.wait(handles[2] as JobHandle)).status).toBe('COMPLETED');
    const qdels = (await fake.calls()).filter((c) => c.cmd === 'qdel');
    expect(qdels.at(-1)?.args).toEqual([handles[1]?.jobId]);
  });

  it('reports a node that goes down, fails its running and queued jobs PHYS_JOB_NODE_FAIL, and a cancel there ends at once', async () => {
    const logger = recordingLogger();
    const s = pbs({ stuckAfterSeconds: 0.5 }, logger);
    // Waits out the stall, so that the cancel below is what ends its job.
    const patient = pbs({ stuckAfterSeconds: 3600 });
    const running = await s.submit(task('on-failed-node', ConformanceSleep({ seconds: 60 }).ref));
    const other = await patient.submit(
      task('cancelled-there', ConformanceSleep({ seconds: 60 }).ref),
    );
    await until(s, running, ExecutionStatus.RUNNING);
    await until(patient, other, ExecutionStatus.RUNNING);
    await fake.configure({
      nodes: { cn01: { state: 'state-unknown,down', comment: 'node down: communication closed' } },
    });
    await vitestUntil(() => logger.lines.some((l) => l.includes('is down')));
    expect(logger.lines.find((l) => l.includes('is down'))).toBe(
      `warn pbs: compute node cn01 (state-unknown,down, node down: communication closed) is down; a job waits on it: 'on-failed-node' (job ${running.jobId}). Unless that changes within 0.5 s (stuckAfterSeconds), it fails with PHYS_JOB_NODE_FAIL, which the retry policy may retry.`,
    );
    // Submitted now, a job stays queued: no node can start it.
    const queued = await s.submit(task('queued-behind', ConformanceEcho({}).ref));
    const [outRunning, outQueued] = await Promise.all([s.wait(running), s.wait(queued)]);
    expect(outRunning).toMatchObject({
      status: 'FAILED',
      error: {
        code: 'PHYS_JOB_NODE_FAIL',
        retryable: true,
        details: { scheduler: 'pbs', nativeState: 'R', nodeId: 'on-failed-node' },
      },
    });
    expect(outRunning.error?.message).toContain('is down (for ');
    expect(outQueued).toMatchObject({
      status: 'FAILED',
      error: { code: 'PHYS_JOB_NODE_FAIL', details: { nativeState: 'Q' } },
    });
    expect(outQueued.error?.message).toContain('no compute node can start jobs: cn01');
    // qdel of a job whose mom is silent changes nothing PBS shows; the cancel does not wait.
    await patient.cancel(other);
    expect((await patient.wait(other)).status).toBe('CANCELLED');
    const still = await fake.calls();
    expect(still.filter((c) => c.cmd === 'qdel').at(-1)?.args).toEqual([other.jobId]);
  });

  it('rejects requests beyond maxResources before qsub, and deletes running jobs on close', async () => {
    const s = pbs({ maxResources: { cpu: 4, gpu: 0 } });
    await expect(
      s.submit(task('huge', ConformanceEcho({}).ref, { resources: resources({ cpu: 8 }) })),
    ).rejects.toMatchObject({ code: 'PHYS_SCHEDULER_PBS_RESOURCES' });
    expect(s.commandCounts.qsub).toBe(0);
    const running = await s.submit(task('long', ConformanceSleep({ seconds: 60 }).ref));
    await until(s, running, ExecutionStatus.RUNNING);
    await s.close();
    expect((await s.wait(running)).status).toBe('CANCELLED');
    expect(s.commandCounts.qdel).toBe(1);
    await expect(s.submit(task('late', ConformanceEcho({}).ref))).rejects.toMatchObject({
      code: 'PHYS_SCHEDULER_PBS_CLOSED',
    });
  });
});
