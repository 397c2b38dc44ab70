// `phys sweep`, which @phys/sweep adds to the CLI, run through the CLI's own entry point (as the
// `phys` binary runs it) in a project whose config lists the sweep and executor-dag plugins.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '@phys/cli';
import { runPhys } from '@phys/cli/testing';
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

/** Every key `stack` anywhere in a JSON value, by path. */
function stacksIn(value: unknown, path = '$'): string[] {
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, v]) => [
    ...(key === 'stack' ? [`${path}.${key}`] : []),
    ...stacksIn(v, `${path}.${key}`),
  ]);
}

// The `phys` binary itself, in a child process: a sweep too large to expand must end in a clear
// error, not in V8 running out of memory (exit 134 after more than a minute).
describe('phys sweep limits (the binary)', () => {
  it('refuses a 1e8-point grid before expanding it: exit 78, PHYS_SWEEP_TOO_LARGE, the count', async () => {
    const args = ['sweep', 'fit', '--set', 'train.lr=0.001..1:10000'];
    const bs = ['--set', 'train.bs=1..10000:10000:int'];
    const human = await runPhys([...args, ...bs, '--progress', 'none'], { cwd });
    expect(human.signal).toBeNull();
    expect(human.code).toBe(78);
    expect(human.stdout).toBe('');
    expect(human.stderr).toContain(
      'error PHYS_SWEEP_TOO_LARGE: The sweep has 100,000,000 points (grid: train.bs 10,000 × train.lr 10,000), more than maxPoints allows (100,000); nothing was expanded.',
    );
    const json = await runPhys([...args, ...bs, '--json'], { cwd });
    expect(json.code).toBe(78);
    expect(JSON.parse(json.stdout)).toMatchObject({
      error: {
        code: 'PHYS_SWEEP_TOO_LARGE',
        details: { points: 100_000_000, maxPoints: 100_000, mode: 'grid' },
      },
      exitCode: 78,
    });
  });

  it("reads maxPoints from the plugin's options, and names the value that would allow the sweep", async () => {
    const limited = ['--config', 'limited.config.ts', '--progress', 'none'];
    const over = await runPhys(
      ['sweep', 'fit', '--set', 'train.lr=0.1,0.2', '--set', 'train.bs=4,8', ...limited],
      { cwd },
    );
    expect(over.code).toBe(78);
    expect(over.stderr).toContain('The sweep has 4 points (grid: train.bs 2 × train.lr 2)');
    expect(over.stderr).toContain("plugins: [['sweep', { maxPoints: 4 }]]");
    const within = await runPhys(['sweep', 'fit', '--set', 'train.lr=0.1,0.2,0.3', ...limited], {
      cwd,
    });
    expect(within.code).toBe(0);
    expect(within.stdout).toMatch(/^✓ sweep fit: COMPLETED in .+ \(grid, 3 points, 7 nodes\)$/m);
  });

  it('says what is wrong with a range like 1..2:-5 (exit 64), instead of passing it on as a string', async () => {
    const { code, stderr } = await runPhys(['sweep', 'fit', '--set', 'train.lr=1..2:-5'], { cwd });
    expect(code).toBe(64);
    expect(stderr).toContain(
      "error PHYS_USAGE: --set train.lr: '1..2:-5' is not a valid range: the number of steps (how many values from lo to hi) must be a whole number >= 1, got '-5'. Write lo..hi[:steps][:log][:int], e.g. 1..2:5",
    );
    expect(stderr).not.toContain('expected number, received string');
  });

  it('--json has no stacks, as docs/cli.md says, and --verbose adds them to every failed node', async () => {
    const cliMd = await readFile(new URL('../../../docs/cli.md', import.meta.url), 'utf8');
    expect(cliMd).toContain(
      "Stacks are left out, unless `--verbose`, `PHYS_DEBUG=1` or `logLevel: 'debug'` asks for them",
    );
    const args = ['sweep', 'fit', '--set', 'train.opt=sgd,broken', '--json'];
    const plain = JSON.parse((await runPhys(args, { cwd })).stdout);
    expect(plain.nodes['train[opt=broken]'].error).toMatchObject({
      code: 'PHYS_STAGE_FAILED',
      cause: { name: 'Error', message: 'the optimiser diverged' },
    });
    expect(stacksIn(plain)).toEqual([]);
    const verbose = JSON.parse((await runPhys([...args, '--verbose'], { cwd })).stdout);
    const error = verbose.nodes['train[opt=broken]'].error;
    expect(error.stack).toMatch(/^StageExecutionError: /);
    expect(error.cause.stack).toMatch(/^Error: the optimiser diverged\n\s+at /);
    const debug = await runPhys(args, { cwd, env: { PHYS_DEBUG: '1' } });
    expect(stacksIn(JSON.parse(debug.stdout))).toEqual(stacksIn(verbose));
  });
});
