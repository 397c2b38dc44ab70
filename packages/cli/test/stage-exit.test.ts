// A stage that calls process.exit under `phys run`: the run's thread ends, and phys says which
// stage did it instead of exiting with the stage's code and nothing printed.
import { describe, expect, it } from 'vitest';
import { runPhys } from '../src/testing.js';
import { fixture } from './helpers.js';

describe('a stage that calls process.exit', () => {
  it('fails the run with PHYS_STAGE_EXIT, naming the stage, and prints the partial result', async () => {
    const { code, stdout, stderr } = await runPhys(['run', 'quits'], { cwd: fixture('exit') });
    // Before: exit 3 (then 1) and nothing printed at all.
    expect(code).toBe(1);
    expect(stdout).toMatch(/^✗ quits: FAILED in .* \(sequential, 3 stages\)$/m);
    expect(stdout).toMatch(/stages: 1 completed · 1 failed · 1 cancelled/);
    expect(stdout).toMatch(/first\.value = 7/);
    expect(stderr).toMatch(
      /^error PHYS_STAGE_EXIT: Stage 'quitter' called process\.exit\(3\), which ended the run\. A stage must not end the process: throw an error to fail it\.$/m,
    );
  });

  it('is no success when the stage exits with 0, and is one JSON object with --json', async () => {
    const { code, stdout } = await runPhys(['run', 'quits-ok', '--json'], {
      cwd: fixture('exit'),
    });
    expect(code).toBe(1);
    expect(JSON.parse(stdout)).toMatchObject({
      pipeline: 'quits-ok',
      status: 'FAILED',
      nodes: { quitter: { status: 'FAILED' } },
      error: { code: 'PHYS_STAGE_EXIT', details: { exitCode: 0, stages: ['quitter'] } },
      exitCode: 1,
    });
  });

  it('is not blamed for a stage whose promise can never settle', async () => {
    const { code, stderr } = await runPhys(['run', 'never'], { cwd: fixture('exit') });
    // Before: exit 1 (the thread's 13) and nothing printed.
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /^error PHYS_STAGE_CONTRACT: The run stopped while stage 'stuck' was running: it returned a promise that never settles/m,
    );
    expect(stderr).not.toMatch(/process\.exit/);
  });
});
