// `phys exec` through the real binary: what it prints when the task cannot run or fails. A
// cluster job's log holds this output, so every error carries its PHYS_* code.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTaskEnvelope } from '@phys/scheduler-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPhys } from '../src/testing.js';
import { fixture } from './helpers.js';

describe('phys exec errors', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'phys-cli-exec-errors-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('names an unusable envelope with PHYS_USAGE, exit 2', async () => {
    const missing = join(dir, 'nothere.json');
    const absent = await runPhys(['exec', missing], { cwd: dir });
    expect(absent.code).toBe(2);
    // Before: the bare message, no code.
    expect(absent.stderr).toMatch(
      new RegExp(`^error PHYS_USAGE: Cannot read task envelope ${missing}: ENOENT`, 'm'),
    );
    const bogus = join(dir, 'bogus.json');
    await writeFile(bogus, '{}');
    const notOne = await runPhys(['exec', bogus], { cwd: dir });
    expect(notOne.code).toBe(2);
    expect(notOne.stderr).toMatch(
      /^error PHYS_USAGE: .*bogus\.json is not a phys-task\/1 task envelope/m,
    );
  });

  it("prints a failing stage's error with its code, exit 1", async () => {
    const task = await writeTaskEnvelope(
      join(dir, 'fail'),
      {
        runId: 'run-1',
        nodeId: 'fail',
        attempt: 1,
        stage: { name: 'demo/fail', version: '1', config: {} },
        label: 'fail',
        configFile: join(fixture('seq'), 'phys.config.ts'),
        policy: {},
        resources: { cpu: 1, gpuIds: [], mpiRanks: 1, memoryBytes: undefined },
      },
      { x: 1 },
    );
    const { code, stderr } = await runPhys(['exec', task], { cwd: dir });
    expect(code).toBe(1);
    // Before: nothing on stderr; the error was only in the result envelope.
    expect(stderr).toMatch(
      /^error PHYS_STAGE_FAILED: Stage 'fail' \(node 'fail'\) failed: the solver diverged$/m,
    );
  });
});
