import { describe, expect, it } from 'vitest';
import { isFinishedState, jobKey, parseQstatJson, pbsStateToStatus } from './qstat.js';

// Trimmed from PBS Pro 2022 `qstat -f -F json -x -t 41[] 40.pbs01` output.
const SAMPLE = `{
    "timestamp":1616013438,
    "pbs_version":"2022.1.5",
    "pbs_server":"pbs01",
    "Jobs":{
        "40.pbs01.example.org":{
            "Job_Name":"phys-fit",
            "resources_used":{ "walltime":"00:00:10", "mem":"5620kb" },
            "job_state":"F",
            "Resource_List":{ "ncpus":1, "select":"1:ncpus=1", "walltime":"00:02:00" },
            "comment":"Job run at Wed Mar 17 at 20:36 on (pbs:ncpus=1) and finished",
            "Exit_status":0
        },
        "41[].pbs01":{ "job_state":"B", "array":"True", "array_state_count":"Queued:1 Running:1 Exiting:0 Expired:1 " },
        "41[0].pbs01":{ "job_state":"X", "Exit_status":265, "array_index":0 },
        "41[1].pbs01":{ "job_state":"R", "array_index":1 },
        "41[2].pbs01":{ "job_state":"Q", "array_index":2 }
    }
}`;

describe('qstat -f -F json', () => {
  it('reads jobs and subjobs by key, whatever the server suffix', () => {
    const result = parseQstatJson(SAMPLE, 'qstat: Unknown Job Id 39.pbs01\n');
    expect(result).toBeDefined();
    expect([...(result?.jobs.keys() ?? [])]).toEqual(['40', '41[]', '41[0]', '41[1]', '41[2]']);
    expect(result?.jobs.get('40')).toMatchObject({
      id: '40.pbs01.example.org',
      job_state: 'F',
      Exit_status: 0,
      Resource_List: { walltime: '00:02:00' },
    });
    expect(result?.jobs.get('41[0]')?.Exit_status).toBe(265);
    expect([...(result?.unknown ?? [])]).toEqual(['39']);
  });

  it('accepts output without Jobs and rejects what is not qstat JSON', () => {
    expect(
      parseQstatJson('{"timestamp":1,"pbs_version":"23.06.06","pbs_server":"s"}')?.jobs.size,
    ).toBe(0);
    expect(parseQstatJson('')?.jobs.size).toBe(0);
    expect(parseQstatJson('Job id  Name  User')).toBeUndefined();
    expect(parseQstatJson('{"Jobs": 3}')).toBeUndefined();
  });

  it('maps every PBS state', () => {
    for (const s of ['Q', 'H', 'W', 'T', 'M']) expect(pbsStateToStatus(s)).toBe('QUEUED');
    for (const s of ['R', 'E', 'B', 'S', 'U']) expect(pbsStateToStatus(s)).toBe('RUNNING');
    for (const s of ['F', 'X', 'C']) {
      expect(pbsStateToStatus(s)).toBeUndefined();
      expect(isFinishedState(s)).toBe(true);
    }
    expect(isFinishedState('R')).toBe(false);
    expect(jobKey('124[3].pbs01.example.org')).toBe('124[3]');
    expect(jobKey('77')).toBe('77');
  });
});
