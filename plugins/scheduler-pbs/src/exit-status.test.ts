import type { ReadResult } from '@phys/scheduler-kit';
import { describe, expect, it } from 'vitest';
import { type FinishedJob, interpretFinishedJob } from './exit-status.js';
import type { PbsJobRecord } from './qstat.js';

const granted = { cpu: 1, gpuIds: [], mpiRanks: 1, memoryBytes: undefined };

function job(
  record: Partial<PbsJobRecord> | undefined,
  extra: Partial<FinishedJob> = {},
): FinishedJob {
  return {
    jobId: '7.pbs01',
    nodeId: 'fit',
    record: record === undefined ? undefined : { id: '7.pbs01', job_state: 'F', ...record },
    result: undefined,
    cancelRequested: false,
    walltimeSeconds: 60,
    stderrTail: '',
    workDir: '/work/fit',
    granted,
    ...extra,
  };
}

function result(status: 'COMPLETED' | 'FAILED' | 'CANCELLED', error?: object): ReadResult {
  return {
    envelope: {
      format: 'phys-result/1',
      runId: 'r',
      nodeId: 'fit',
      attempt: 1,
      status,
      startedAt: '',
      finishedAt: '',
      ...(status === 'COMPLETED' ? { metrics: { loss: 0.5 } } : {}),
      ...(error === undefined ? {} : { error: error as never }),
    },
    state: status === 'COMPLETED' ? { x: 1 } : undefined,
    artifacts: undefined,
  };
}

const used = (walltime: string, mem = '10mb') => ({
  resources_used: { walltime, mem },
  Resource_List: { walltime: '00:01:00', mem: '1gb' },
});

describe('finished PBS jobs', () => {
  it('Exit_status 0 with a result: COMPLETED with state and metrics', () => {
    expect(interpretFinishedJob(job({ Exit_status: 0 }, { result: result('COMPLETED') }))).toEqual({
      status: 'COMPLETED',
      state: { x: 1 },
      metrics: { loss: 0.5 },
      granted,
    });
  });

  it('a stage failure keeps the error from the result envelope', () => {
    const error = {
      name: 'PhysError',
      code: 'PHYS_STAGE_FAILED',
      message: 'bad',
      retryable: false,
    };
    expect(
      interpretFinishedJob(job({ Exit_status: 1 }, { result: result('FAILED', error) })),
    ).toMatchObject({
      status: 'FAILED',
      error,
    });
  });

  it('a cancel phys asked for wins over everything else', () => {
    const outcome = interpretFinishedJob(job({ Exit_status: 271 }, { cancelRequested: true }));
    expect(outcome).toMatchObject({ status: 'CANCELLED', error: { code: 'PHYS_CANCELLED' } });
  });

  it.each([
    [-1, 'FAILED', 'PHYS_SCHEDULER_PBS_NODE_FAIL', true, 'JOB_EXEC_FAIL1'],
    [-2, 'FAILED', 'PHYS_SCHEDULER_PBS_NODE_FAIL', true, 'JOB_EXEC_FAIL2'],
    [-3, 'FAILED', 'PHYS_SCHEDULER_PBS_NODE_FAIL', true, 'JOB_EXEC_RETRY'],
    [-20, 'FAILED', 'PHYS_SCHEDULER_PBS_NODE_FAIL', true, 'JOB_EXEC_RERUN_MS_FAIL'],
    [-10, 'FAILED', 'PHYS_SCHEDULER_PBS_EXEC_FAILED', false, 'JOB_EXEC_FAILUID'],
    [-19, 'FAILED', 'PHYS_SCHEDULER_PBS_EXEC_FAILED', false, 'JOB_EXEC_HOOK_DELETE'],
    [-25, 'FAILED', 'PHYS_SCHEDULER_PBS_LIMIT', false, 'JOB_EXEC_KILL_NCPUS_SUM'],
    [-27, 'FAILED', 'PHYS_SCHEDULER_PBS_OOM', false, 'JOB_EXEC_KILL_MEM'],
    [-28, 'TIMEOUT', 'PHYS_TIMEOUT', true, 'JOB_EXEC_KILL_CPUT'],
    [-99, 'FAILED', 'PHYS_SCHEDULER_PBS_NODE_FAIL', true, undefined],
  ] as const)('negative Exit_status %i → %s %s', (exit, status, code, retryable, pbsCode) => {
    const outcome = interpretFinishedJob(job({ Exit_status: exit }));
    expect(outcome.status).toBe(status);
    expect(outcome.error).toMatchObject({ code, retryable });
    expect(outcome.error?.details?.pbsCode).toBe(pbsCode);
    expect(outcome.error?.message).toContain(`Exit_status ${exit}`);
  });

  it('walltime: -29, or a signal kill once the walltime is used up, is TIMEOUT', () => {
    expect(interpretFinishedJob(job({ Exit_status: -29 })).status).toBe('TIMEOUT');
    const killed = interpretFinishedJob(job({ Exit_status: 271, ...used('00:01:01') }));
    expect(killed).toMatchObject({ status: 'TIMEOUT', error: { code: 'PHYS_TIMEOUT' } });
    expect(killed.error?.message).toContain('SIGTERM');
    // The stage saw SIGTERM and wrote CANCELLED, but nobody cancelled it: PBS's walltime did.
    expect(
      interpretFinishedJob(
        job({ Exit_status: 3, ...used('00:01:00') }, { result: result('CANCELLED') }),
      ).status,
    ).toBe('TIMEOUT');
    expect(
      interpretFinishedJob(
        job(
          { Exit_status: 265 },
          { stderrTail: '=>> PBS: job killed: walltime 65 exceeded limit 60' },
        ),
      ).status,
    ).toBe('TIMEOUT');
  });

  it('256 + signal: SIGKILL over the memory limit is OOM, other kills fail with the signal', () => {
    expect(
      interpretFinishedJob(job({ Exit_status: 265, ...used('00:00:05', '2gb') })).error?.code,
    ).toBe('PHYS_SCHEDULER_PBS_OOM');
    const killed = interpretFinishedJob(job({ Exit_status: 265, ...used('00:00:05') }));
    expect(killed).toMatchObject({
      status: 'FAILED',
      error: { code: 'PHYS_SCHEDULER_PBS_JOB_FAILED', details: { signal: 'SIGKILL' } },
    });
  });

  it('a non-zero exit without a result reports the exit code, a hint and the stderr tail', () => {
    const outcome = interpretFinishedJob(
      job({ Exit_status: 127 }, { stderrTail: 'node: not found' }),
    );
    expect(outcome).toMatchObject({
      status: 'FAILED',
      error: { code: 'PHYS_SCHEDULER_PBS_JOB_FAILED', retryable: false },
    });
    expect(outcome.error?.message).toContain('exited with code 127 (command not found');
    expect(outcome.error?.message).toContain('node: not found');
    expect(interpretFinishedJob(job({ Exit_status: 137 })).error?.message).toContain(
      '128 + SIGKILL',
    );
    expect(interpretFinishedJob(job({ Exit_status: 0 })).error?.message).toContain(
      'exited 0 but wrote no result',
    );
  });

  it('a job that ended without an exit status was deleted before it ran', () => {
    const outcome = interpretFinishedJob(
      job({ comment: 'Job deleted as result of dependency on job 6.pbs01' }),
    );
    expect(outcome).toMatchObject({
      status: 'FAILED',
      error: { code: 'PHYS_SCHEDULER_PBS_DELETED' },
    });
    expect(outcome.error?.message).toContain('dependency on job 6.pbs01');
  });
});
