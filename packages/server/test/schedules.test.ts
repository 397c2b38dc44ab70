// Schedules in the server: fires claimed in the SQLite store (exactly once across processes and
// restarts), the /schedules routes, and pause state that outlives the server. The clock is a
// ManualClock: the tests move it through hours and days without sleeping.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunRecord } from '@phys/core';
import { ManualClock, type PhysRuntime } from '@phys/runtime';
import {
  createTestRuntime,
  orchestratorConformancePipelines,
  orchestratorConformanceStages,
} from '@phys/testing';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../src/migrations.js';
import { SqliteRunStore } from '../src/sqlite-run-store.js';
import { type RunningServer, startServer } from '../src/start-server.js';

const TOKEN = 'schedule-token-0123456789';
const { 'conformance-quick': quick } = orchestratorConformancePipelines();

let dir: string;
const runtimes: PhysRuntime[] = [];
const servers: RunningServer[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'phys-schedules-'));
});
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
  for (const runtime of runtimes.splice(0)) await runtime.dispose();
  await rm(dir, { recursive: true, force: true });
});

/** A runtime whose pipeline `calibrate` has `schedule`. */
async function runtimeWith(schedule: unknown): Promise<PhysRuntime> {
  const runtime = await createTestRuntime({
    configDir: dir,
    stages: orchestratorConformanceStages,
    pipelines: { calibrate: { ...quick, schedule } as never },
  });
  runtimes.push(runtime);
  return runtime;
}

async function serve(runtime: PhysRuntime, clock: ManualClock): Promise<RunningServer> {
  const server = await startServer(
    runtime,
    { port: 0, tokens: [TOKEN], store: join(dir, 'runs.sqlite'), maxConcurrentRuns: 4 },
    { env: {}, clock },
  );
  servers.push(server);
  return server;
}

const api = (server: RunningServer, path: string, init: RequestInit & { token?: string } = {}) => {
  const { token = TOKEN, ...rest } = init;
  return fetch(`${server.url}/api/v1${path}`, {
    ...rest,
    headers: token === '' ? {} : { authorization: `Bearer ${token}` },
  });
};

async function allRuns(store: SqliteRunStore): Promise<RunRecord[]> {
  const out: RunRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.list({ limit: 500, ...(cursor === undefined ? {} : { cursor }) });
    out.push(...page.runs);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return out.reverse();
}

async function settle(server: RunningServer): Promise<void> {
  for (const run of await allRuns(server.store)) {
    if (run.status === 'QUEUED' || run.status === 'RUNNING') {
      await (await server.orchestrator.getRun(run.jobId)).waitForCompletion({ timeout: 30 });
    }
  }
}

describe('the SQLite store as the schedules store', () => {
  it('lets exactly one of many claims of a fire through, across two connections to one file', async () => {
    const file = join(dir, 'runs.sqlite');
    const a = new SqliteRunStore(file, { synchronous: 'NORMAL' });
    const b = new SqliteRunStore(file, { synchronous: 'NORMAL' });
    const fire = {
      schedule: 'nightly',
      fireTime: '2026-12-07T02:30:00.000Z',
      outcome: 'launched' as const,
      jobId: 'nightly-20261207T023000Z',
      claimedAt: '2026-12-07T02:30:00.100Z',
    };
    const claims = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).claimFire(fire)),
    );
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await b.fires('nightly')).toEqual([fire]);
    await a.close();
    await b.close();
  });

  it('keeps fires and pause state across a reopen, and promotes a queued fire once', async () => {
    const file = join(dir, 'runs.sqlite');
    const first = new SqliteRunStore(file);
    await first.claimFire({
      schedule: 'hourly',
      fireTime: '2026-12-07T01:00:00.000Z',
      outcome: 'queued',
      missed: 2,
      claimedAt: '2026-12-07T01:00:01.000Z',
    });
    await first.setScheduleState('hourly', { paused: true, since: '2026-12-07T00:00:00.000Z' });
    await first.close();
    const second = new SqliteRunStore(file);
    expect(await second.getScheduleState('hourly')).toEqual({
      paused: true,
      since: '2026-12-07T00:00:00.000Z',
    });
    expect(await second.getScheduleState('other')).toBeUndefined();
    const promotions = await Promise.all([
      second.promoteFire('hourly', '2026-12-07T01:00:00.000Z', 'hourly-20261207T010000Z'),
      second.promoteFire('hourly', '2026-12-07T01:00:00.000Z', 'hourly-20261207T010000Z'),
    ]);
    expect(promotions).toEqual([true, false]);
    expect(await second.fires('hourly')).toEqual([
      {
        schedule: 'hourly',
        fireTime: '2026-12-07T01:00:00.000Z',
        outcome: 'launched',
        jobId: 'hourly-20261207T010000Z',
        missed: 2,
        claimedAt: '2026-12-07T01:00:01.000Z',
      },
    ]);
    await second.close();
  });

  it('migrates a store written before schedules, keeping its runs', async () => {
    const file = join(dir, 'old.sqlite');
    const db = new Database(file);
    db.exec(MIGRATIONS[0] as string);
    db.pragma('user_version = 1');
    db.prepare(
      "INSERT INTO runs (job_id, pipeline, status, priority, record) VALUES ('old', 'p', 'COMPLETED', 0, '{\"jobId\":\"old\"}')",
    ).run();
    db.close();
    const store = new SqliteRunStore(file);
    expect(store.schemaVersion).toBe(MIGRATIONS.length);
    expect((await store.get('old'))?.jobId).toBe('old');
    expect(await store.fires('any')).toEqual([]);
    await store.close();
  });
});

describe('phys serve schedules', () => {
  it('two servers on one store start each hourly fire of a day exactly once', async () => {
    const clock = new ManualClock('2026-12-07T00:00:00Z');
    const runtime = await runtimeWith({ hourly: { minute: 0 }, name: 'hourly' });
    const a = await serve(runtime, clock);
    const b = await serve(runtime, clock);
    for (let hour = 1; hour <= 24; hour++) {
      clock.set(Date.parse('2026-12-07T00:00:00Z') + hour * 3_600_000 + 250);
      await Promise.all([a.schedules.tick(), b.schedules.tick(), a.schedules.tick()]);
      await settle(a);
      await settle(b);
    }
    const runs = (await allRuns(a.store)).filter((r) => r.trigger.kind === 'schedule');
    expect(runs).toHaveLength(24);
    const fireTimes = runs.map((r) => (r.trigger.kind === 'schedule' ? r.trigger.fireTime : ''));
    expect(new Set(fireTimes).size).toBe(24);
    expect(fireTimes[0]).toBe('2026-12-07T01:00:00.000Z');
    expect(runs.every((r) => r.status === 'COMPLETED')).toBe(true);
    expect(runs[0]?.jobId).toBe('hourly-20261207T010000Z');
  });

  it('starts after a restart the run of a fire claimed just before the crash, once', async () => {
    const clock = new ManualClock('2026-12-07T02:30:05Z');
    const runtime = await runtimeWith({ daily: '02:30', name: 'nightly' });
    // What a server that died between the claim and the start left: the claim, no run.
    const store = new SqliteRunStore(join(dir, 'runs.sqlite'));
    await store.setScheduleState('nightly', { since: '2026-12-06T00:00:00.000Z' });
    await store.claimFire({
      schedule: 'nightly',
      fireTime: '2026-12-07T02:30:00.000Z',
      outcome: 'launched',
      jobId: 'nightly-20261207T023000Z',
      claimedAt: '2026-12-07T02:30:00.010Z',
    });
    await store.close();
    const server = await serve(runtime, clock);
    await settle(server);
    await server.schedules.tick();
    await settle(server);
    const runs = await allRuns(server.store);
    expect(runs.map((r) => [r.jobId, r.status])).toEqual([
      ['nightly-20261207T023000Z', 'COMPLETED'],
    ]);
    expect(runs[0]?.trigger).toEqual({
      kind: 'schedule',
      schedule: 'nightly',
      fireTime: '2026-12-07T02:30:00.000Z',
    });
  });

  it('serves the schedules, pauses them for good, resumes and triggers them', async () => {
    const clock = new ManualClock('2026-12-07T00:00:00Z');
    const runtime = await runtimeWith([
      { daily: '02:30', name: 'nightly', params: { increment: 5 } },
      { weekly: 'mon 09:00', name: 'weekly', timezone: 'Europe/Berlin', overlap: 'queue' },
    ]);
    const server = await serve(runtime, clock);
    const list = await api(server, '/schedules');
    expect(list.status).toBe(200);
    const { schedules } = (await list.json()) as { schedules: Record<string, unknown>[] };
    expect(schedules).toEqual([
      {
        name: 'nightly',
        pipeline: 'calibrate',
        spec: expect.stringMatching(/02:30/),
        pattern: '30 2 * * *',
        timezone: 'UTC',
        paused: false,
        misfire: 'runOnce',
        overlap: 'skip',
        maxLatenessSeconds: 60,
        nextFireTimes: [
          '2026-12-07T02:30:00.000Z',
          '2026-12-08T02:30:00.000Z',
          '2026-12-09T02:30:00.000Z',
          '2026-12-10T02:30:00.000Z',
          '2026-12-11T02:30:00.000Z',
        ],
        lastFire: null,
        lastRun: null,
      },
      expect.objectContaining({
        name: 'weekly',
        overlap: 'queue',
        timezone: 'Europe/Berlin',
        nextFireTimes: expect.arrayContaining(['2026-12-07T08:00:00.000Z']),
      }),
    ]);

    const paused = await api(server, '/schedules/nightly/pause', { method: 'POST' });
    expect(await paused.json()).toMatchObject({ name: 'nightly', paused: true, nextFireTimes: [] });
    // The pause outlives the server: the fire at 02:30 is not started by the next one.
    await server.close();
    clock.set('2026-12-07T02:30:01Z');
    const next = await serve(runtime, clock);
    await next.schedules.tick();
    expect(await allRuns(next.store)).toEqual([]);
    expect(await (await api(next, '/schedules/nightly')).json()).toMatchObject({ paused: true });

    const triggered = await api(next, '/schedules/nightly/trigger', { method: 'POST' });
    expect(triggered.status).toBe(201);
    const { runId, run } = (await triggered.json()) as { runId: string; run: RunRecord };
    expect(triggered.headers.get('location')).toBe(`/api/v1/runs/${runId}`);
    expect(run.trigger).toEqual({
      kind: 'schedule',
      schedule: 'nightly',
      fireTime: '2026-12-07T02:30:01.000Z',
      manual: true,
    });
    const done = await (await next.orchestrator.getRun(runId)).waitForCompletion({ timeout: 30 });
    expect(done.outputs).toEqual({ value: 11 }); // 1 + 5 + 5: the schedule's params
    expect(await (await api(next, '/schedules/nightly')).json()).toMatchObject({
      lastRun: { runId, status: 'COMPLETED', manual: true, outcome: 'launched' },
    });

    // Resumed: fires from now on, the fire of the pause is not caught up.
    const resumed = await api(next, '/schedules/nightly/resume', { method: 'POST' });
    expect(await resumed.json()).toMatchObject({ paused: false });
    clock.set('2026-12-08T02:30:02Z');
    await next.schedules.tick();
    await settle(next);
    const scheduled = (await allRuns(next.store)).filter(
      (r) =>
        r.trigger.kind === 'schedule' &&
        r.trigger.schedule === 'nightly' &&
        r.trigger.manual !== true,
    );
    expect(scheduled.map((r) => r.jobId)).toEqual(['nightly-20261208T023000Z']);
  });

  it('answers 404 for an unknown schedule, 400 for a malformed name, 401 without a token', async () => {
    const clock = new ManualClock('2026-12-07T00:00:00Z');
    const server = await serve(await runtimeWith({ daily: '02:30' }), clock);
    const missing = await api(server, '/schedules/nighty/pause', { method: 'POST' });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({
      error: { code: 'PHYS_SCHEDULE_NOT_FOUND', message: expect.stringContaining('calibrate') },
    });
    const bad = await api(server, '/schedules/bad!name');
    expect(bad.status).toBe(400);
    for (const [method, path] of [
      ['GET', '/schedules'],
      ['POST', '/schedules/calibrate/trigger'],
    ] as const) {
      const res = await api(server, path, { method, token: '' });
      expect(res.status, `${method} ${path}`).toBe(401);
    }
    expect(await allRuns(server.store)).toEqual([]);
  });

  it('does not fire with schedules: false, and still lists them', async () => {
    const clock = new ManualClock('2026-12-07T02:29:00Z');
    const runtime = await runtimeWith({ daily: '02:30' });
    const server = await startServer(
      runtime,
      { port: 0, store: join(dir, 'runs.sqlite'), schedules: false },
      { env: {}, clock },
    );
    servers.push(server);
    expect(clock.pending).toBe(0); // nothing armed: no fire will be checked for
    const res = await fetch(`${server.url}/api/v1/schedules`);
    expect(((await res.json()) as { schedules: unknown[] }).schedules).toHaveLength(1);
    expect(await allRuns(server.store)).toEqual([]);
  });
});
