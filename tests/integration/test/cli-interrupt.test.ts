// Ctrl-C on DAG runs through the real binary: one SIGINT cancels whatever a node is doing, on
// this thread, on a worker thread or in a process of its own, and exits 130.
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPhys } from '@phys/cli/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture } from './helpers/cli.js';

/** Whether a process is still alive (a zombie waiting for its parent to reap it is not). */
function alive(pid: number): boolean {
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Runs `pipeline` and sends one SIGINT once node 'spin' runs (and `file`, if given, exists). */
async function interruptOnce(pipeline: string, file?: string) {
  const interrupt = new AbortController();
  let seen = '';
  let poll: NodeJS.Timeout | undefined;
  const result = runPhys(['run', pipeline, '--progress', 'plain'], {
    cwd: fixture('cli-interrupt'),
    env: file === undefined ? {} : { PHYS_TEST_PID_FILE: file },
    signal: interrupt.signal,
    onStderr: (chunk) => {
      seen += chunk;
      if (!/RUNNING\s+spin/.test(seen) || poll !== undefined) return;
      if (file === undefined) interrupt.abort();
      else {
        poll = setInterval(() => {
          if (existsSync(file)) interrupt.abort();
        }, 50);
      }
    },
  });
  try {
    return await result;
  } finally {
    clearInterval(poll);
  }
}

describe('interrupting a DAG run', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'phys-interrupt-dag-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('cancels a node computing on the run thread on the first SIGINT', async () => {
    const { code, stdout, stderr } = await interruptOnce('spin-inline');
    expect(code).toBe(130);
    expect(stdout).toMatch(/^✗ spin-inline: CANCELLED/m);
    expect(stdout).toMatch(/nodes: 1 completed · 1 cancelled/);
    expect(stderr).toMatch(/node 'spin' was busy in synchronous code/);
  });

  it('terminates a busy worker thread on the first SIGINT, not after the grace period', async () => {
    // The fixture's grace period is ten minutes: before, the thread was terminated only then.
    const { code, stdout, stderr } = await interruptOnce('spin-thread');
    expect(code).toBe(130);
    expect(stdout).toMatch(/^✗ spin-thread: CANCELLED/m);
    expect(stdout).toMatch(/a\.value\s+2/);
    expect(stderr).toMatch(/CANCELLED\s+spin/);
  });

  it("kills a busy process node's process group on the first SIGINT", async () => {
    const pidFile = join(dir, 'sleep.pid');
    const { code, stdout } = await interruptOnce('spin-process', pidFile);
    expect(code).toBe(130);
    expect(stdout).toMatch(/^✗ spin-process: CANCELLED/m);
    // The `sleep` the stage started went with it.
    const pid = Number(readFileSync(pidFile, 'utf8'));
    await expect.poll(() => alive(pid), { timeout: 10_000 }).toBe(false);
  });
});
