// A compute node that fails under a run, on a real Slurm (scripts/services/slurm-up.sh): the
// test kills the node's slurmd, which stalls every Slurm job of the machine, so vitest.config.ts
// runs this file alone, after the other Slurm tests; afterAll starts slurmd again with the same
// script. Killing slurmd leaves the job processes running (slurmstepd outlives it), exactly as a
// node whose daemon crashed or whose network went away: Slurm marks the node NOT_RESPONDING,
// keeps the jobs RUNNING, and after a cancel keeps them COMPLETING, for as long as it is gone.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExecutionStatus, resources, type SchedulerTask, type StageRef } from '@phys/core';
import { recordingLogger, taskCommand } from '@phys/testing';
import { afterAll, expect, it } from 'vitest';
import { SlurmScheduler, type SlurmSchedulerOptions } from '../src/index.js';
import { Sleep } from './fixtures/stages.js';
import { describeSlurm, fixtureConfig, tempDir } from './helpers.js';

// The repository root is three levels up; the script is the repository's scripts/services/slurm-up.sh.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SLURM_UP = join(ROOT, 'scripts/services/slurm-up.sh');
const FAST = { pollInterval: 0.3, maxPollInterval: 2, resultTimeout: 10, batchWindow: 0.05 };

/** `scontrol show config` says where slurmd keeps its pid. */
function slurmdPid(): number {
  const config = execFileSync('scontrol', ['show', 'config'], { encoding: 'utf8' });
  const file = /^SlurmdPidFile\s*=\s*(\S+)/m.exec(config)?.[1];
  if (file === undefined || !existsSync(file)) throw new Error('slurmd has no pid file here');
  return Number(readFileSync(file, 'utf8').trim());
}

function squeueState(jobId: string): string {
  return execFileSync('squeue', ['-h', '-t', 'all', '-o', '%T', '-j', jobId], {
    encoding: 'utf8',
  }).trim();
}

async function waitFor(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 100));
}

describeSlurm(
  'SlurmScheduler when a compute node fails',
  () => {
    const work = tempDir('phys-slurm-node-');
    const schedulers: SlurmScheduler[] = [];
    let killed = false;
    const make = (options: Partial<SlurmSchedulerOptions>): SlurmScheduler => {
      const s = new SlurmScheduler({
        configFile: fixtureConfig,
        taskCommand: taskCommand(),
        workDir: join(work.path, `w${schedulers.length}`),
        ...FAST,
        ...options,
      });
      schedulers.push(s);
      return s;
    };
    afterAll(async () => {
      await Promise.all(schedulers.map((s) => s.close()));
      // The node's slurmd again, as .ci/run started it (it also puts a DOWN node back).
      if (killed) {
        const up = spawnSync('bash', [SLURM_UP], { encoding: 'utf8', env: process.env });
        if (up.status !== 0) {
          throw new Error(`restarting slurmd failed: ${up.stdout}${up.stderr}`);
        }
      }
      work.remove();
    });

    const task = (nodeId: string, stage: StageRef): SchedulerTask => ({
      runId: 'node-failure',
      nodeId,
      stage,
      resources: resources(),
      attempt: 1,
      input: {},
      policy: {},
    });

    it('warns when the node stops responding, fails its running and pending jobs PHYS_JOB_NODE_FAIL, and a cancel there ends at once', async () => {
      const logger = recordingLogger();
      const failing = make({ logger, stuckAfter: 5 });
      // Waits out the stall, so that the cancel below is what ends its job.
      const patient = make({ stuckAfter: 3600 });
      const markers = [join(work.path, 'a.started'), join(work.path, 'b.started')];
      const running = await failing.submit(
        task('on-failed-node', Sleep({ seconds: 600, marker: markers[0] }).ref),
      );
      const other = await patient.submit(
        task('cancelled-there', Sleep({ seconds: 600, marker: markers[1] }).ref),
      );
      await waitFor(() => markers.every((m) => existsSync(m)));

      process.kill(slurmdPid(), 'SIGKILL');
      killed = true;
      // slurmctld notices a dead slurmd at its next ping, up to SlurmdTimeout/3 (100 s) later;
      // a reconfigure makes it contact every slurmd now.
      execFileSync('scontrol', ['reconfigure']);

      // The stall is reported as soon as a poll sees it, naming the node and the job.
      await waitFor(() => logger.lines.some((l) => l.includes('is not responding')));
      const warning = logger.lines.find((l) => l.includes('is not responding')) as string;
      expect(warning).toMatch(
        new RegExp(
          `^warn slurm: compute node \\S+ \\(\\S+\\*\\) is not responding; a job waits on it: 'on-failed-node' \\(job ${running.jobId}\\)\\. Unless that changes within 5 s \\(stuckAfterSeconds\\), it fails with PHYS_JOB_NODE_FAIL`,
        ),
      );
      // A job submitted now stays pending: no node of the partition can start it.
      const pending = await failing.submit(task('queued-behind', Sleep({ seconds: 1 }).ref));

      const [outRunning, outPending] = await Promise.all([
        failing.wait(running),
        failing.wait(pending),
      ]);
      expect(outRunning.status).toBe(ExecutionStatus.FAILED);
      expect(outRunning.error).toMatchObject({
        code: 'PHYS_JOB_NODE_FAIL',
        retryable: true,
        details: { scheduler: 'slurm', nativeState: 'RUNNING', nodeId: 'on-failed-node' },
      });
      expect(outRunning.error?.message).toContain('is not responding (for ');
      expect(outRunning.error?.message).toContain('The job was cancelled.');
      expect(outPending.error).toMatchObject({
        code: 'PHYS_JOB_NODE_FAIL',
        retryable: true,
        details: { nativeState: 'PENDING', nodeId: 'queued-behind' },
      });
      expect(outPending.error?.message).toMatch(/no compute node of partition \S+ can start jobs/);

      // Cancelling a job on the silent node (what Ctrl-C does) does not wait for Slurm, which
      // keeps it COMPLETING until the node answers again.
      expect(await patient.poll(other)).toBe(ExecutionStatus.RUNNING);
      await patient.cancel(other);
      const outOther = await patient.wait(other);
      expect(outOther).toMatchObject({
        status: ExecutionStatus.CANCELLED,
        error: { code: 'PHYS_CANCELLED' },
      });
      expect(squeueState(other.jobId)).toBe('COMPLETING');
    });
  },
  { timeout: 240_000 },
);
