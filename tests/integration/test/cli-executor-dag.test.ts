// `phys` with the executor-dag plugin: DAG runs (progress, --json, failures, --record, ^C, a
// closed pipe), `phys config` listing the plugin, and plugin commands that run a DAG through the
// configured executor. The CLI's own tests (packages/cli/test) need no plugin.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runPhys } from '@phys/cli/testing';
import { describe, expect, it } from 'vitest';
import { cli, fixture } from './helpers/cli.js';

/** The `phys` launcher of @phys/cli, which package managers link as `phys`. */
const launcher = join(
  dirname(createRequire(import.meta.url).resolve('@phys/cli/package.json')),
  'bin',
  'phys.js',
);

describe('phys run (DAG, through the executor plugin)', () => {
  it('prints one line per node event when stderr is not a terminal, then the summary', async () => {
    const { code, stdout, stderr } = await cli(['run', 'fan'], { cwd: fixture('cli-dag') });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^✓ fan: COMPLETED in .+ \(dag, 3 nodes\)$/m);
    expect(stdout).toMatch(/^ {2}nodes: 3 completed$/m);
    expect(stdout).toMatch(/sum\.total\s+5$/m);
    expect(stderr).toMatch(/\[3\/3\] COMPLETED sum$/m);
    expect(stderr).not.toContain('\u001B[');
  });

  it('draws a live display on a terminal, erased before the summary', async () => {
    const { code, stdout, stderr } = await cli(['run', 'fan'], {
      cwd: fixture('cli-dag'),
      isTTY: true,
    });
    expect(code).toBe(0);
    expect(stderr).toContain('phys run fan  0/3');
    expect(stderr).toContain('3 queued');
    expect(stderr).toContain('\u001B[2K');
    expect(stderr).not.toMatch(/\] COMPLETED/);
    expect(stdout).toMatch(/^✓ fan: COMPLETED/m);
  });

  it('--json reports every node', async () => {
    const { code, stdout } = await cli(['run', 'fan', '--json'], { cwd: fixture('cli-dag') });
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({
      pipeline: 'fan',
      kind: 'dag',
      status: 'COMPLETED',
      exitCode: 0,
      counts: { COMPLETED: 3 },
      metrics: { 'a.value': 2, 'b.value': 3, 'sum.total': 5 },
    });
    expect(Object.keys(report.nodes).sort()).toEqual(['a', 'b', 'sum']);
    expect(report.nodes.sum).toMatchObject({ status: 'COMPLETED', attempts: 1 });
  });

  it('exits 1 when a node fails, naming the node and its error', async () => {
    const { code, stdout, stderr } = await cli(['run', 'fan-fail'], { cwd: fixture('cli-dag') });
    expect(code).toBe(1);
    expect(stdout).toMatch(/^✗ fan-fail: FAILED/m);
    expect(stderr).toContain('failed nodes (1):');
    expect(stderr).toMatch(/^ {2}bad FAILED: PHYS_STAGE_FAILED .*the mesh is degenerate/m);
  });

  it("--record writes the nodes' artifacts of a DAG run, keyed by node id", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'phys-cli-record-dag-'));
    try {
      const { code, stdout } = await cli(['run', 'fan', '--record', dir, '--json'], {
        cwd: fixture('cli-dag'),
      });
      expect(code).toBe(0);
      const ref = JSON.parse(stdout).artifacts['sum.report'] as { path: string };
      expect(ref.path.startsWith(dir)).toBe(true);
      expect(await readFile(ref.path, 'utf8')).toBe('total = 5\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('without --record a DAG run leaves lazy artifacts unevaluated', async () => {
    const { stdout } = await cli(['run', 'fan', '--json'], { cwd: fixture('cli-dag') });
    expect(JSON.parse(stdout).artifacts['sum.report']).toEqual({ lazy: true, recorded: false });
  });
});

describe('phys config', () => {
  it('shows the config file, plugins, stages and pipelines', async () => {
    const { code, stdout } = await cli(['config'], { cwd: fixture('cli-dag') });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^config\s+.*dag[/\\]phys\.config\.ts$/m);
    expect(stdout).toMatch(/^plugins \(1\)$/m);
    expect(stdout).toMatch(/^\s+executor-dag\s+\S+\s+executor/m);
    expect(stdout).toMatch(/^\s+demo\/sum@1\s+Sums the numbers its parents produced$/m);
    expect(stdout).toMatch(/^\s+fan\s+dag\s+3 nodes\s+Two sources summed$/m);
    expect(stdout).toMatch(/^\s+chain\s+sequential\s+2 stages$/m);
  });
});

describe('the phys binary', () => {
  it('cancels the run cleanly when the reader of its output goes away (EPIPE), instead of crashing', async () => {
    // `phys run hang | head`, with head gone: the first progress line fails with EPIPE. The
    // run must be cancelled like ^C (exit 130), not die of an unhandled 'error' event (exit 1).
    const child = spawn(process.execPath, [launcher, 'run', 'hang', '--progress', 'plain'], {
      cwd: fixture('cli-dag'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.destroy();
    child.stderr.destroy();
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(130);
  });

  it('exits 130 when interrupted with SIGINT (hang)', async () => {
    const pipeline = 'hang';
    // Interrupt once the waiting node has started. An abort fires once: a second SIGINT kills.
    const interrupt = new AbortController();
    let seen = '';
    const { code, stdout, stderr } = await runPhys(['run', pipeline, '--progress', 'plain'], {
      cwd: fixture('cli-dag'),
      signal: interrupt.signal,
      onStderr: (chunk) => {
        seen += chunk;
        if (/RUNNING\s+wait/.test(seen)) interrupt.abort();
      },
    });
    expect(code).toBe(130);
    expect(stdout).toMatch(new RegExp(`^✗ ${pipeline}: CANCELLED`, 'm'));
    expect(stderr).toMatch(/CANCELLED\s+wait/);
  });
});

describe('a known command whose plugin the config does not list', () => {
  it('keeps the plugins already listed in the line, and answers `--json` with JSON', async () => {
    const { code, stdout } = await cli(['package', 'verify', 'models/fit', '--json'], {
      cwd: fixture('cli-dag'),
    });
    expect(code).toBe(64);
    const { error, exitCode } = JSON.parse(stdout);
    expect(exitCode).toBe(64);
    expect(error).toMatchObject({
      code: 'PHYS_USAGE',
      details: {
        command: 'package',
        plugin: 'ml-packager',
        package: '@phys/ml-packager',
        configLine: "plugins: ['executor-dag', 'ml-packager'],",
      },
    });
    expect(error.message).toContain('@phys/ml-packager');
  });
});

describe('commands a configured plugin adds', () => {
  const cwd = fixture('cli-plugin-commands');

  it('runs a DAG through the configured executor with runDag: progress, counts, exit code', async () => {
    const ok = await cli(['tally', 'pair'], { cwd });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe('pair: 2 completed\na.value = 11\nb.value = 12\n');
    expect(ok.stderr).toMatch(/\[2\/2\] COMPLETED b$/m);
    const failed = await cli(['tally', 'broken'], { cwd });
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain('broken: 1 completed · 1 failed');
  });
});
