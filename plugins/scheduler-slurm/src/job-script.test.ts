import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderJobScript, shellQuote } from './job-script.js';

describe('renderJobScript', () => {
  const dir = mkdtempSync(join(tmpdir(), "phys-job script's-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs setup lines, then execs the command on the envelope of its array index', () => {
    const script = join(dir, 'job.sh');
    writeFileSync(
      script,
      renderJobScript({
        batchDir: dir,
        setup: ['export GREETING="hello there"'],
        // Stands in for `node phys exec`: prints the argument it was given.
        execCommand: ['/bin/sh', '-c', 'echo "$GREETING: $0"'],
        comments: ['a test job'],
      }),
    );
    const run = (env: Record<string, string>) =>
      spawnSync('bash', [script], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '', ...env },
      });
    expect(run({ SLURM_ARRAY_TASK_ID: '17' }).stdout).toBe(`hello there: ${dir}/17/task.json\n`);
    // A plain job (no array) is task 0.
    expect(run({}).stdout).toBe(`hello there: ${dir}/0/task.json\n`);
  });

  it('quotes words for the shell only when needed', () => {
    expect(shellQuote('/usr/bin/node')).toBe('/usr/bin/node');
    expect(shellQuote("it's here")).toBe(`'it'\\''s here'`);
  });
});
