// Commands that plugins add to `phys` (PhysPlugin.commands): built from their data, loaded only
// when they run; and the hint for a known command whose plugin the config does not list.
// A plugin command running a DAG through the executor-dag plugin is in
// tests/integration/test/cli-executor-dag.test.ts.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { loadedCommands } from './fixtures/plugin-commands/greeter-plugin.js';
import { cli, fixture } from './helpers.js';

const cwd = fixture('plugin-commands');

beforeEach(() => {
  loadedCommands().length = 0;
});

describe('phys --help', () => {
  it('lists the commands of first-party plugins without a config, naming their packages', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'phys-cli-help-'));
    try {
      const { code, stdout } = await cli(['--help'], { cwd: dir });
      expect(code).toBe(0);
      // Help wraps descriptions at 80 columns.
      const plugins = stdout.slice(stdout.indexOf('Plugin commands')).replace(/\s+/g, ' ');
      expect(plugins).toContain(' sweep run a DAG pipeline once per parameter point');
      expect(plugins).toContain("[plugin 'sweep', @phys/sweep]");
      expect(plugins).toContain(' package verify model packages');
      expect(plugins).toContain("[plugin 'ml-packager', @phys/ml-packager]");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('says that plugin commands were not looked for when an unknown command finds no config', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'phys-cli-unknown-'));
    try {
      const { code, stderr } = await cli(['frobnicate'], { cwd: dir });
      expect(code).toBe(64);
      expect(stderr).toMatch(/^error PHYS_USAGE: unknown command 'frobnicate'/m);
      expect(stderr).toContain(
        'Plugin commands were not looked for: the config did not load, PHYS_CONFIG_NOT_FOUND',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a known command whose plugin the config does not list', () => {
  it('names the plugin, its package and the config line to add, exit 64', async () => {
    const { code, stdout, stderr } = await cli(['sweep', 'arith', '--set', 'add.amount=1,2']);
    expect(code).toBe(64);
    expect(stdout).toBe('');
    expect(stderr).toMatch(
      /^error PHYS_USAGE: `phys sweep` comes with the plugin 'sweep' \(package @phys\/sweep\), which the config does not list\./m,
    );
    expect(stderr).toContain(`${join(fixture('seq'), 'phys.config.ts')}:`);
    expect(stderr).toMatch(/^ {4}plugins: \['sweep'\],$/m);
  });

  it('is the same for `--help` and `phys help <command>`', async () => {
    for (const argv of [
      ['sweep', '--help'],
      ['help', 'sweep'],
    ]) {
      const { code, stderr } = await cli(argv);
      expect(code, argv.join(' ')).toBe(64);
      expect(stderr).toContain("plugins: ['sweep'],");
    }
  });
});

describe('commands a configured plugin adds', () => {
  it('parses arguments and options from the command data and runs the handler', async () => {
    const { code, stdout } = await cli(['greet', 'World', 'Moon', '--shout', '-t', '2'], { cwd });
    expect(code).toBe(0);
    expect(stdout).toBe('HELLO, WORLD AND MOON\nHELLO, WORLD AND MOON\n');
  });

  it('gives the handler defaults, repeated values and --json; not the host options', async () => {
    const { code, stdout } = await cli(
      ['greet', 'x', '--tag', 'a', '--tag', 'b', '--json', '--config', 'phys.config.ts'],
      { cwd },
    );
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({
      path: ['greet'],
      args: ['x'],
      options: { times: '1', tag: ['a', 'b'], style: 'warm' },
      config: join(cwd, 'phys.config.ts'),
    });
  });

  it('imports only the code of the command that runs', async () => {
    await cli(['greet', 'x'], { cwd });
    expect(loadedCommands()).toEqual(['greet']);
  });

  it('shows help from the data alone, without importing the command', async () => {
    const { code, stdout } = await cli(['help', 'greet'], { cwd });
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: phys greet [options] <name> [others...]');
    expect(stdout).toMatch(/--style <style>\s+how \(choices: "warm", "dry", default: "warm"\)/);
    expect(stdout).toContain('--config <file>');
    expect(loadedCommands()).toEqual([]);
  });

  it('nests commands with a longer path', async () => {
    const { code, stdout } = await cli(['team', 'ping'], { cwd });
    expect(code).toBe(0);
    expect(stdout).toBe('pong from team ping\n');
  });

  it("exits with the handler's code, and reports what it throws (UsageError: 64)", async () => {
    expect((await cli(['greet', 'fail'], { cwd })).code).toBe(3);
    const thrown = await cli(['greet', 'nobody'], { cwd });
    expect(thrown.code).toBe(64);
    expect(thrown.stderr).toBe('error PHYS_USAGE: Nobody cannot be greeted; name someone.\n');
  });

  it('rejects what the data rules out before importing the command (exit 64)', async () => {
    const { code, stderr } = await cli(['greet', 'x', '--style', 'loud'], { cwd });
    expect(code).toBe(64);
    expect(stderr).toContain("argument 'loud' is invalid");
    expect((await cli(['greet'], { cwd })).stderr).toContain("missing required argument 'name'");
    expect(loadedCommands()).toEqual([]);
  });

  it('leaves a built-in command to the host', async () => {
    const { code, stdout } = await cli(['config'], { cwd });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^config {4}.*plugin-commands[/\\]phys\.config\.ts$/m);
    expect(loadedCommands()).toEqual([]);
  });

  it('suggests a plugin command after a typo (exit 64)', async () => {
    const { code, stderr } = await cli(['gret', 'x'], { cwd });
    expect(code).toBe(64);
    expect(stderr).toMatch(/^error PHYS_USAGE: unknown command 'gret' \(Did you mean greet\?\)/m);
  });

  it('reports two plugins adding one command as a config error (exit 78)', async () => {
    const { code, stderr } = await cli(['greet', 'x', '-c', 'conflict.config.ts'], { cwd });
    expect(code).toBe(78);
    expect(stderr).toContain(
      "error PHYS_PLUGIN_CONFLICT: [greeter-again] Plugins 'greeter' and 'greeter-again' both add the command `phys greet`",
    );
  });
});
