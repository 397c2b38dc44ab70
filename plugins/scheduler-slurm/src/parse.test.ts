// Outputs captured from this repository's CI Slurm (22.05.8, scripts/services/slurm-up.sh).
import { describe, expect, it } from 'vitest';
import {
  isInvalidJobIdError,
  isTransientSlurmError,
  parseExitCode,
  parseSacct,
  parseSbatchParsable,
  parseScontrolJobs,
  parseSqueue,
} from './parse.js';

const SCONTROL_FAILED =
  'JobId=2 JobName=wrap UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901758 Nice=0 Account=(null) QOS=(null) JobState=FAILED Reason=NonZeroExitCode Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=3:0 RunTime=00:00:00 TimeLimit=UNLIMITED TimeMin=N/A SubmitTime=2026-11-22T02:49:51 EligibleTime=2026-11-22T02:49:51 AccrueTime=2026-11-22T02:49:51 StartTime=2026-11-22T02:49:52 EndTime=2026-11-22T02:49:52 Deadline=N/A SuspendTime=None SecsPreSuspend=0 LastSchedEval=2026-11-22T02:49:52 Scheduler=Main Partition=debug AllocNode:Sid=localhost:19070 ReqNodeList=(null) ExcNodeList=(null) NodeList=vm BatchHost=vm NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* TRES=cpu=1,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=0 MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) Command=(null) WorkDir=/tmp/slx StdErr=/dev/null StdIn=/dev/null StdOut=/dev/null Power= ';
const SCONTROL_SIGKILL =
  'JobId=11 JobName=wrap UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901753 Nice=0 Account=(null) QOS=(null) JobState=FAILED Reason=JobLaunchFailure Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:9 RunTime=00:00:00 TimeLimit=UNLIMITED TimeMin=N/A SubmitTime=2026-11-22T02:52:33 EligibleTime=2026-11-22T02:52:33 AccrueTime=2026-11-22T02:52:33 StartTime=2026-11-22T02:52:33 EndTime=2026-11-22T02:52:33 Deadline=N/A Partition=debug NodeList=vm BatchHost=vm NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 WorkDir=/tmp/slx StdErr=/dev/null StdIn=/dev/null StdOut=/dev/null Power= ';
const SCONTROL_TIMEOUT =
  'JobId=10 JobName=wrap UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901754 Nice=0 Account=(null) QOS=(null) JobState=TIMEOUT Reason=TimeLimit Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:15 RunTime=00:01:01 TimeLimit=00:01:00 TimeMin=N/A SubmitTime=2026-11-22T02:52:33 StartTime=2026-11-22T02:52:33 EndTime=2026-11-22T02:53:34 Partition=debug NodeList=vm WorkDir=/tmp/slx StdErr=/tmp/slx/to.out StdIn=/dev/null StdOut=/tmp/slx/to.out Power= ';
// `scontrol -o show job 4` for a finished array 4 (tasks 0-4): every task has its own JobId.
const SCONTROL_ARRAY = [
  'JobId=4 ArrayJobId=4 ArrayTaskId=4 ArrayTaskThrottle=2 JobName=wrap UserId=root(0) JobState=COMPLETED Reason=None Dependency=(null) ExitCode=0:0 RunTime=00:00:05',
  'JobId=9 ArrayJobId=4 ArrayTaskId=3 ArrayTaskThrottle=2 JobName=wrap UserId=root(0) JobState=COMPLETED Reason=None Dependency=(null) ExitCode=0:0 RunTime=00:00:05',
  'JobId=8 ArrayJobId=4 ArrayTaskId=2 ArrayTaskThrottle=2 JobName=wrap UserId=root(0) JobState=FAILED Reason=NonZeroExitCode Dependency=(null) ExitCode=1:0 RunTime=00:00:05',
  'JobId=7 ArrayJobId=4 ArrayTaskId=1 ArrayTaskThrottle=2 JobName=wrap UserId=root(0) JobState=CANCELLED Reason=None Dependency=(null) ExitCode=0:15 RunTime=00:00:01',
  'JobId=6 ArrayJobId=4 ArrayTaskId=0 ArrayTaskThrottle=2 JobName=wrap UserId=root(0) JobState=COMPLETED Reason=None Dependency=(null) ExitCode=0:0 RunTime=00:00:05',
].join('\n');

describe('parseSbatchParsable', () => {
  it('reads the job id, with or without a cluster name', () => {
    expect(parseSbatchParsable('13\n')).toBe('13');
    expect(parseSbatchParsable('4242;ci\n')).toBe('4242');
  });
  it('finds nothing in output that is not a job id', () => {
    expect(parseSbatchParsable('')).toBeUndefined();
    expect(parseSbatchParsable('Submitted batch job 5\n')).toBeUndefined();
  });
});

describe('parseSqueue', () => {
  it("reads `squeue -h -r -t all -o '%i|%T|%r'` with finished, running and pending jobs and array tasks", () => {
    const out = [
      '1|COMPLETED|None',
      '2|FAILED|NonZeroExitCode',
      '4_1|PENDING|Resources',
      '4_2|PENDING|Resources',
      '5|PENDING|BeginTime',
      '3|RUNNING|None',
      '4_0|RUNNING|None',
      '10|TIMEOUT|TimeLimit',
      '11|FAILED|JobLaunchFailure',
      '12|CANCELLED|None',
      '13|PENDING|PartitionConfig',
      '',
    ].join('\n');
    const jobs = parseSqueue(out);
    expect(jobs.size).toBe(11);
    expect(jobs.get('2')).toEqual({ id: '2', nativeState: 'FAILED', reason: 'NonZeroExitCode' });
    expect(jobs.get('4_1')).toEqual({ id: '4_1', nativeState: 'PENDING', reason: 'Resources' });
    expect(jobs.get('4_0')?.nativeState).toBe('RUNNING');
    expect(jobs.get('10')).toMatchObject({ nativeState: 'TIMEOUT', reason: 'TimeLimit' });
    expect(jobs.get('13')?.reason).toBe('PartitionConfig');
  });
  it('expands array ranges squeue prints without -r, honouring steps and the %K throttle', () => {
    const jobs = parseSqueue('4_[1-4%2]|PENDING|JobArrayTaskLimit\n7_[0,3-7:2]|PENDING|Priority\n');
    expect([...jobs.keys()]).toEqual(['4_1', '4_2', '4_3', '4_4', '7_0', '7_3', '7_5', '7_7']);
    expect(jobs.get('4_3')?.reason).toBe('JobArrayTaskLimit');
  });
  it('ignores blank and malformed lines and reads short state codes', () => {
    const jobs = parseSqueue('\n  \ngarbage\n8|CD|None\n9|CG|None\n');
    expect([...jobs.values()].map((j) => [j.id, j.nativeState])).toEqual([
      ['8', 'COMPLETED'],
      ['9', 'COMPLETING'],
    ]);
  });
});

describe('parseScontrolJobs', () => {
  it('reads state, reason and exit code of finished jobs', () => {
    const jobs = parseScontrolJobs(
      [SCONTROL_FAILED, SCONTROL_SIGKILL, SCONTROL_TIMEOUT].join('\n'),
    );
    expect(jobs.get('2')).toEqual({
      id: '2',
      nativeState: 'FAILED',
      reason: 'NonZeroExitCode',
      exitCode: 3,
      signal: 0,
    });
    expect(jobs.get('11')).toMatchObject({ nativeState: 'FAILED', exitCode: 0, signal: 9 });
    expect(jobs.get('10')).toMatchObject({
      nativeState: 'TIMEOUT',
      reason: 'TimeLimit',
      signal: 15,
    });
  });
  it('keys array tasks by <array job>_<task>, not by their own job ids', () => {
    const jobs = parseScontrolJobs(SCONTROL_ARRAY);
    expect([...jobs.keys()].sort()).toEqual(['4_0', '4_1', '4_2', '4_3', '4_4']);
    expect(jobs.get('4_2')).toMatchObject({ nativeState: 'FAILED', exitCode: 1 });
    expect(jobs.get('4_1')).toMatchObject({ nativeState: 'CANCELLED', signal: 15 });
  });
  it('reads the fields it needs when other values contain spaces', () => {
    const jobs = parseScontrolJobs(
      'JobId=21 JobName=phys-x UserId=root(0) JobState=COMPLETED Reason=None ExitCode=0:0 WorkDir=/home/a b/run StdOut=/home/a b/run/0/slurm.out Power= ',
    );
    expect(jobs.get('21')).toEqual({
      id: '21',
      nativeState: 'COMPLETED',
      reason: 'None',
      exitCode: 0,
      signal: 0,
    });
  });
});

describe('parseSacct', () => {
  it('reads `sacct -X -n -P -o JobID,State,ExitCode`, including "CANCELLED by <uid>" and pending ranges', () => {
    const jobs = parseSacct(
      [
        '31|COMPLETED|0:0',
        '32_1|CANCELLED by 1000|0:15',
        '32_[2-3]|PENDING|0:0',
        '33|OUT_OF_MEMORY|0:125',
        '',
      ].join('\n'),
    );
    expect(jobs.get('31')).toEqual({ id: '31', nativeState: 'COMPLETED', exitCode: 0, signal: 0 });
    expect(jobs.get('32_1')).toMatchObject({ nativeState: 'CANCELLED', signal: 15 });
    expect(jobs.get('32_3')?.nativeState).toBe('PENDING');
    expect(jobs.get('33')?.nativeState).toBe('OUT_OF_MEMORY');
  });
});

describe('parseExitCode', () => {
  it('splits exit code and signal', () => {
    expect(parseExitCode('3:0')).toEqual({ exitCode: 3, signal: 0 });
    expect(parseExitCode('0:9')).toEqual({ exitCode: 0, signal: 9 });
    expect(parseExitCode('n/a')).toBeUndefined();
    expect(parseExitCode(undefined)).toBeUndefined();
  });
});

describe('error classification', () => {
  it('tells a busy or unreachable controller from a wrong request', () => {
    expect(
      isTransientSlurmError(
        'sbatch: error: Batch job submission failed: Socket timed out on send/recv operation',
      ),
    ).toBe(true);
    expect(
      isTransientSlurmError(
        'sbatch: error: Batch job submission failed: Resource temporarily unavailable',
      ),
    ).toBe(true);
    expect(
      isTransientSlurmError('sbatch: error: Unable to contact slurm controller (connect failure)'),
    ).toBe(true);
    // Captured here: a partition that does not exist, memory no node has.
    expect(
      isTransientSlurmError(
        'sbatch: error: invalid partition specified: nope\nsbatch: error: Batch job submission failed: Invalid partition name specified',
      ),
    ).toBe(false);
    expect(
      isTransientSlurmError(
        'sbatch: error: Memory specification can not be satisfied\nsbatch: error: Batch job submission failed: Requested node configuration is not available',
      ),
    ).toBe(false);
  });
  it('recognises a job id the controller no longer knows', () => {
    expect(isInvalidJobIdError('slurm_load_jobs error: Invalid job id specified\n')).toBe(true);
    expect(isInvalidJobIdError('Slurm accounting storage is disabled\n')).toBe(false);
  });
});
