// `pbsnodes -a -F json` as PBS Pro prints it (trimmed to the attributes phys reads and a few more).
import { describe, expect, it } from 'vitest';
import { pbsJobStatus } from './exit-status.js';
import { execHosts, parsePbsnodesJson, pbsNodeState, pbsStalls } from './index.js';

const PBSNODES = JSON.stringify({
  timestamp: 1699630815,
  pbs_version: '2022.1.1',
  pbs_server: 'pbs01',
  nodes: {
    cn01: {
      Mom: 'cn01.example.org',
      ntype: 'PBS',
      state: 'job-busy',
      pcpus: 64,
      jobs: ['12.pbs01/0'],
    },
    cn02: {
      Mom: 'cn02.example.org',
      ntype: 'PBS',
      state: 'state-unknown,down',
      comment: 'node down: communication closed',
    },
    cn03: { Mom: 'cn03.example.org', ntype: 'PBS', state: 'offline', comment: 'disk check' },
  },
});

describe('pbsnodes', () => {
  it('parses the JSON node status and reads its states', () => {
    const nodes = parsePbsnodesJson(PBSNODES);
    expect(nodes?.get('cn02')).toEqual({
      name: 'cn02',
      state: 'state-unknown,down',
      comment: 'node down: communication closed',
    });
    expect(parsePbsnodesJson('not json')).toBeUndefined();
    expect(pbsNodeState('job-busy')).toEqual({ lost: false, closed: false });
    expect(pbsNodeState('offline')).toEqual({ lost: false, closed: true });
    expect(pbsNodeState('state-unknown,down')).toEqual({ lost: true, closed: true });
    expect(pbsNodeState('Stale')).toEqual({ lost: true, closed: true });
    expect(execHosts('cn01/0*2+cn02/1+cn01/3')).toEqual(['cn01', 'cn02']);
  });

  it('a started job on a lost node stalls; one on an offline node finishes; queued jobs stall once no node is open', () => {
    const jobs = new Map([
      ['12.pbs01', pbsJobStatus({ id: '12.pbs01', job_state: 'R', exec_host: 'cn01/0' })],
      ['13.pbs01', pbsJobStatus({ id: '13.pbs01', job_state: 'R', exec_host: 'cn02/0*4' })],
      ['14.pbs01', pbsJobStatus({ id: '14.pbs01', job_state: 'R', exec_host: 'cn03/0' })],
      ['15.pbs01', pbsJobStatus({ id: '15.pbs01', job_state: 'Q' })],
      ['16.pbs01', pbsJobStatus({ id: '16.pbs01', job_state: 'H' })],
    ]);
    const nodes = parsePbsnodesJson(PBSNODES) as NonNullable<ReturnType<typeof parsePbsnodesJson>>;
    expect(pbsStalls(jobs, nodes)).toEqual(
      new Map([
        [
          '13.pbs01',
          'compute node cn02 (state-unknown,down, node down: communication closed) is down',
        ],
      ]),
    );
    nodes.set('cn01', { name: 'cn01', state: 'offline' });
    const stalls = pbsStalls(jobs, nodes);
    expect(stalls.get('15.pbs01')).toBe(
      'no compute node can start jobs: cn01 (offline), cn02 (state-unknown,down, node down: communication closed), cn03 (offline, disk check)',
    );
    expect(stalls.has('12.pbs01')).toBe(false);
    expect(stalls.has('16.pbs01')).toBe(false);
  });
});
