// Schedules on the real clock: `phys serve` in a child process fires a two-second cron, and
// `phys schedules` lists, pauses, resumes and triggers, through the server and, with the server
// stopped, on its store file.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPhys } from '@phys/cli/testing';
import type { RunRecord } from '@phys/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture } from './helpers/cli.js';
import { api, type Served, serve } from './helpers/serve.js';

const cwd = fixture('schedules');
let dir: string;
let server: Served | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'phys-schedules-serve-'));
});
afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

const start = () => serve(cwd, { env: { PHYS_TEST_SERVER_DIR: dir } });
/** The `phys` binary in the fixture, on the same store directory as the server. */
const phys = (argv: readonly string[]) =>
  runPhys(argv, { cwd, env: { PHYS_TEST_SERVER_DIR: dir, PHYS_REMOTE: undefined } });

async function scheduledRuns(s: Served): Promise<RunRecord[]> {
  const res = await api(s, '/runs?pipeline=tick&limit=500');
  expect(res.status).toBe(200);
  return ((await res.json()) as { runs: RunRecord[] }).runs;
}

/** Polls `check` every 200 ms until it returns a value, for at most `seconds`. */
async function until<T>(what: string, seconds: number, check: () => Promise<T | undefined>) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const fireTimeOf = (run: RunRecord) =>
  run.trigger.kind === 'schedule' ? run.trigger.fireTime : '';

describe('schedules on the real clock', () => {
  it('phys serve fires a two-second cron once per fire time, each run naming its fire', async () => {
    server = await start();
    const runs = await until('three completed scheduled runs', 30, async () => {
      const done = (await scheduledRuns(server as Served)).filter((r) => r.status === 'COMPLETED');
      return done.length >= 3 ? done : undefined;
    });
    for (const run of runs) {
      expect(run.trigger).toMatchObject({ kind: 'schedule', schedule: 'every-2s' });
      const fireTime = fireTimeOf(run);
      expect(new Date(fireTime).getUTCSeconds() % 2).toBe(0);
      expect(new Date(fireTime).getUTCMilliseconds()).toBe(0);
      expect(run.jobId).toBe(`every-2s-${fireTime.replace(/[-:]/g, '').replace('.000Z', 'Z')}`);
    }
    expect(new Set(runs.map(fireTimeOf)).size).toBe(runs.length);
  });

  it('phys schedules ls shows the rule, the next five fire times in its zone and the last run', async () => {
    const s = server as Served;
    const { code, stdout } = await phys(['schedules', 'ls', '--remote', s.url]);
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /^nightly-calibration {2}active {2}pipeline calibrate, daily at 02:30 \(Europe\/Berlin\)$/m,
    );
    const next = /^ {2}next {6}(.*)$/m.exec(stdout.split('nightly-calibration')[1] ?? '')?.[1];
    expect(next?.split(', ')).toHaveLength(5);
    for (const time of next?.split(', ') ?? [])
      expect(time).toMatch(/^\d{4}-\d\d-\d\d 02:30 CES?T$/);
    expect(stdout).toMatch(/^every-2s {2}active {2}pipeline tick, cron '\*\/2 \* \* \* \* \*'/m);
    expect(stdout).toMatch(
      /^ {2}last run {2}every-2s-\d{8}T\d{6}Z (COMPLETED|RUNNING|QUEUED) {2}\(fire /m,
    );
    const json = await phys(['schedules', 'ls', '--remote', s.url, '--json']);
    const listed = JSON.parse(json.stdout) as { schedules: { name: string; paused: boolean }[] };
    expect(listed.schedules.map((x) => [x.name, x.paused])).toEqual([
      ['every-2s', false],
      ['nightly-calibration', false],
    ]);
  });

  it('a paused schedule fires no more, and stays paused across a restart', async () => {
    const s = server as Served;
    const paused = await phys(['schedules', 'pause', 'every-2s', '--remote', s.url]);
    expect(paused.code).toBe(0);
    expect(paused.stdout).toMatch(/^every-2s {2}PAUSED/m);
    const before = (await scheduledRuns(s)).length;
    // Three fire times pass.
    await new Promise((r) => setTimeout(r, 6500));
    const after = await scheduledRuns(s);
    expect(after).toHaveLength(before);
    expect(await s.stop()).toBe(0);
    server = undefined;

    // No server: the commands work on its store file.
    const listed = await phys(['schedules', 'ls']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^every-2s {2}PAUSED/m);
    expect(listed.stdout).toMatch(/next {6}\(paused: phys schedules resume every-2s\)/);

    server = await start();
    await new Promise((r) => setTimeout(r, 4500));
    expect(await scheduledRuns(server)).toHaveLength(before);
    const shown = await phys(['schedules', 'ls', '--remote', server.url, '--json']);
    expect(JSON.parse(shown.stdout).schedules[0]).toMatchObject({ name: 'every-2s', paused: true });

    // Resumed: it fires again, from now on (the paused fires are not caught up).
    const resumedAt = Date.now();
    const resumed = await phys(['schedules', 'resume', 'every-2s', '--remote', server.url]);
    expect(resumed.code).toBe(0);
    const fresh = await until('a run after the resume', 20, async () => {
      const runs = await scheduledRuns(server as Served);
      return runs.length > before ? runs : undefined;
    });
    const newest = fresh[0] as RunRecord;
    expect(Date.parse(fireTimeOf(newest))).toBeGreaterThanOrEqual(resumedAt - 2000);
    expect(newest.trigger).not.toHaveProperty('missed');
  });

  it('phys schedules trigger starts the pipeline with the schedule params, through the server or here', async () => {
    const s = server as Served;
    const viaServer = await phys([
      'schedules',
      'trigger',
      'nightly-calibration',
      '--remote',
      s.url,
    ]);
    expect(viaServer.code).toBe(0);
    const jobId = /^(nightly-calibration-manual-\d{8}T\d{6}(?:\.\d{3})?Z)/m.exec(
      viaServer.stdout,
    )?.[1];
    expect(jobId, viaServer.stdout + viaServer.stderr).toBeDefined();
    const run = await until('the triggered run to end', 30, async () => {
      const r = (await (await api(s, `/runs/${jobId}`)).json()) as RunRecord;
      return r.status === 'COMPLETED' ? r : undefined;
    });
    expect(run.trigger).toMatchObject({
      kind: 'schedule',
      schedule: 'nightly-calibration',
      manual: true,
    });
    expect(await s.stop()).toBe(0);
    server = undefined;

    // No server: runs here, recorded in the server's store, and waits for the end.
    const here = await phys(['schedules', 'trigger', 'nightly-calibration']);
    expect(here.code, here.stderr).toBe(0);
    expect(here.stdout).toMatch(/^nightly-calibration-manual-\S+ {2}COMPLETED$/m);
    const log = await readFile(join(dir, 'executions.log'), 'utf8');
    expect(log.split('\n').filter((l) => l === 'calibrate')).toHaveLength(2);

    const unknown = await phys(['schedules', 'trigger', 'nightly']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/PHYS_SCHEDULE_NOT_FOUND|No schedule 'nightly'/);
  });
});
