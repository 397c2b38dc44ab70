import type { JobHandle, TaskOutcome } from '@phys/core';
import { ExecutionStatus, type PhysError, SchedulerError } from '@phys/core';
import { describe, expect, it } from 'vitest';
import { deferred, JobTable, type TrackedJob } from './job-table.js';

interface Job extends TrackedJob {
  readonly host: string;
}

const handle = (jobId: string, nodeId = 'fit'): JobHandle =>
  Object.freeze({ jobId, nodeId, attempt: 2 });

function newJob(host = 'cn01'): Job {
  const { promise, resolve } = deferred<TaskOutcome>();
  return { host, status: ExecutionStatus.QUEUED, outcome: promise, resolve };
}

describe('deferred', () => {
  it('settles its promise from outside the executor', async () => {
    const ok = deferred<number>();
    ok.resolve(42);
    await expect(ok.promise).resolves.toBe(42);
    const failed = deferred<number>();
    failed.reject(new Error('boom'));
    await expect(failed.promise).rejects.toThrow('boom');
  });
});

describe('JobTable', () => {
  it('finds a job by its handle and reports its status as it changes', async () => {
    const jobs = new JobTable<Job>({ scheduler: 'TestScheduler' });
    const job = newJob('cn02');
    jobs.add(handle('j-1'), job);
    expect(jobs.has(handle('j-1'))).toBe(true);
    expect(jobs.get(handle('j-1')).host).toBe('cn02');
    expect(jobs.size).toBe(1);
    await expect(jobs.status(handle('j-1'))).resolves.toBe(ExecutionStatus.QUEUED);
    job.status = ExecutionStatus.RUNNING;
    await expect(jobs.status(handle('j-1'))).resolves.toBe(ExecutionStatus.RUNNING);
  });

  it('settles a job once: status and outcome agree, later outcomes are ignored', async () => {
    const jobs = new JobTable<Job>({ scheduler: 'TestScheduler' });
    const job = newJob();
    jobs.add(handle('j-1'), job);
    const outcome = jobs.outcome(handle('j-1'));
    expect(jobs.settle(job, { status: ExecutionStatus.COMPLETED, state: { x: 1 } })).toBe(true);
    expect(jobs.settle(job, { status: ExecutionStatus.CANCELLED })).toBe(false);
    expect(job.status).toBe(ExecutionStatus.COMPLETED);
    await expect(outcome).resolves.toEqual({ status: 'COMPLETED', state: { x: 1 } });
    await expect(jobs.status(handle('j-1'))).resolves.toBe(ExecutionStatus.COMPLETED);
  });

  it('names the job, node and scheduler for a handle it never tracked', async () => {
    const jobs = new JobTable<Job>({
      scheduler: 'TestScheduler',
      unknownJobCode: 'PHYS_SCHEDULER_TEST_UNKNOWN_JOB',
    });
    jobs.add(handle('j-1'), newJob());
    let error: unknown;
    try {
      jobs.get(handle('j-9', 'solve'));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SchedulerError);
    expect((error as PhysError).code).toBe('PHYS_SCHEDULER_TEST_UNKNOWN_JOB');
    expect((error as PhysError).message).toMatch(/'j-9'.*'solve'.*TestScheduler/);
    expect((error as PhysError).details).toMatchObject({
      jobId: 'j-9',
      nodeId: 'solve',
      scheduler: 'TestScheduler',
    });
    expect(jobs.has(handle('j-9'))).toBe(false);
    await expect(jobs.status(handle('j-9'))).rejects.toMatchObject({
      code: 'PHYS_SCHEDULER_TEST_UNKNOWN_JOB',
    });
  });

  it('rejects the outcome of an unknown handle instead of throwing', async () => {
    const jobs = new JobTable<Job>({ scheduler: 'TestScheduler' });
    let outcome: Promise<TaskOutcome> | undefined;
    expect(() => {
      outcome = jobs.outcome(handle('nope'));
    }).not.toThrow();
    await expect(outcome).rejects.toMatchObject({ code: 'PHYS_SCHEDULER' });
  });

  it('refuses to track two jobs under one id', () => {
    const jobs = new JobTable<Job>({ scheduler: 'TestScheduler' });
    jobs.add(handle('j-1'), newJob());
    expect(() => jobs.add(handle('j-1', 'other'), newJob())).toThrow(
      /TestScheduler tracks job 'j-1' already/,
    );
    expect(jobs.size).toBe(1);
  });

  it('lists the jobs in the order they were added', () => {
    const jobs = new JobTable<Job>({ scheduler: 'TestScheduler' });
    for (const host of ['a', 'b', 'c']) jobs.add(handle(host), newJob(host));
    expect([...jobs.values()].map((j) => j.host)).toEqual(['a', 'b', 'c']);
  });
});
