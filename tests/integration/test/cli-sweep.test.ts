// `phys sweep`, which @phys/sweep adds to the CLI, run through the CLI's own entry point (as the
// `phys` binary runs it) in a project whose config lists the sweep and executor-dag plugins.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '@phys/cli';
import { afterAll, describe, expect, it } from 'vitest';

const cwd = fileURLToPath(new URL('./fixtures/cli-sweep', import.meta.url));

async function cli(argv: readonly string[], options: { cwd: string }) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    cwd: options.cwd,
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s), columns: 100 },
    isTTY: false,
  });
  return { code, stdout, stderr };
}

const scratch = mkdtemp(join(tmpdir(), 'phys-cli-sweep-'));
afterAll(async () => rm(await scratch, { recursive: true, force: true }));

const loss = (lr: number, bs: number) => 10 * lr + 1 / bs;

describe('phys sweep', () => {
  it('is listed with its options by `phys sweep --help`', async () => {
    const { code, stdout } = await cli(['sweep', '--help'], { cwd });
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: phys sweep [options] <pipeline>');
    for (const flag of [
      '--set <node.param=values>',
      '--mode <mode>',
      '--samples <n>',
      '--out <file>',
    ]) {
      expect(stdout).toContain(flag);
    }
  });

  it('runs the pipeline once per grid point and prints the results table', async () => {
    const { code, stdout, stderr } = await cli(
      ['sweep', 'fit', '--set', 'train.lr=0.01,0.1', '--set', 'train.bs=4,8', '--progress', 'none'],
      { cwd },
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^✓ sweep fit: COMPLETED in .+ \(grid, 4 points, 9 nodes\)$/m);
    expect(stdout).toMatch(/^ {2}point\s+bs\s+lr\s+train\.loss\s+score\.score$/m);
    expect(stdout).toMatch(/^ {2}bs=4,lr=0\.01\s+4\s+0\.01\s+0\.35\s+0\.740741$/m);
    expect(stdout).toMatch(/^ {2}bs=8,lr=0\.1\s+8\s+0\.1\s+1\.125\s+0\.470588$/m);
  });

  it('prints JSON and writes CSV with --out; zip mode pairs the values', async () => {
    const out = join(await scratch, 'results.csv');
    const { code, stdout } = await cli(
      [
        'sweep',
        'fit',
        '--set',
        'train.lr=0.01,0.1',
        '--set',
        'train.bs=4,8',
        '--mode',
        'zip',
        '--json',
        '--out',
        out,
      ],
      { cwd },
    );
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({
      pipeline: 'fit',
      status: 'COMPLETED',
      mode: 'zip',
      points: 2,
      out,
      exitCode: 0,
    });
    expect(report.results.rows.map((r: { point: string }) => r.point)).toEqual([
      'bs=4,lr=0.01',
      'bs=8,lr=0.1',
    ]);
    expect(report.results.rows[1].metrics['train.loss']).toBeCloseTo(loss(0.1, 8), 12);
    const csv = await readFile(out, 'utf8');
    expect(csv.split('\r\n')).toEqual([
      'point,bs,lr,train.loss,score.score',
      `"bs=4,lr=0.01",4,0.01,${loss(0.01, 4)},${1 / (1 + loss(0.01, 4))}`,
      `"bs=8,lr=0.1",8,0.1,${loss(0.1, 8)},${1 / (1 + loss(0.1, 8))}`,
      '',
    ]);
  });

  it('draws reproducible Latin-hypercube points from ranges', async () => {
    const args = [
      'sweep',
      'fit',
      '--set',
      'train.lr=0.001..1:log',
      '--mode',
      'lhs',
      '--samples',
      '5',
      '--seed',
      '3',
      '--json',
    ];
    const one = JSON.parse((await cli(args, { cwd })).stdout);
    const two = JSON.parse((await cli(args, { cwd })).stdout);
    expect(one.points).toBe(5);
    expect(one.results.rows.map((r: { point: string }) => r.point)).toEqual(
      two.results.rows.map((r: { point: string }) => r.point),
    );
    for (const row of one.results.rows) expect(row.params.lr).toBeGreaterThanOrEqual(0.001);
  });

  it('reports every bad point before running anything (exit 78)', async () => {
    const { code, stderr } = await cli(
      ['sweep', 'fit', '--set', 'train.lr=-1,0,0.1', '--progress', 'none'],
      { cwd },
    );
    expect(code).toBe(78);
    expect(stderr).toContain('error PHYS_SWEEP_INVALID');
    expect(stderr).toContain('train[lr=-1].lr');
    expect(stderr).toContain('train[lr=0].lr');
  });

  it('rejects unknown parameters and nodes, and usage mistakes (exit 64 or 78)', async () => {
    const unknownParam = await cli(['sweep', 'fit', '--set', 'train.lrr=1'], { cwd });
    expect(unknownParam.code).toBe(78);
    expect(unknownParam.stderr).toContain(
      "train.lrr: unknown parameter: the config of stage 'sweep-demo/train' has no key 'lrr'",
    );
    const unknownNode = await cli(['sweep', 'fit', '--set', 'trian.lr=1'], { cwd });
    expect(unknownNode.code).toBe(64);
    expect(unknownNode.stderr).toContain('no node of the pipeline matches');
    expect((await cli(['sweep', 'fit'], { cwd })).stderr).toContain('needs at least one --set');
    expect(
      (await cli(['sweep', 'fit', '--set', 'train.lr=1', '--mode', 'lhs'], { cwd })).stderr,
    ).toContain('--mode lhs needs --samples N');
    const sequential = await cli(['sweep', 'line', '--set', 'x.n=1'], { cwd });
    expect(sequential.code).toBe(64);
    expect(sequential.stderr).toContain("'line' is sequential");
  });

  it('exits 1 when points fail, keeping the rows of the others', async () => {
    const { code, stdout, stderr } = await cli(
      ['sweep', 'fit', '--set', 'train.opt=sgd,broken', '--json'],
      { cwd },
    );
    expect(code).toBe(1);
    const report = JSON.parse(stdout);
    expect(report.status).toBe('FAILED');
    expect(stderr).toBe('');
    const [good, broken] = report.results.rows;
    expect(broken).toMatchObject({
      point: 'opt=broken',
      metrics: { 'train.loss': null, 'score.score': null },
    });
    expect(report.nodes['train[opt=broken]'].error.message).toContain('the optimiser diverged');
    expect(report.nodes['score[opt=broken]'].status).toBe('SKIPPED');
    expect(good.point).toBe('opt=sgd');
    expect(good.metrics['train.loss']).toBeCloseTo(loss(0.1, 8), 12);
  });
});
