// The end-to-end flow of a lab: `phys serve` in examples/ising, then from a second shell
// `phys submit ising-quick --remote URL` prints a job id and `phys runs wait <id> --remote URL`
// prints the result table. Every command is the built binary in a child process.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runPhys } from '@phys/cli/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Served, serve } from './helpers/serve.js';

const ising = fileURLToPath(new URL('../../../examples/ising', import.meta.url));
let dir = '';
let served: Served;

/** `phys ...` in examples/ising, as a user's second shell runs it. */
function phys(argv: readonly string[], env: Record<string, string | undefined> = {}) {
  return runPhys(argv, {
    cwd: ising,
    env: { NODE_PATH: undefined, PHYS_REMOTE: undefined, PHYS_EXAMPLE_CACHE_DIR: dir, ...env },
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'phys-remote-ising-'));
  // A fresh cache, so that the run computes.
  served = await serve(ising, {
    store: join(dir, 'runs.sqlite'),
    env: { PHYS_EXAMPLE_CACHE_DIR: dir },
  });
});

afterAll(async () => {
  expect(await served?.stop()).toBe(0);
  await rm(dir, { recursive: true, force: true });
});

describe('phys submit and phys runs against phys serve (examples/ising)', () => {
  let jobId = '';

  it('submit prints the job id, and the run is queued on the server', async () => {
    const { code, stdout, stderr } = await phys(['submit', 'ising-quick', '--remote', served.url]);
    expect(stderr).toContain(`submitted ising-quick: run `);
    expect(code).toBe(0);
    jobId = stdout.trim();
    expect(jobId).toMatch(/^[0-9a-f-]{36}$/);
    expect(stderr).toContain(`phys runs wait ${jobId} --remote ${served.url}`);
  });

  it('runs wait prints the result table, the critical temperature first', async () => {
    const { code, stdout } = await phys(['runs', 'wait', jobId, '--remote', served.url]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^✓ ising-quick: COMPLETED in .+ \(18 nodes\)$/m);
    expect(stdout).toContain(`  run ${jobId}`);
    expect(stdout).toMatch(/^ {2}nodes: 18 completed$/m);
    const rows = stdout.split('\n').filter((line) => /^ {2}\S+\s+-?[\d.e-]+$/.test(line));
    expect(rows[0]).toMatch(/^ {2}critical\.tc\s+2\.\d+$/);
  });

  it('runs ls and runs show find the run, also through PHYS_REMOTE', async () => {
    const ls = await phys(['runs', 'ls', '--remote', served.url]);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toMatch(new RegExp(`^${jobId}\\s+ising-quick\\s+COMPLETED\\s+1\\s`, 'm'));
    const show = await phys(['runs', 'show', jobId, '--json'], { PHYS_REMOTE: served.url });
    expect(show.code).toBe(0);
    const record = JSON.parse(show.stdout) as {
      status: string;
      nodes: Record<string, { status: string }>;
      outputs: Record<string, unknown>;
    };
    expect(record.status).toBe('COMPLETED');
    expect(Object.keys(record.nodes)).toHaveLength(18);
    expect(Object.keys(record.outputs)).toEqual(['critical']);
  });

  it('the same --run-id twice is one run; cancelling a finished run exits 1', async () => {
    const first = await phys([
      'submit',
      'ising-quick',
      '--remote',
      served.url,
      '--run-id',
      'lab-scan-001',
      '--wait',
      '--json',
    ]);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ jobId: 'lab-scan-001', status: 'COMPLETED' });
    const again = await phys([
      'submit',
      'ising-quick',
      '--remote',
      served.url,
      '--run-id',
      'lab-scan-001',
    ]);
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).toBe('lab-scan-001');
    expect(again.stderr).toContain('(COMPLETED)');
    const cancel = await phys(['runs', 'cancel', 'lab-scan-001', '--remote', served.url]);
    expect(cancel.code).toBe(1);
    expect(cancel.stdout).toContain('had already ended COMPLETED');
  });

  it('runs logs reads the log tail, and --follow ends with a finished run', async () => {
    const tail = await phys(['runs', 'logs', jobId, '--remote', served.url, '--json']);
    expect(tail.code).toBe(0);
    expect(Array.isArray((JSON.parse(tail.stdout) as { lines: unknown }).lines)).toBe(true);
    const follow = await phys(['runs', 'logs', jobId, '--remote', served.url, '--follow']);
    expect(follow.code).toBe(0);
  });

  it('a misspelled pipeline suggests the declared one: run, submit, and submit to the server', async () => {
    for (const argv of [
      ['run', 'isng-quick'],
      ['submit', 'isng-quick'],
      ['submit', 'isng-quick', '--remote', served.url],
    ]) {
      const { code, stderr } = await phys(argv);
      expect(stderr, argv.join(' ')).toMatch(
        /pipeline 'isng-quick'\. Did you mean 'ising-quick'\?/,
      );
      expect(code, argv.join(' ')).toBe(64);
    }
  });

  it('an unknown job id exits 64 with PHYS_RUN_NOT_FOUND', async () => {
    const { code, stderr } = await phys(['runs', 'show', 'no-such-run', '--remote', served.url]);
    expect(code).toBe(64);
    expect(stderr).toContain('PHYS_RUN_NOT_FOUND');
  });
});
