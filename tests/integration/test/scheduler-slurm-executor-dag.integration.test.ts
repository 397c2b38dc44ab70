// End-to-end on a real Slurm (scripts/services/slurm-up.sh): DagExecutor (@phys/executor-dag) with
// SlurmScheduler (@phys/scheduler-slurm), jobs that run `phys exec` on task envelopes and report
// through squeue/scontrol. The node has as many CPUs as the machine (2 in CI), which bounds how
// many jobs run at once. The scheduler's own Slurm tests are in
// plugins/scheduler-slurm/test/slurm.integration.test.ts.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExecutionStatus, type NodeSpec, resources } from '@phys/core';
import { DagExecutor } from '@phys/executor-dag';
import { SlurmScheduler, type SlurmSchedulerOptions } from '@phys/scheduler-slurm';
import { taskCommand } from '@phys/testing';
import { afterAll, describe, expect, it, type TestContext } from 'vitest';
import {
  Best,
  type Carried,
  Exit,
  Range,
  Scale,
  Sleep,
  Sum,
  Throw,
} from '../../../plugins/scheduler-slurm/test/fixtures/stages.js';
import {
  describeSlurm,
  fixtureConfig,
  tempDir,
} from '../../../plugins/scheduler-slurm/test/helpers.js';

const FAST = { pollInterval: 0.3, maxPollInterval: 2, resultTimeout: 10, batchWindow: 0.05 };

// Every test runs concurrently. On a 2-CPU node the cpu-2 nodes of the DAG and the tests behind
// the sweep's 100 tasks queue meanwhile, hence the long timeouts.
describeSlurm(
  'SlurmScheduler on a real Slurm',
  () => {
    const work = tempDir('phys-slurm-it-');
    const schedulers: SlurmScheduler[] = [];
    // A scheduler per test, closed (its jobs cancelled) as soon as the test ends, so that a
    // failing test does not leave jobs that hold the node's few CPUs from the others.
    const make = (t: TestContext, options: Partial<SlurmSchedulerOptions> = {}): SlurmScheduler => {
      const s = new SlurmScheduler({
        configFile: fixtureConfig,
        // What the runtime hands the plugin; jobs run `node <task entry> <envelope>`.
        taskCommand: taskCommand(),
        workDir: join(work.path, `w${schedulers.length}`),
        ...FAST,
        ...options,
      });
      schedulers.push(s);
      t.onTestFinished(() => s.close());
      return s;
    };
    afterAll(async () => {
      await Promise.all(schedulers.map((s) => s.close()));
      work.remove();
    });

    it('runs a 20-node DAG with mixed cpu and memory requests through DagExecutor', async (t) => {
      const scheduler = make(t);
      const nodes: NodeSpec[] = [
        {
          id: 'source',
          stage: Scale({ factor: 1 }, { label: 'source' }),
          resources: resources({ cpu: 1, memory: '128Mi' }),
        },
      ];
      for (let i = 0; i < 12; i++) {
        const big = i % 3 === 2;
        nodes.push({
          id: `scale-${i}`,
          stage: Scale({ factor: i + 1 }, { label: 'scale' }),
          deps: ['source'],
          resources: big
            ? resources({ cpu: 2, memory: '512Mi' })
            : resources({ cpu: 1, memory: '256Mi' }),
        });
      }
      for (let k = 0; k < 4; k++) {
        nodes.push({
          id: `group-${k}`,
          stage: Sum({}, { label: 'group' }),
          deps: [0, 1, 2].map((j) => `scale-${k * 3 + j}`),
          resources: resources({ cpu: '500m' }),
        });
      }
      nodes.push(
        { id: 'half-a', stage: Sum({}), deps: ['group-0', 'group-1'] },
        { id: 'half-b', stage: Sum({}), deps: ['group-2', 'group-3'] },
        { id: 'total', stage: Sum({}), deps: ['half-a', 'half-b'] },
      );
      expect(nodes).toHaveLength(20);

      const executor = new DagExecutor({ scheduler });
      const result = await executor.run({ payload: 1, seen: [] } satisfies Carried, nodes);
      expect(result.error).toBeUndefined();
      expect(result.status).toBe(ExecutionStatus.COMPLETED);
      expect(result.counts.COMPLETED).toBe(20);
      const total = result.outputs.total as Carried;
      expect(total.payload).toBe(78); // 1 × (1 + 2 + … + 12)
      expect(result.metrics['scale-11.factor']).toBe(12);

      // Every scale node ran in a Slurm job that had exactly what the node asked for.
      const scales = total.seen.filter((s) => s.node.startsWith('scale-'));
      expect(scales).toHaveLength(12);
      for (const s of scales) {
        const big = Number(s.node.slice('scale-'.length)) % 3 === 2;
        expect(s.slurmJobId, s.node).toMatch(/^\d+$/);
        expect(s.cpu, s.node).toBe(big ? 2 : 1);
        expect(s.slurmCpusPerTask, s.node).toBe(big ? 2 : 1);
        expect(s.slurmMemPerNode, s.node).toBe(big ? 512 : 256);
        expect(s.memoryBytes, s.node).toBe((big ? 512 : 256) * 1024 * 1024);
      }
      // A "500m" cpu request runs on one whole core.
      expect(total.seen.find((s) => s.node === 'group-0')?.slurmCpusPerTask).toBe(1);
      // Ready nodes of one stage and one shape went out together: 8 small scales in one array,
      // 4 big ones in another; one squeue call per status check.
      const stats = scheduler.stats;
      expect(stats.tasks).toBe(20);
      expect(stats.arrays).toBeGreaterThanOrEqual(2);
      expect(stats.sbatch).toBeLessThan(20);
      expect(stats.squeue).toBe(stats.polls);
      // Successful tasks leave nothing behind.
      expect(await readdir(join(scheduler.workDir, 'it')).catch(() => [])).toEqual([]);
    });

    describe('job endings', () => {
      it('a job that exits non-zero FAILS with its exit code and output in the node error', async (t) => {
        const scheduler = make(t);
        const executor = new DagExecutor({ scheduler, failureMode: 'continue' });
        const result = await executor.run({}, [
          { id: 'crash', stage: Exit({ code: 7, say: 'solver diverged at step 12' }) },
          { id: 'throws', stage: Throw({ message: 'matrix is singular' }) },
          { id: 'after-crash', stage: Sleep({ seconds: 0 }), deps: ['crash'] },
        ]);
        expect(result.status).toBe(ExecutionStatus.FAILED);
        const crash = result.nodes.crash;
        expect(crash?.status).toBe(ExecutionStatus.FAILED);
        expect(crash?.error?.code).toBe('PHYS_JOB_FAILED');
        expect(crash?.error?.message).toMatch(/failed with exit code 7 before writing a result/);
        expect(crash?.error?.message).toContain('solver diverged at step 12');
        expect(crash?.error?.details).toMatchObject({
          reason: 'EXIT',
          scheduler: 'slurm',
          nativeState: 'FAILED',
          nodeId: 'crash',
          exitCode: 7,
        });
        // A stage that throws: phys exec reports the stage's own error.
        expect(result.nodes.throws?.status).toBe(ExecutionStatus.FAILED);
        expect(result.nodes.throws?.error?.code).toBe('PHYS_STAGE_FAILED');
        expect(result.nodes.throws?.error?.message).toContain('matrix is singular');
        expect(result.nodes['after-crash']?.status).toBe('SKIPPED');
        // The failed task's envelope and log stay for inspection; the message names the log.
        const logFile = /output \((\S+slurm\.out)\)/.exec(
          crash?.error?.message ?? '',
        )?.[1] as string;
        expect(await readFile(logFile, 'utf8')).toContain('solver diverged');
      });

      it('a node timeout shorter than a Slurm minute is enforced by the scheduler', async (t) => {
        const scheduler = make(t);
        const executor = new DagExecutor({ scheduler });
        const result = await executor.run({}, [
          { id: 'slow', stage: Sleep({ seconds: 300 }), timeoutSeconds: 2 },
        ]);
        expect(result.nodes.slow?.status).toBe(ExecutionStatus.TIMEOUT);
        expect(result.nodes.slow?.error?.code).toBe('PHYS_TIMEOUT');
        expect(result.nodes.slow?.error?.message).toContain('timeout of 2 s');
      });

      it('runs a sweep of 100 tasks as one job array, then collects it', async (t) => {
        const scheduler = make(t, { arrayParallelism: 50 });
        const speed = 30;
        const nodes: NodeSpec[] = Array.from({ length: 100 }, (_, i) => ({
          id: `angle-${i + 1}`,
          stage: Range({ angleDeg: (i + 1) * 0.9, speed }),
        }));
        nodes.push({ id: 'best', stage: Best({}), deps: nodes.map((n) => n.id) });
        const result = await new DagExecutor({ scheduler }).run({}, nodes);
        expect(result.error).toBeUndefined();
        expect(result.counts.COMPLETED).toBe(101);
        const best = result.outputs.best as {
          count: number;
          bestAngle: number;
          bestRange: number;
          arrayJobIds: string[];
        };
        expect(best.count).toBe(100);
        expect(best.bestAngle).toBeCloseTo(45, 10);
        expect(best.bestRange).toBeCloseTo(speed ** 2 / 9.81, 10);
        // All 100 ran as tasks of one array job.
        expect(best.arrayJobIds).toHaveLength(1);
        expect(best.arrayJobIds[0]).toMatch(/^\d+$/);
        expect(scheduler.stats).toMatchObject({ tasks: 101, sbatch: 2, arrays: 1 });
        expect(scheduler.stats.squeue).toBe(scheduler.stats.polls);
      });
    });
  },
  { concurrent: true, timeout: 240_000 },
);
