// How the mock cluster notices that a job's process ended, whatever the machine is doing
// meanwhile. A loaded machine delays file operations (they run on libuv's thread pool) while
// processes keep running: a job that ends at once must not end unseen.
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, openSync, read, readFileSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type JobHandle, resources, type SchedulerTask, type TaskOutcome } from '@phys/core';
import { ConformanceEcho, conformanceConfigFile, taskCommand } from '@phys/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockHpcScheduler, type MockHpcSchedulerInit } from '../src/index.js';

let dir: string;
const open: MockHpcScheduler[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'phys-mock-process-'));
});
afterAll(async () => {
  await Promise.all(open.map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

function cluster(options: Partial<MockHpcSchedulerInit> = {}): MockHpcScheduler {
  const scheduler = new MockHpcScheduler({
    configFile: conformanceConfigFile(),
    taskCommand: taskCommand(),
    workDir: join(dir, `work-${open.length}`),
    cpusPerHost: 2,
    queueLatencySeconds: 0.01,
    ...options,
  });
  open.push(scheduler);
  return scheduler;
}

function echo(nodeId: string): SchedulerTask {
  return {
    runId: 'process',
    nodeId,
    attempt: 1,
    stage: ConformanceEcho({ tag: nodeId }).ref,
    resources: resources(),
    input: { values: new Float64Array([1]) },
    policy: {},
  };
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 1));

/**
 * Occupies every thread of this process's libuv pool with a read of an empty FIFO, so that file
 * operations queue up as on a busy machine. `step()` lets the operations queued so far through
 * (one pool thread reads a byte, runs what is queued, then blocks again on a fresh read).
 */
function stallThreadPool(): { step(): void; release(): Promise<void> } {
  const fifo = join(dir, `pool-${open.length}.fifo`);
  execFileSync('mkfifo', [fifo]);
  // Read-write, so that opening never blocks and reads wait for bytes rather than a writer.
  const fd = openSync(fifo, 'r+');
  const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const pending = new Set<Promise<void>>();
  const block = (): void => {
    const done = new Promise<void>((resolve) => {
      read(fd, Buffer.alloc(1), 0, 1, null, () => resolve());
    });
    pending.add(done);
    void done.then(() => pending.delete(done));
  };
  for (let i = 0; i < threads; i++) block();
  return {
    step() {
      writeSync(fd, 'x');
      block();
    },
    async release() {
      writeSync(fd, 'x'.repeat(pending.size));
      await Promise.all(pending);
      closeSync(fd);
    },
  };
}

describe('job processes', () => {
  it('a job command that cannot be spawned fails the job with PHYS_SCHEDULER_MOCK_START_FAILED', async () => {
    const missing = join(dir, 'no-such-command');
    const s = cluster({ command: [missing] });
    const handle = await s.submit(echo('missing'));
    const outcome = await s.wait(handle);
    expect(outcome.status).toBe('FAILED');
    expect(outcome.error).toMatchObject({ code: 'PHYS_SCHEDULER_MOCK_START_FAILED' });
    expect(outcome.error?.message).toContain('ENOENT');
    expect(outcome.error?.message).toContain(missing);
    expect(s.job(handle).status).toBe('FAILED');
  });

  it('a job that ends while its log files are still being closed is seen to end', async () => {
    // The job's process writes its pid and exits at once, as a job script failing early does.
    const s = cluster({ command: ['/bin/sh', '-c', 'echo $$ > pid; exit 3'] });
    const pool = stallThreadPool();
    let handle: JobHandle | undefined;
    let outcome: TaskOutcome | undefined;
    try {
      void s.submit(echo('quick')).then((h) => {
        handle = h;
        void s.wait(h).then((o) => {
          outcome = o;
        });
      });
      // Let file operations through one batch at a time, but none from the moment the job's
      // process exists until it has exited and been reaped: the scheduler closes the job's
      // log files right after spawning it, so those closes wait until the process is gone.
      for (let steps = 0; outcome === undefined && steps < 2000; steps++) {
        const workDir = handle === undefined ? undefined : s.job(handle).workDir;
        if (workDir !== undefined && existsSync(join(workDir, 'stderr.log'))) {
          // stderr.log is opened last before the spawn; wait for the process to come and go.
          let pid = Number.NaN;
          while (!Number.isInteger(pid) || pid <= 0 || isAlive(pid)) {
            await tick();
            if (existsSync(join(workDir, 'pid'))) {
              pid = Number(readFileSync(join(workDir, 'pid'), 'utf8').trim() || Number.NaN);
            }
          }
        }
        pool.step();
        await tick();
      }
    } finally {
      await pool.release();
    }
    expect(outcome, 'the job never ended: its exit went unnoticed').toBeDefined();
    expect(outcome?.status).toBe('FAILED');
    expect(outcome?.error).toMatchObject({
      code: 'PHYS_JOB_FAILED',
      details: { reason: 'EXIT', exitCode: 3 },
    });
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
