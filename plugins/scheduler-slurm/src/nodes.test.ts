// Outputs captured from this repository's CI Slurm (22.05.8, scripts/services/slurm-up.sh), with
// its slurmd killed (the node turns `mixed*`, then `down*`) and set DOWN by hand.
import { describe, expect, it } from 'vitest';
import {
  expandHostlist,
  parseSinfoNodes,
  parseSqueue,
  slurmNodeState,
  slurmStalls,
} from './index.js';

describe('parseSqueue with partition and nodes', () => {
  it("reads `squeue -h -r -t all -o '%i|%T|%r|%P|%N'`", () => {
    const jobs = parseSqueue(
      [
        '171|RUNNING|None|debug|vm',
        '172|PENDING|Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions|debug|',
        '173|PENDING|ReqNodeNotAvail, UnavailableNodes:vm|debug,long|',
        '174_[1-2]|PENDING|JobArrayTaskLimit|debug|',
      ].join('\n'),
    );
    expect(jobs.get('171')).toEqual({
      id: '171',
      nativeState: 'RUNNING',
      reason: 'None',
      partition: 'debug',
      nodes: 'vm',
    });
    expect(jobs.get('172')).toEqual({
      id: '172',
      nativeState: 'PENDING',
      reason:
        'Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions',
      partition: 'debug',
    });
    expect(jobs.get('173')?.partition).toBe('debug,long');
    expect(jobs.get('174_2')).toMatchObject({ reason: 'JobArrayTaskLimit', partition: 'debug' });
  });
});

describe('sinfo node states', () => {
  it('reads not responding (*), down, drained and powered-off nodes', () => {
    expect(slurmNodeState('mixed*')).toEqual({ notResponding: true, down: false, closed: true });
    expect(slurmNodeState('down*')).toEqual({ notResponding: true, down: true, closed: true });
    expect(slurmNodeState('drained')).toEqual({ notResponding: false, down: false, closed: true });
    expect(slurmNodeState('idle~')).toEqual({ notResponding: false, down: false, closed: false });
    expect(slurmNodeState('completing')).toMatchObject({ closed: false });
  });

  it("parses `sinfo -h -N -o '%N|%R|%T|%E'`, merging a node's partitions", () => {
    const nodes = parseSinfoNodes(
      'vm|debug|down*|phys-test\nvm|long|down*|phys-test\ncn2|debug|idle|none\n',
    );
    expect(nodes.get('vm')).toEqual({
      name: 'vm',
      partitions: ['debug', 'long'],
      state: 'down*',
      reason: 'phys-test',
      notResponding: true,
      down: true,
      closed: true,
    });
    expect(nodes.get('cn2')).not.toHaveProperty('reason');
  });

  it('expands hostlists', () => {
    expect(expandHostlist('vm')).toEqual(['vm']);
    expect(expandHostlist('cn[08-10,12],gpu1')).toEqual(['cn08', 'cn09', 'cn10', 'cn12', 'gpu1']);
    expect(expandHostlist('r[1-2]n[1-2]')).toEqual(['r1n1', 'r1n2', 'r2n1', 'r2n2']);
  });
});

describe('slurmStalls', () => {
  const jobs = parseSqueue(
    [
      '10|RUNNING|None|debug|vm',
      '11|COMPLETING|None|debug|vm',
      '12|RUNNING|None|debug|cn[1-2]',
      '13|PENDING|Resources|debug|',
      '14|PENDING|Resources|gpu|',
      '15|PENDING|BeginTime|gpu,debug|',
    ].join('\n'),
  );

  it('a job on a node that is not responding or down stalls; one on healthy nodes does not', () => {
    const stalls = slurmStalls(
      jobs,
      parseSinfoNodes(
        'vm|debug|mixed*|none\ncn1|debug|idle|none\ncn2|debug|allocated|none\ng1|gpu|drained|maintenance\n',
      ),
    );
    expect(stalls.get('10')).toBe('compute node vm (mixed*) is not responding');
    expect(stalls.get('11')).toBe('compute node vm (mixed*) is not responding');
    expect(stalls.has('12')).toBe(false);
    // The debug partition still has nodes that start jobs; gpu has none.
    expect(stalls.has('13')).toBe(false);
    expect(stalls.get('14')).toBe(
      'no compute node of partition gpu can start jobs: g1 (drained, maintenance)',
    );
    expect(stalls.has('15')).toBe(false);
  });

  it('a pending job stalls once every node of its partitions is closed', () => {
    const stalls = slurmStalls(
      jobs,
      parseSinfoNodes(
        'vm|debug|down*|Not responding\ncn1|debug|drained|x\ncn2|debug|down|x\ng1|gpu|drained|y\n',
      ),
    );
    expect(stalls.get('10')).toBe('compute node vm (down*, Not responding) is down');
    // A drained node finishes the jobs it has; only the down one stalls job 12.
    expect(stalls.get('12')).toBe('compute node cn2 (down, x) is down');
    expect(stalls.get('15')).toBe(
      'no compute node of partition gpu, debug can start jobs: g1 (drained, y), vm (down*, Not responding), cn1 (drained, x), ... (4 nodes)',
    );
  });
});
