// Schedules: the rules and their fire times (DST included), and the runner that fires them
// through a real LocalOrchestrator, exactly once per fire, under an injected clock.
import {
  type ConfigIssue,
  defineStage,
  PhysError,
  type RunRecord,
  type ScheduleSpec,
  silentLogger,
} from '@phys/core';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { LocalOrchestrator } from '../src/orchestrator/local-orchestrator.js';
import { MemoryRunStore } from '../src/orchestrator/memory-run-store.js';
import { SequentialPipeline } from '../src/pipeline/sequential-pipeline.js';
import { createRuntime, type PhysRuntime } from '../src/runtime.js';
import { ManualClock } from '../src/schedules/manual-clock.js';
import { configSchedules, schedule } from '../src/schedules/parse-schedule.js';
import { ScheduleRunner, type ScheduleRunnerOptions } from '../src/schedules/schedule-runner.js';
import { MemoryScheduleStore } from '../src/schedules/schedule-store.js';

const iso = (d: Date) => d.toISOString();
const times = (dates: Date[]) => dates.map(iso);

describe('a schedule rule', () => {
  it('takes the config forms and the orchestration guide forms alike', () => {
    const at = new Date('2026-12-07T00:00:00Z'); // a Monday
    const cases: [ScheduleSpec, string, string][] = [
      [{ hourly: { minute: 5 } }, '5 * * * *', '2026-12-07T00:05:00.000Z'],
      [{ scheduleType: 'hourly', value: 0 }, '0 * * * *', '2026-12-07T01:00:00.000Z'],
      [{ daily: '02:30' }, '30 2 * * *', '2026-12-07T02:30:00.000Z'],
      [{ scheduleType: 'daily', value: 3 }, '0 3 * * *', '2026-12-07T03:00:00.000Z'],
      [{ weekly: 'wed 02:30' }, '30 2 * * 3', '2026-12-09T02:30:00.000Z'],
      [{ scheduleType: 'weekly', value: 'MON:09:00' }, '0 9 * * 1', '2026-12-07T09:00:00.000Z'],
      [{ cron: '*/15 * * * *' }, '*/15 * * * *', '2026-12-07T00:15:00.000Z'],
      [{ scheduleType: 'cron', value: '0 */6 * * *' }, '0 */6 * * *', '2026-12-07T06:00:00.000Z'],
    ];
    for (const [spec, pattern, first] of cases) {
      const handle = schedule('calibrate', spec);
      expect(handle.pattern, JSON.stringify(spec)).toBe(pattern);
      expect(iso(handle.nextFireTimes(1, at)[0] as Date), JSON.stringify(spec)).toBe(first);
      expect(handle.timezone).toBe('UTC');
      expect(handle).toMatchObject({ misfire: 'runOnce', overlap: 'skip', maxLatenessSeconds: 60 });
    }
  });

  it('reads the rule in its time zone, across spring-forward and fall-back days', () => {
    // Europe/Berlin: 2026-03-29 02:00 → 03:00, 2026-10-25 03:00 → 02:00.
    const berlin = schedule('calibrate', { daily: '02:30', timezone: 'Europe/Berlin' });
    expect(times(berlin.nextFireTimes(3, new Date('2026-03-27T12:00:00Z')))).toEqual([
      '2026-03-28T01:30:00.000Z', // 02:30 CET
      '2026-03-29T01:00:00.000Z', // 02:30 does not exist: right after the gap, 03:00 CEST
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
    ]);
    expect(times(berlin.nextFireTimes(3, new Date('2026-10-23T12:00:00Z')))).toEqual([
      '2026-10-24T00:30:00.000Z', // 02:30 CEST
      '2026-10-25T00:30:00.000Z', // 02:30 happens twice: once, at the first
      '2026-10-26T01:30:00.000Z', // 02:30 CET
    ]);
    // America/New_York: 2026-03-08 02:00 → 03:00, 2026-11-01 02:00 → 01:00.
    const ny = schedule('calibrate', { hourly: { minute: 30 }, timezone: 'America/New_York' });
    expect(
      times(
        ny.fireTimesBetween(new Date('2026-03-08T05:00:00Z'), new Date('2026-03-08T09:00:00Z')),
      ),
    ).toEqual([
      '2026-03-08T05:30:00.000Z', // 00:30 EST
      '2026-03-08T06:30:00.000Z', // 01:30 EST
      '2026-03-08T07:30:00.000Z', // 03:30 EDT (02:30 does not exist)
      '2026-03-08T08:30:00.000Z', // 04:30 EDT
    ]);
    // Hourly keeps firing every real hour through the repeated hour.
    expect(
      times(
        ny.fireTimesBetween(new Date('2026-11-01T04:00:00Z'), new Date('2026-11-01T08:00:00Z')),
      ),
    ).toEqual([
      '2026-11-01T04:30:00.000Z', // 00:30 EDT
      '2026-11-01T05:30:00.000Z', // 01:30 EDT
      '2026-11-01T06:30:00.000Z', // 01:30 EST
      '2026-11-01T07:30:00.000Z', // 02:30 EST
    ]);
  });

  it('fails config loading with the path and the reason of every bad schedule', async () => {
    const Noop = defineStage({
      name: 'test/noop',
      config: z.object({}),
      process: (s: number) => ({ state: s }),
    });
    const error = await createRuntime(
      {
        config: {
          pipelines: {
            a: { stages: [Noop({})], schedule: { daily: '25:00' } },
            b: {
              stages: [Noop({}, { label: 'x' })],
              schedule: { cron: '61 * * * *', timezone: 'Mars/Olympus' },
            },
            c: {
              stages: [Noop({}, { label: 'y' })],
              schedule: [
                { weekly: 'funday 02:30' },
                { hourly: { minute: 5 }, overlap: 'sometimes' },
              ],
            },
            d: {
              stages: [Noop({}, { label: 'z' })],
              schedule: { daily: '02:00', hourly: { minute: 1 } },
            },
            e: { stages: [Noop({}, { label: 'w' })], schedule: { dayly: '02:00' } },
          },
        } as never,
        configDir: process.cwd(),
      },
      { logger: silentLogger },
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(PhysError.is(error) && error.code).toBe('PHYS_CONFIG_INVALID');
    const issues = (error as { issues: ConfigIssue[] }).issues.map(
      (i) => `${i.path}: ${i.message}`,
    );
    const expectIssue = (path: string, text: RegExp) =>
      expect(
        issues.some((i) => i.startsWith(`${path}:`) && text.test(i)),
        `${path} ${text}\n${issues.join('\n')}`,
      ).toBe(true);
    expectIssue('pipelines.a.schedule.daily', /'HH:MM'.*got '25:00'/);
    expectIssue('pipelines.b.schedule.cron', /not a valid pattern.*minute/);
    expectIssue('pipelines.b.schedule.timezone', /not an IANA time zone: 'Mars\/Olympus'/);
    expectIssue('pipelines.c.schedule[0].weekly', /day mon…sun/);
    expectIssue('pipelines.c.schedule[0].name', /several schedules: give each a name/);
    expectIssue('pipelines.c.schedule[1].overlap', /'skip', 'queue' or 'allow'/);
    expectIssue(
      'pipelines.d.schedule',
      /exactly one of hourly, daily, weekly or cron; got hourly and daily/,
    );
    expectIssue('pipelines.e.schedule.dayly', /unknown key/);
  });

  it('refuses one name for two schedules', () => {
    const Noop = defineStage({
      name: 'test/noop2',
      config: z.object({}),
      process: (s: number) => ({ state: s }),
    });
    expect(() =>
      configSchedules({
        a: { stages: [Noop({})], schedule: { daily: '01:00', name: 'nightly' } },
        b: { stages: [Noop({})], schedule: { daily: '02:00', name: 'nightly' } },
      }),
    ).toThrow(/schedule name 'nightly' is also used by pipeline 'a'/);
  });

  it('is added on a pipeline object and on a runtime, which serve then fires', async () => {
    const Noop = defineStage({
      name: 'test/noop3',
      config: z.object({}),
      process: (s: number) => ({ state: s }),
    });
    const pipeline = new SequentialPipeline([Noop({})], { name: 'calibrate' });
    const weekly = pipeline.schedule({ scheduleType: 'weekly', value: 'MON:09:00' });
    expect(weekly).toMatchObject({
      name: 'calibrate',
      pipeline: 'calibrate',
      pattern: '0 9 * * 1',
    });
    expect(() => new SequentialPipeline([Noop({})]).schedule({ daily: '02:00' })).toThrow(
      expect.objectContaining({ code: 'PHYS_USAGE' }),
    );

    const runtime = await createRuntime(
      {
        config: {
          stages: [Noop],
          pipelines: {
            calibrate: { stages: [Noop({})], schedule: { daily: '02:30', name: 'nightly' } },
          },
        },
        configDir: process.cwd(),
      },
      { logger: silentLogger },
    );
    try {
      const added = runtime.schedule('calibrate', { scheduleType: 'hourly', value: 15 });
      expect(added.nextFireTimes(1, new Date('2026-12-07T00:00:00Z'))).toEqual([
        new Date('2026-12-07T00:15:00Z'),
      ]);
      expect(runtime.schedules.map((s) => s.name)).toEqual(['nightly', 'calibrate']);
      expect(() => runtime.schedule('calibrate', { daily: '03:00' })).toThrow(
        /'calibrate' is taken/,
      );
      expect(() => runtime.schedule('calibrat', { daily: '03:00' })).toThrow(
        expect.objectContaining({ code: 'PHYS_USAGE' }),
      );
      expect(() => runtime.schedule('calibrate', { daily: '3am', name: 'early' })).toThrow(
        expect.objectContaining({ code: 'PHYS_CONFIG_INVALID' }),
      );
      expect(runtime.schedules).toHaveLength(2);
    } finally {
      await runtime.dispose();
    }
  });
});

// ----- the runner ------------------------------------------------------------------------------

const Count = defineStage({
  name: 'test/count',
  config: z.object({}),
  process: (state: number) => ({ state: state + 1, metrics: { value: state + 1 } }),
});
let release: (() => void) | undefined;
let gate: Promise<void> = Promise.resolve();
const Slow = defineStage({
  name: 'test/slow',
  config: z.object({}),
  process: async (state: number) => {
    await gate;
    return { state: state + 1 };
  },
});
function closeGate(): void {
  gate = new Promise((resolve) => {
    release = resolve;
  });
}

const runtimes: PhysRuntime[] = [];
afterEach(async () => {
  release?.();
  for (const runtime of runtimes.splice(0)) await runtime.dispose();
});

async function setup(
  specs: Record<string, ScheduleSpec | ScheduleSpec[]>,
  shared?: { runs: MemoryRunStore; schedules: MemoryScheduleStore },
) {
  const pipelines = Object.fromEntries(
    Object.entries(specs).map(([name, spec]) => [
      name,
      { stages: [name.startsWith('slow') ? Slow({}) : Count({})], initialState: 0, schedule: spec },
    ]),
  );
  const runtime = await createRuntime(
    { config: { stages: [Count, Slow], pipelines }, configDir: process.cwd() },
    { logger: silentLogger },
  );
  runtimes.push(runtime);
  const runs = shared?.runs ?? new MemoryRunStore();
  const store = shared?.schedules ?? new MemoryScheduleStore();
  const orchestrator = new LocalOrchestrator(runtime, { store: runs, maxConcurrentRuns: 4 });
  return { runtime, runs, store, orchestrator, schedules: configSchedules(runtime.pipelines) };
}

/** A silent runner of `parts`' schedules on `clock`. */
function runnerOn(
  parts: Pick<ScheduleRunnerOptions, 'schedules' | 'store' | 'orchestrator'>,
  clock: ManualClock,
): ScheduleRunner {
  return new ScheduleRunner({
    schedules: parts.schedules,
    store: parts.store,
    orchestrator: parts.orchestrator,
    clock,
    logger: silentLogger,
  });
}

/** Every run in the store, oldest first. */
async function allRuns(runs: MemoryRunStore): Promise<RunRecord[]> {
  const out: RunRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await runs.list({ limit: 500, ...(cursor === undefined ? {} : { cursor }) });
    out.push(...page.runs);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return out.reverse();
}

async function settle(orchestrator: LocalOrchestrator, runs: MemoryRunStore): Promise<void> {
  for (const run of await allRuns(runs)) {
    if (run.status === 'QUEUED' || run.status === 'RUNNING') {
      await (await orchestrator.getRun(run.jobId)).waitForCompletion({ timeout: 30 });
    }
  }
}

/** Drives the runner's own timers through [now, end], letting runs finish between fires. */
async function runUntil(
  clock: ManualClock,
  runner: ScheduleRunner,
  end: string,
  after?: () => Promise<void>,
): Promise<void> {
  const limit = Date.parse(end);
  await runner.start();
  for (;;) {
    if (!clock.fireNext(limit)) break;
    await runner.tick(); // the timer's tick is chained before this one
    await after?.();
  }
}

describe('the schedule runner', () => {
  it('fires exactly once per fire time over a simulated week, for each kind', async () => {
    const { runs, store, orchestrator, schedules } = await setup({
      hourly: { hourly: { minute: 7 } },
      daily: { daily: '02:30', timezone: 'Europe/Berlin' },
      weekly: { weekly: 'thu 18:00' },
      cron: { cron: '*/20 * * * *' },
    });
    const clock = new ManualClock('2026-12-07T00:00:00Z');
    const runner = runnerOn({ schedules, store, orchestrator }, clock);
    await runUntil(clock, runner, '2026-12-14T00:00:00Z', () => settle(orchestrator, runs));
    await runner.stop();
    const all = await allRuns(runs);
    const by = (name: string) =>
      all.filter((r) => r.trigger.kind === 'schedule' && r.trigger.schedule === name);
    expect(by('hourly')).toHaveLength(7 * 24);
    expect(by('daily')).toHaveLength(7);
    expect(by('weekly')).toHaveLength(1);
    expect(by('cron')).toHaveLength(7 * 24 * 3);
    expect(new Set(all.map((r) => r.jobId)).size).toBe(all.length);
    for (const run of all) expect(run.status).toBe('COMPLETED');
    // Each run names its schedule and fire time, and its fire time is a time of the rule.
    const weekly = by('weekly')[0] as RunRecord;
    expect(weekly.trigger).toEqual({
      kind: 'schedule',
      schedule: 'weekly',
      fireTime: '2026-12-10T18:00:00.000Z',
    });
    expect(weekly.jobId).toBe('weekly-20261210T180000Z');
    expect(by('daily').map((r) => (r.trigger as { fireTime: string }).fireTime)[0]).toBe(
      '2026-12-07T01:30:00.000Z',
    );
  }, 180_000); // ~700 runs through a real orchestrator

  it('after a restart between the claim and the start, starts the run once', async () => {
    const { runs, store, orchestrator, schedules } = await setup({ nightly: { daily: '02:30' } });
    // The first process claimed the fire, then died before starting its run.
    await store.setScheduleState('nightly', { since: '2026-12-07T00:00:00.000Z' });
    await store.claimFire({
      schedule: 'nightly',
      fireTime: '2026-12-07T02:30:00.000Z',
      outcome: 'launched',
      jobId: 'nightly-20261207T023000Z',
      claimedAt: '2026-12-07T02:30:00.100Z',
    });
    const clock = new ManualClock('2026-12-07T02:30:05Z');
    const restarted = runnerOn({ schedules, store, orchestrator }, clock);
    await restarted.start();
    await restarted.tick();
    await restarted.stop();
    // And once more, as if it restarted again after starting the run.
    const again = runnerOn({ schedules, store, orchestrator }, clock);
    await again.start();
    await again.stop();
    await settle(orchestrator, runs);
    const all = await allRuns(runs);
    expect(all.map((r) => r.jobId)).toEqual(['nightly-20261207T023000Z']);
    expect(all[0]?.status).toBe('COMPLETED');
  });

  it('two servers on one store start each fire once', async () => {
    const shared = { runs: new MemoryRunStore(), schedules: new MemoryScheduleStore() };
    const a = await setup({ often: { cron: '*/5 * * * *' } }, shared);
    const b = await setup({ often: { cron: '*/5 * * * *' } }, shared);
    const clock = new ManualClock('2026-12-07T00:00:00Z');
    const ra = runnerOn(a, clock);
    const rb = runnerOn(b, clock);
    await Promise.all([ra.start(), rb.start()]);
    for (let minute = 5; minute <= 120; minute += 5) {
      clock.set(Date.parse('2026-12-07T00:00:00Z') + minute * 60_000);
      await Promise.all([ra.tick(), rb.tick()]);
      await settle(a.orchestrator, shared.runs);
      await settle(b.orchestrator, shared.runs);
    }
    await ra.stop();
    await rb.stop();
    const all = await allRuns(shared.runs);
    expect(all).toHaveLength(24);
    expect(new Set(all.map((r) => r.jobId)).size).toBe(24);
  });

  it('after a day down, runOnce starts one run standing for the missed fires; skip starts none', async () => {
    const { runs, store, orchestrator, schedules } = await setup({
      once: { hourly: { minute: 0 }, name: 'once', misfire: 'runOnce' },
      none: { hourly: { minute: 0 }, name: 'none', misfire: 'skip' },
    });
    const clock = new ManualClock('2026-12-07T00:00:30Z');
    const runner = runnerOn({ schedules, store, orchestrator }, clock);
    await runner.start(); // first seen: no backfill
    await runner.stop();
    // Down for a day; back 30 minutes after the hour.
    clock.set('2026-12-08T00:30:00Z');
    const back = runnerOn({ schedules, store, orchestrator }, clock);
    await back.start();
    await settle(orchestrator, runs);
    let all = await allRuns(runs);
    expect(all).toHaveLength(1);
    expect(all[0]?.trigger).toEqual({
      kind: 'schedule',
      schedule: 'once',
      fireTime: '2026-12-08T00:00:00.000Z',
      missed: 23,
    });
    const [skipped] = await store.fires('none', 1);
    expect(skipped).toMatchObject({
      outcome: 'skipped-misfire',
      fireTime: '2026-12-08T00:00:00.000Z',
      missed: 23,
    });
    // The next fire is on time for both.
    clock.set('2026-12-08T01:00:01Z');
    await back.tick();
    await back.stop();
    await settle(orchestrator, runs);
    all = await allRuns(runs);
    expect(all.map((r) => r.jobId).sort()).toEqual([
      'none-20261208T010000Z',
      'once-20261208T000000Z',
      'once-20261208T010000Z',
    ]);
  });

  it('overlap: skip drops a fire while the previous run runs, queue starts it after, allow runs both', async () => {
    const { runs, store, orchestrator, schedules } = await setup({
      slowSkip: { cron: '*/10 * * * *', name: 'skip', overlap: 'skip' },
      slowQueue: { cron: '*/10 * * * *', name: 'queue', overlap: 'queue' },
      slowAllow: { cron: '*/10 * * * *', name: 'allow', overlap: 'allow' },
    });
    closeGate();
    const clock = new ManualClock('2026-12-07T00:00:30Z');
    const runner = runnerOn({ schedules, store, orchestrator }, clock);
    await runner.start();
    for (const at of ['2026-12-07T00:10:00Z', '2026-12-07T00:20:00Z', '2026-12-07T00:30:00Z']) {
      clock.set(at);
      await runner.tick();
    }
    const fires = async (name: string) =>
      (await store.fires(name, 10)).map((f) => f.outcome).reverse();
    expect(await fires('skip')).toEqual(['launched', 'skipped-overlap', 'skipped-overlap']);
    expect(await fires('queue')).toEqual(['launched', 'queued', 'skipped-overlap']);
    expect(await fires('allow')).toEqual(['launched', 'launched', 'launched']);
    // The slow runs end; the queued fire starts at the next check.
    release?.();
    await settle(orchestrator, runs);
    clock.set('2026-12-07T00:30:01Z');
    await runner.tick();
    await runner.stop();
    await settle(orchestrator, runs);
    expect(await fires('queue')).toEqual(['launched', 'launched', 'skipped-overlap']);
    const all = await allRuns(runs);
    const of = (name: string) =>
      all.filter((r) => (r.trigger as { schedule?: string }).schedule === name).length;
    expect([of('skip'), of('queue'), of('allow')]).toEqual([1, 2, 3]);
  });

  it('keeps a pause across restarts, does not catch up what fell in it, and triggers by hand', async () => {
    const { runs, store, orchestrator, schedules } = await setup({ nightly: { daily: '02:30' } });
    const clock = new ManualClock('2026-12-07T00:00:00Z');
    const runner = runnerOn({ schedules, store, orchestrator }, clock);
    await runner.start();
    expect((await runner.pause('nightly')).nextFireTimes).toEqual([]);
    await runner.stop();
    clock.set('2026-12-09T12:00:00Z');
    const restarted = runnerOn({ schedules, store, orchestrator }, clock);
    await restarted.start();
    expect((await restarted.get('nightly')).paused).toBe(true);
    expect(await allRuns(runs)).toHaveLength(0);
    const manual = await restarted.trigger('nightly');
    await manual.waitForCompletion({ timeout: 30 });
    expect(manual.record.trigger).toMatchObject({
      kind: 'schedule',
      schedule: 'nightly',
      manual: true,
    });
    const resumed = await restarted.resume('nightly');
    expect(resumed.nextFireTimes[0]).toBe('2026-12-10T02:30:00.000Z');
    await restarted.tick();
    expect(await allRuns(runs)).toHaveLength(1); // the paused days are not caught up
    clock.set('2026-12-10T02:30:00Z');
    await restarted.tick();
    await restarted.stop();
    await settle(orchestrator, runs);
    expect((await allRuns(runs)).map((r) => r.jobId)[1]).toBe('nightly-20261210T023000Z');
    await expect(restarted.pause('nope')).rejects.toMatchObject({
      code: 'PHYS_SCHEDULE_NOT_FOUND',
    });
  });
});
