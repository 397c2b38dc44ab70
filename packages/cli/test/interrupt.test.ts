// Ctrl-C through the real binary: the first SIGINT or SIGTERM cancels the run whatever its stages
// do, reports the partial result and exits 130; a second one stops it at once.

import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

const launcher = fileURLToPath(new URL('../bin/phys.js', import.meta.url));
const cwd = fileURLToPath(new URL('./fixtures/interrupt', import.meta.url));

// A test that times out leaves its `phys` computing forever: killed after each test.
const started = new Set<ChildProcess>();
afterEach(() => {
  for (const child of started) child.kill('SIGKILL');
  started.clear();
});

interface Interrupted {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `phys run <pipeline>` and sends `signals` one after the other: the first once stderr
 * matches `when` (or, for a file path, once that file exists), each next one once the CLI said
 * it is cancelling.
 */
function interrupt(
  argv: readonly string[],
  when: RegExp | string,
  signals: readonly NodeJS.Signals[],
): Promise<Interrupted> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [launcher, ...argv], {
      cwd,
      env: {
        ...process.env,
        NO_COLOR: '1',
        ...(typeof when === 'string' ? { PHYS_TEST_MARKER: when } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    started.add(child);
    const poll =
      typeof when === 'string'
        ? setInterval(() => {
            if (!existsSync(when)) return;
            clearInterval(poll);
            sent++;
            child.kill(signals[0]);
          }, 50)
        : undefined;
    let stdout = '';
    let stderr = '';
    let sent = 0;
    const next = (): void => {
      const signal = signals[sent];
      if (signal === undefined) return;
      const ready =
        sent === 0
          ? typeof when !== 'string' && when.test(stderr)
          : /cancelling the run/.test(stderr);
      if (!ready) return;
      sent++;
      child.kill(signal);
    };
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      next();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(poll);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('interrupting phys run', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'phys-interrupt-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('cancels a stage that computes without yielding on the first SIGINT', async () => {
    // Before the run host, the signal handler never ran: the run went on forever.
    const { code, stdout, stderr } = await interrupt(
      ['run', 'spin-seq', '--progress', 'plain'],
      /RUNNING\s+spin/,
      ['SIGINT'],
    );
    expect(code).toBe(130);
    expect(stdout).toMatch(/^✗ spin-seq: CANCELLED/m);
    // The partial result: the stage that completed, and what it measured.
    expect(stdout).toMatch(/stages: 1 completed · 1 cancelled/);
    expect(stdout).toMatch(/first\.value = 7/);
    expect(stderr).toMatch(/stage 'spin' was busy in synchronous code/);
  });

  it('treats SIGTERM as SIGINT', async () => {
    const { code, stdout } = await interrupt(
      ['run', 'spin-seq', '--progress', 'plain'],
      /RUNNING\s+spin/,
      ['SIGTERM'],
    );
    expect(code).toBe(130);
    expect(stdout).toMatch(/^✗ spin-seq: CANCELLED/m);
  });

  it('reports the partial result as JSON with --json', async () => {
    const { code, stdout } = await interrupt(
      ['run', 'spin-seq', '--json'],
      join(dir, 'json-marker'),
      ['SIGINT'],
    );
    expect(code).toBe(130);
    const report = JSON.parse(stdout) as {
      status: string;
      exitCode: number;
      nodes: Record<string, { status: string; metrics?: Record<string, number> }>;
      error: { code: string };
    };
    expect(report).toMatchObject({ status: 'CANCELLED', exitCode: 130 });
    expect(report.error.code).toBe('PHYS_CANCELLED');
    expect(report.nodes.first).toEqual({ status: 'COMPLETED', metrics: { value: 7 } });
    expect(report.nodes.spin?.status).toBe('CANCELLED');
  });

  it('stops waiting for a stage that ignores its AbortSignal', async () => {
    // Before, the pipeline awaited the stage's promise, which settles only after a minute.
    const { code, stdout } = await interrupt(
      ['run', 'deaf-seq', '--progress', 'plain'],
      /RUNNING\s+deaf/,
      ['SIGINT'],
    );
    expect(code).toBe(130);
    expect(stdout).toMatch(/^✗ deaf-seq: CANCELLED/m);
    expect(stdout).toMatch(/first\.value\s+7/);
  });

  it('stops at once on a second SIGINT when cancelling hangs', async () => {
    const { code, stdout, stderr } = await interrupt(
      ['run', 'stubborn-seq', '--progress', 'plain'],
      /RUNNING\s+stubborn/,
      ['SIGINT', 'SIGINT'],
    );
    expect(code).toBe(130);
    expect(stdout).toMatch(/^✗ stubborn-seq: CANCELLED/m);
    expect(stderr).toMatch(/stopped at once on the second signal/);
  });
});

describe('interrupting a plugin command', () => {
  it('prints the notice the command declares, not the run text, and exits with its code', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const { code, stderr } = await interrupt(['hold'], /hold: holding/, [signal]);
      const again = signal === 'SIGINT' ? 'press Ctrl-C' : 'send it';
      expect(stderr).toContain(`${signal}: releasing the hold (${again} again to stop at once).`);
      expect(stderr).not.toContain('cancelling the run');
      expect(stderr).toMatch(/hold: released/);
      expect(code).toBe(0);
    }
  });
});
