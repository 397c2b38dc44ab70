// A DAG stage that calls process.exit, through the real binary: inline it ends the run, and phys
// names the node; with process isolation it fails that node alone.
import { runPhys } from '@phys/cli/testing';
import { describe, expect, it } from 'vitest';
import { fixture } from './helpers/cli.js';

describe('a DAG stage that calls process.exit', () => {
  it('inline: fails the run with PHYS_STAGE_EXIT naming the node', async () => {
    const { code, stdout, stderr } = await runPhys(['run', 'quits-inline'], {
      cwd: fixture('cli-exit'),
    });
    // Before: exit 1 with nothing printed, not even which node ran.
    expect(code).toBe(1);
    expect(stdout).toMatch(/^✗ quits-inline: FAILED/m);
    expect(stdout).toMatch(/nodes: 1 completed · 1 failed · 1 cancelled/);
    expect(stderr).toMatch(
      /^error PHYS_STAGE_EXIT: Node 'quitter' called process\.exit\(5\), which ended the run\. .*isolation 'process'/m,
    );
  });

  it("with isolation 'process': only that node fails, with its exit code", async () => {
    const { code, stderr } = await runPhys(['run', 'quits-process'], {
      cwd: fixture('cli-exit'),
    });
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /quitter FAILED: PHYS_STAGE_FAILED The process running node 'quitter' exited with code 5 without writing a result\./,
    );
    expect(stderr).not.toMatch(/PHYS_STAGE_EXIT/);
  });
});
