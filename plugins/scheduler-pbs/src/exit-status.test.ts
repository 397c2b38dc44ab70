import { describe, expect, it } from 'vitest';
import { mapPbsState, pbsJobStatus } from './exit-status.js';
import type { PbsJobRecord } from './qstat.js';

const finished = (record: Partial<PbsJobRecord>): PbsJobRecord => ({
  id: '7.pbs01',
  job_state: 'F',
  ...record,
});

const used = (walltime: string, mem = '10mb') => ({
  resources_used: { walltime, mem },
  Resource_List: { walltime: '00:01:00', mem: '1gb' },
});

describe('PBS job states', () => {
  it('live states map by letter and never end the job', () => {
    expect(mapPbsState({ id: '1', job_state: 'Q' })).toEqual({ status: 'QUEUED', terminal: false });
    expect(mapPbsState({ id: '1', job_state: 'H' })).toEqual({ status: 'QUEUED', terminal: false });
    expect(mapPbsState({ id: '1', job_state: 'R' })).toEqual({
      status: 'RUNNING',
      terminal: false,
    });
    expect(mapPbsState({ id: '1', job_state: 'E' })).toEqual({
      status: 'RUNNING',
      terminal: false,
    });
    // A letter this table does not know changes nothing (statuses never move back).
    expect(mapPbsState({ id: '1', job_state: 'Z' })).toEqual({ status: 'QUEUED', terminal: false });
  });

  it('Exit_status 0 leaves the outcome to the result file; 1–255 to it and the exit code', () => {
    expect(mapPbsState(finished({ Exit_status: 0 }))).toEqual({
      status: 'COMPLETED',
      terminal: true,
    });
    expect(mapPbsState(finished({ Exit_status: 7 }))).toEqual({ status: 'FAILED', terminal: true });
    expect(pbsJobStatus(finished({ Exit_status: 7 }))).toMatchObject({
      nativeState: 'Exit_status=7',
      exitCode: 7,
    });
    expect(pbsJobStatus({ id: '7.pbs01', job_state: 'R' }).nativeState).toBe('R');
  });

  it.each([
    [-1, 'NODE_FAIL', 'JOB_EXEC_FAIL1'],
    [-2, 'NODE_FAIL', 'JOB_EXEC_FAIL2'],
    [-3, 'NODE_FAIL', 'JOB_EXEC_RETRY'],
    [-11, 'NODE_FAIL', 'JOB_EXEC_RERUN'],
    [-20, 'NODE_FAIL', 'JOB_EXEC_RERUN_MS_FAIL'],
    [-10, 'EXIT', 'JOB_EXEC_FAILUID'],
    [-19, 'EXIT', 'JOB_EXEC_HOOK_DELETE'],
    [-25, 'EXIT', 'JOB_EXEC_KILL_NCPUS_SUM'],
    [-27, 'OOM', 'JOB_EXEC_KILL_MEM'],
    [-99, 'NODE_FAIL', undefined],
  ] as const)('negative Exit_status %i → FAILED %s', (exit, failure, name) => {
    expect(mapPbsState(finished({ Exit_status: exit }))).toEqual({
      status: 'FAILED',
      terminal: true,
      failure,
    });
    const status = pbsJobStatus(finished({ Exit_status: exit }));
    expect(status.nativeState).toBe(`Exit_status=${exit}`);
    expect(status.exitCode).toBeUndefined();
    if (name !== undefined) expect(status.reason).toContain(name);
  });

  it('walltime: -29, -28, or a kill once the walltime is used up, is TIMEOUT', () => {
    expect(mapPbsState(finished({ Exit_status: -29 })).status).toBe('TIMEOUT');
    expect(mapPbsState(finished({ Exit_status: -28 })).status).toBe('TIMEOUT');
    expect(mapPbsState(finished({ Exit_status: 271, ...used('00:01:01') })).status).toBe('TIMEOUT');
    // The stage saw SIGTERM and exited 3 (CANCELLED), but nobody cancelled it: PBS's walltime did.
    expect(mapPbsState(finished({ Exit_status: 3, ...used('00:01:00') })).status).toBe('TIMEOUT');
    expect(
      mapPbsState(
        finished({ Exit_status: 265, comment: 'job killed: walltime 65 exceeded limit 60' }),
      ).status,
    ).toBe('TIMEOUT');
    expect(mapPbsState(finished({ Exit_status: 0, ...used('00:01:00') })).status).toBe('COMPLETED');
  });

  it('256 + signal: SIGKILL over the memory limit is OOM; other kills fail with the signal named', () => {
    expect(mapPbsState(finished({ Exit_status: 265, ...used('00:00:05', '2gb') }))).toMatchObject({
      failure: 'OOM',
    });
    expect(mapPbsState(finished({ Exit_status: 265, ...used('00:00:05') }))).toEqual({
      status: 'FAILED',
      terminal: true,
    });
    expect(pbsJobStatus(finished({ Exit_status: 265 }))).toMatchObject({
      signal: 'SIGKILL',
      nativeState: 'Exit_status=265',
    });
  });

  it('a job that ended without an exit status was deleted before it ran: CANCELLED, with PBS’s comment', () => {
    const record = finished({ comment: 'Job deleted as result of dependency on job 6.pbs01' });
    expect(mapPbsState(record)).toEqual({ status: 'CANCELLED', terminal: true });
    expect(pbsJobStatus(record)).toMatchObject({
      nativeState: 'F',
      reason: 'Job deleted as result of dependency on job 6.pbs01',
    });
  });
});
