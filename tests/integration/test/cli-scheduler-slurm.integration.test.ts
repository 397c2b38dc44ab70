// `phys run` of a DAG on the real Slurm (scripts/services/slurm-up.sh), through the binary:
// cancelling the run cancels its Slurm jobs. The Slurm plugin's own tests are in
// plugins/scheduler-slurm/test.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runPhys } from '@phys/cli/testing';
import { afterAll, expect, it } from 'vitest';
import { describeSlurm, tempDir } from '../../../plugins/scheduler-slurm/test/helpers.js';
import { fixture } from './helpers/cli.js';

/** The path of a command on PATH. */
function which(name: string): string {
  return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
}

/**
 * A Slurm bin directory whose sbatch fails for jobs named `failing`, the way a busy controller
 * makes it fail ("Socket timed out"), and runs the real sbatch for the others; the other
 * commands are the real ones.
 */
async function slurmBin(dir: string, failing: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const name of ['squeue', 'scontrol', 'scancel', 'sacct', 'sinfo', 'sbatch']) {
    const refuse =
      name === 'sbatch'
        ? `case " $* " in *" --job-name=${failing} "*)\n  echo 'sbatch: error: Batch job submission failed: Socket timed out on send/recv operation' >&2\n  exit 1;;\nesac\n`
        : '';
    await writeFile(join(dir, name), `#!/bin/sh\n${refuse}exec '${which(name)}' "$@"\n`);
    await chmod(join(dir, name), 0o755);
  }
}

/** Our jobs that Slurm still has queued, running or ending. */
function liveJobs(prefix: string): string[] {
  return execFileSync('squeue', ['-h', '-o', '%i %j %T'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.split(' ')[1]?.startsWith(`${prefix}-`) === true);
}

describeSlurm(
  'phys run on Slurm',
  () => {
    const work = tempDir('phys-cli-slurm-');
    afterAll(() => work.remove());

    it('SIGTERM cancels the jobs of the run, also a submission waiting to retry, and exits 130', async () => {
      const prefix = `sigterm${process.pid}`;
      const bin = join(work.path, 'bin');
      await slurmBin(bin, `${prefix}-slurm-test_scale`);
      const marker = join(work.path, 'a.started');
      const interrupt = new AbortController();
      let stderr = '';
      const result = runPhys(['run', 'sleepers', '--progress', 'plain'], {
        cwd: fixture('cli-slurm'),
        env: {
          PHYS_TEST_SLURM_BIN: bin,
          PHYS_TEST_WORK_DIR: join(work.path, 'work'),
          PHYS_TEST_JOB_PREFIX: prefix,
          PHYS_TEST_MARKER: marker,
        },
        signal: interrupt.signal,
        killSignal: 'SIGTERM',
        onStderr: (chunk) => {
          stderr += chunk;
        },
      });
      // Node 'a' runs in its Slurm job, and node 'c' waits ten minutes to retry its sbatch.
      await expect
        .poll(() => existsSync(marker) && stderr.includes('retrying in 600 s'), {
          timeout: 200_000,
          interval: 200,
        })
        .toBe(true);
      expect(liveJobs(prefix).length).toBeGreaterThan(0);
      interrupt.abort();
      const { code, stdout } = await result;
      expect(code).toBe(130);
      expect(stdout).toMatch(/^✗ sleepers: CANCELLED/m);
      expect(stdout).toMatch(/nodes: 3 cancelled/);
      // Slurm ends the cancelled jobs within moments (their tasks stop on SIGTERM); nothing
      // of the run is left running its ten minutes.
      await expect.poll(() => liveJobs(prefix), { timeout: 30_000, interval: 500 }).toEqual([]);
    });
  },
  { timeout: 240_000 },
);
