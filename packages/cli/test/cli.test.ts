// The commands of `phys` in this process, on fixture projects that need no plugin. The CLI with
// the executor-dag and cache-disk plugins (DAG runs, `phys plan`, `phys cache`) is tested in
// tests/integration/test/cli-*.test.ts.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, fixture } from './helpers.js';

describe('phys (usage)', () => {
  it('prints help listing every command, exit 0', async () => {
    const { code, stdout } = await cli(['--help']);
    expect(code).toBe(0);
    for (const command of ['run', 'config', 'graph', 'exec']) expect(stdout).toContain(command);
    expect(stdout).toContain('78 invalid config');
  });

  it('prints help of a command', async () => {
    const { code, stdout } = await cli(['run', '--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('--set <key=value>');
    expect(stdout).toContain('--json');
  });

  it("`phys help <command>` prints that command's help, exit 0", async () => {
    const { code, stdout, stderr } = await cli(['help', 'graph']);
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: phys graph [options] <pipeline>');
    expect(stderr).toBe('');
  });

  it('prints the package version', async () => {
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
    const { code, stdout } = await cli(['--version']);
    expect(code).toBe(0);
    expect(stdout.trim()).toBe(pkg.version);
  });

  it('exits 64 with help when no command is given', async () => {
    const { code, stderr } = await cli([]);
    expect(code).toBe(64);
    expect(stderr).toContain('Usage: phys');
    expect(stderr).toContain('error PHYS_USAGE: no command given');
  });

  it('exits 64 on an unknown command, suggesting the close one', async () => {
    const { code, stderr } = await cli(['rnu', 'arith']);
    expect(code).toBe(64);
    expect(stderr).toMatch(/^error PHYS_USAGE: unknown command 'rnu'/m);
    expect(stderr).toContain('run');
  });

  it('exits 64 on an unknown flag, and gives JSON when asked', async () => {
    const text = await cli(['run', 'arith', '--frobnicate']);
    expect(text.code).toBe(64);
    expect(text.stderr).toContain("error PHYS_USAGE: unknown option '--frobnicate'");

    const json = await cli(['run', 'arith', '--frobnicate', '--json']);
    expect(json.code).toBe(64);
    expect(json.stderr).toBe('');
    expect(JSON.parse(json.stdout)).toMatchObject({
      exitCode: 64,
      error: { code: 'PHYS_USAGE', name: 'UsageError' },
    });
  });

  it('exits 64 on a missing argument', async () => {
    const { code, stderr } = await cli(['graph']);
    expect(code).toBe(64);
    expect(stderr).toContain("missing required argument 'pipeline'");
  });

  it('exits 64 on a malformed --set', async () => {
    const { code, stderr } = await cli(['run', 'arith', '--set', 'factor']);
    expect(code).toBe(64);
    expect(stderr).toContain("--set expects key=value, got 'factor'");
  });
});

describe('phys run (sequential)', () => {
  it('runs the pipeline and prints status, duration and the metrics table', async () => {
    const { code, stdout, stderr } = await cli(['run', 'arith']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^✓ arith: COMPLETED in .+ \(sequential, 2 stages\)$/m);
    expect(stdout).toMatch(/arith\.add\.x\s+2$/m);
    // The config's policy sets factor = 2.
    expect(stdout).toMatch(/arith\.scale\.x\s+4$/m);
    // Not a terminal: one line per step event on stderr.
    expect(stderr).toMatch(/\[0\/2\] RUNNING\s+add/);
    expect(stderr).toMatch(/\[2\/2\] COMPLETED\s+scale/);
  });

  it('--json prints one object with status, metrics and the final state', async () => {
    const { code, stdout, stderr } = await cli(['run', 'arith', '--json']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({
      pipeline: 'arith',
      kind: 'sequential',
      status: 'COMPLETED',
      exitCode: 0,
      metrics: { 'arith.add.x': 2, 'arith.scale.x': 4 },
      outputs: { x: 4 },
    });
    expect(typeof report.runId).toBe('string');
    expect(report.durationSeconds).toBeGreaterThanOrEqual(0);
    // Not recording: the lazy artifact was never evaluated.
    expect(report.artifacts['arith.scale.report']).toEqual({ lazy: true, recorded: false });
  });

  it('--set overrides a policy value (parsed as JSON)', async () => {
    const { stdout } = await cli(['run', 'arith', '--json', '--set', 'factor=10']);
    expect(JSON.parse(stdout).metrics['arith.scale.x']).toBe(20);
  });

  describe('--record', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'phys-cli-record-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('evaluates lazy artifacts and writes them under the directory', async () => {
      const { code, stdout } = await cli(['run', 'arith', '--record', dir]);
      expect(code).toBe(0);
      const line = stdout.split('\n').find((l) => l.includes('arith.scale.report'));
      expect(line).toBeDefined();
      const path = line!.trim().split(/\s+/)[1]!;
      expect(path.startsWith(dir)).toBe(true);
      expect(await readFile(path, 'utf8')).toBe('x = 4\n');
    });
  });

  it('exits 1 when a stage throws, with the error and its cause', async () => {
    const { code, stdout, stderr } = await cli(['run', 'broken']);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^✗ broken: FAILED/m);
    expect(stderr).toMatch(/^error PHYS_STAGE_FAILED: Stage 'fail' failed: the solver diverged/m);
    expect(stderr).toMatch(/^ {2}cause Error: the solver diverged/m);
  });

  it('a failed run with --json reports status FAILED and the error', async () => {
    const { code, stdout } = await cli(['run', 'broken', '--json']);
    expect(code).toBe(1);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({
      status: 'FAILED',
      exitCode: 1,
      error: { code: 'PHYS_STAGE_FAILED', cause: { message: 'the solver diverged' } },
    });
    expect(report.error.stack).toBeUndefined();
  });

  it('exits 64 for an unknown pipeline and names the known ones', async () => {
    const { code, stderr } = await cli(['run', 'nope']);
    expect(code).toBe(64);
    expect(stderr).toMatch(/^error PHYS_USAGE: Unknown pipeline 'nope'.*arith, broken/m);
    expect(stderr).not.toContain('Did you mean');
  });

  it('suggests the declared pipeline a misspelled name is close to', async () => {
    const { code, stderr } = await cli(['run', 'arth']);
    expect(code).toBe(64);
    expect(stderr).toMatch(
      /^error PHYS_USAGE: Unknown pipeline 'arth'\. Did you mean 'arith'\? Pipelines in .*: arith, broken/m,
    );
  });

  it('exits 130 when the run is interrupted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('SIGINT'));
    const { code, stdout } = await cli(['run', 'arith', '--json'], { signal: controller.signal });
    expect(code).toBe(130);
    expect(JSON.parse(stdout)).toMatchObject({ status: 'CANCELLED', exitCode: 130 });
  });
});

describe('config errors exit 78', () => {
  it('an unknown plugin lists the specifiers tried', async () => {
    const { code, stderr } = await cli(['run', 'x'], { cwd: fixture('bad-plugin') });
    expect(code).toBe(78);
    expect(stderr).toMatch(/^error PHYS_PLUGIN_NOT_FOUND: /m);
    expect(stderr).toContain('@phys/no-such-plugin-for-phys');
    expect(stderr).toContain('phys-plugin-no-such-plugin-for-phys');
  });

  it('a config that throws while loading names the file and the cause', async () => {
    const { code, stderr } = await cli(['config'], { cwd: fixture('throws') });
    expect(code).toBe(78);
    expect(stderr).toMatch(/^error PHYS_CONFIG_LOAD_FAILED: .*throws[/\\]phys\.config\.ts/m);
    expect(stderr).toMatch(/cause Error: cannot read the mesh file/);
  });

  it('a --config file that does not exist', async () => {
    const { code, stdout } = await cli(['config', '--config', 'missing.config.ts', '--json']);
    expect(code).toBe(78);
    expect(JSON.parse(stdout)).toMatchObject({
      exitCode: 78,
      error: { code: 'PHYS_CONFIG_NOT_FOUND' },
    });
  });

  it('no config anywhere above the directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'phys-cli-empty-'));
    try {
      const { code, stderr } = await cli(['config'], { cwd: dir });
      expect(code).toBe(78);
      expect(stderr).toMatch(/^error PHYS_CONFIG_NOT_FOUND: No phys config found/m);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a DAG pipeline without an executor plugin', async () => {
    const { code, stderr } = await cli(['run', 'graph'], { cwd: fixture('no-executor') });
    expect(code).toBe(78);
    expect(stderr).toMatch(/^error PHYS_CONFIG_INVALID: Pipeline 'graph' is a DAG, but no plugin/m);
    expect(stderr).toContain("plugins: ['executor-dag']");
  });

  it('--cwd selects the project', async () => {
    const { code } = await cli(['config', '--cwd', fixture('throws')]);
    expect(code).toBe(78);
  });
});

describe('phys config', () => {
  it('--json gives the same as one object', async () => {
    const { code, stdout } = await cli(['config', '--json']);
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.configFile).toBe(join(fixture('seq'), 'phys.config.ts'));
    expect(report.policy).toEqual({ factor: 2 });
    expect(report.plugins).toEqual([]);
    expect(report.stages).toEqual([
      { name: 'demo/add', version: '1', description: 'Adds `amount` to x' },
      { name: 'demo/fail', version: '1' },
      {
        name: 'demo/scale',
        version: '2',
        description: 'Multiplies x by the policy value `factor`',
      },
    ]);
    expect(report.pipelines).toEqual([
      { name: 'arith', kind: 'sequential', size: 2, description: 'Adds one, then scales' },
      { name: 'broken', kind: 'sequential', size: 2 },
    ]);
  });
});

describe('phys graph', () => {
  it('draws a sequential pipeline as a chain in Mermaid', async () => {
    const { code, stdout } = await cli(['graph', 'arith']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^flowchart /);
    expect(stdout).toMatch(/n0\["add.*demo\/add/);
    expect(stdout).toMatch(/n1\["scale.*demo\/scale/);
    expect(stdout).toContain('n0 --> n1');
  });

  it('draws a DAG in Graphviz dot', async () => {
    const { code, stdout } = await cli(['graph', 'fan', '--format', 'dot'], {
      cwd: fixture('dag'),
    });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^digraph/);
    expect(stdout).toContain('"a" -> "sum";');
    expect(stdout).toContain('"b" -> "sum";');
  });

  it('rejects an unknown format with exit 64', async () => {
    const { code, stderr } = await cli(['graph', 'arith', '--format', 'svg']);
    expect(code).toBe(64);
    expect(stderr).toContain("'svg' is invalid");
  });
});
