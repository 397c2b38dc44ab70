import {
  type ExecutionStatus,
  isTerminal,
  type Logger,
  type Orchestrator,
  PhysError,
  type SubmissionResult,
} from '@phys/core';
import type { ScheduleHandle } from './parse-schedule.js';
import type { ScheduleFire, ScheduleStore } from './schedule-store.js';

/** The time source and timers of a {@link ScheduleRunner}; tests pass a clock they move. @public */
export interface ScheduleClock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The process's clock. @public */
export const systemClock: ScheduleClock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (fn: () => void, ms: number) => {
    const timer = setTimeout(fn, ms);
    timer.unref?.();
    return timer;
  },
  clearTimeout: (handle: unknown) => clearTimeout(handle as ReturnType<typeof setTimeout>),
});

/** @public */
export interface ScheduleRunnerOptions {
  readonly schedules: readonly ScheduleHandle[];
  readonly store: ScheduleStore;
  /** Runs are started through it, so they are queued, stored and retried like any other. */
  readonly orchestrator: Orchestrator;
  readonly clock?: ScheduleClock;
  readonly logger?: Logger;
  /**
   * Longest sleep between two checks, in ms (default 30,000): how soon a pause or resume made
   * by another process on the same store is seen.
   */
  readonly maxSleepMs?: number;
}

/** A schedule as `phys schedules ls` shows it. @public */
export interface ScheduleStatus {
  readonly name: string;
  readonly pipeline: string;
  readonly description: string;
  readonly pattern: string;
  readonly timezone: string;
  readonly misfire: ScheduleHandle['misfire'];
  readonly overlap: ScheduleHandle['overlap'];
  readonly maxLatenessSeconds: number;
  readonly paused: boolean;
  /** The next five fire times (ISO 8601 UTC); none while paused. */
  readonly nextFireTimes: readonly string[];
  /** The newest fire (launched, queued or skipped), with the status of its run when it has one. */
  readonly lastFire?: ScheduleFire & { readonly status?: ExecutionStatus };
  /** The newest fire that started a run (of the last 20), with the run's status. */
  readonly lastRun?: ScheduleFire & { readonly jobId: string; readonly status?: ExecutionStatus };
}

const iso = (ms: number): string => new Date(ms).toISOString();
/**
 * `2026-12-04T02:30:00.000Z` → `20261204T023000Z`: the fire's part of its job id (milliseconds
 * kept when not zero, as for two triggers by hand in one second: `20261204T023000.250Z`).
 */
const compact = (fireTime: string): string => fireTime.replace(/[-:]/g, '').replace('.000Z', 'Z');

/**
 * Fires schedules through an orchestrator, exactly once per fire time: each fire is claimed in
 * the {@link ScheduleStore} before its run is started, and the run's job id is derived from the
 * schedule and the fire time, so that two processes on one store, or a restart between the claim
 * and the start, never start a fire twice (the orchestrator's idempotent job id is the second
 * lock). Misfire and overlap policies are applied per schedule; see `ScheduleSettings`.
 * @public
 */
export class ScheduleRunner {
  readonly #schedules: ReadonlyMap<string, ScheduleHandle>;
  readonly #store: ScheduleStore;
  readonly #orchestrator: Orchestrator;
  readonly #clock: ScheduleClock;
  readonly #logger: Logger | undefined;
  readonly #maxSleepMs: number;
  #timer: unknown;
  #running = false;
  #ticking: Promise<void> = Promise.resolve();

  constructor(options: ScheduleRunnerOptions) {
    this.#schedules = new Map(options.schedules.map((s) => [s.name, s]));
    this.#store = options.store;
    this.#orchestrator = options.orchestrator;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger;
    this.#maxSleepMs = options.maxSleepMs ?? 30_000;
  }

  /** The schedules, by name. */
  get schedules(): readonly ScheduleHandle[] {
    return [...this.#schedules.values()];
  }

  /**
   * Starts firing: first starts the runs of fires that were claimed but whose run never started
   * (a crash between the two), then checks every schedule and sleeps until the next fire.
   */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    for (const schedule of this.#schedules.values()) {
      for (const fire of await this.#store.fires(schedule.name, 5)) {
        if (fire.outcome !== 'launched' || fire.jobId === undefined) continue;
        if ((await this.#status(fire.jobId)) === undefined) await this.#launch(schedule, fire);
      }
    }
    await this.tick();
  }

  /** Stops firing, once a check under way has ended; runs already started go on. */
  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#ticking;
  }

  /** Checks every schedule now (ticks never overlap), then sleeps until the next fire. */
  tick(): Promise<void> {
    this.#ticking = this.#ticking.then(async () => {
      const now = this.#clock.now();
      let waiting = false;
      for (const schedule of this.#schedules.values()) {
        try {
          waiting = (await this.#check(schedule, now)) || waiting;
        } catch (error) {
          this.#logger?.error(
            `schedule '${schedule.name}': ${error instanceof Error ? error.message : String(error)}`,
            { schedule: schedule.name },
          );
        }
      }
      this.#arm(now, waiting);
    });
    return this.#ticking;
  }

  async list(): Promise<ScheduleStatus[]> {
    return Promise.all([...this.#schedules.values()].map((s) => this.#describe(s)));
  }

  /** `PHYS_SCHEDULE_NOT_FOUND` naming the known schedules when `name` is none of them. */
  async get(name: string): Promise<ScheduleStatus> {
    return this.#describe(this.#find(name));
  }

  /** Pauses a schedule (persisted): it fires no more until resumed. */
  async pause(name: string): Promise<ScheduleStatus> {
    const schedule = this.#find(name);
    const state = await this.#store.getScheduleState(name);
    await this.#store.setScheduleState(name, { ...state, paused: true });
    return this.#describe(schedule);
  }

  /**
   * Resumes a schedule (persisted): fires from now on; what fell in the pause is not caught up.
   * A started runner checks it at once; a runner that was not started (a CLI editing the store of
   * a server) only records it.
   */
  async resume(name: string): Promise<ScheduleStatus> {
    const schedule = this.#find(name);
    const state = await this.#store.getScheduleState(name);
    const wasPaused = state?.paused ?? schedule.paused;
    await this.#store.setScheduleState(name, {
      paused: false,
      since: wasPaused ? iso(this.#clock.now()) : (state?.since ?? iso(this.#clock.now())),
    });
    if (this.#running) void this.tick();
    return this.#describe(schedule);
  }

  /** Starts the schedule's pipeline now, by hand (paused or not; overlap does not apply). */
  async trigger(name: string): Promise<SubmissionResult> {
    const schedule = this.#find(name);
    const now = this.#clock.now();
    const manualFire = (at: number): ScheduleFire => {
      const fireTime = iso(at);
      return {
        schedule: name,
        fireTime,
        outcome: 'launched',
        jobId: `${name}-manual-${compact(fireTime)}`,
        manual: true,
        claimedAt: iso(now),
      };
    };
    // Two triggers in one millisecond are two fires.
    let fire = manualFire(now);
    while (!(await this.#store.claimFire(fire))) fire = manualFire(Date.parse(fire.fireTime) + 1);
    return this.#launch(schedule, fire);
  }

  #find(name: string): ScheduleHandle {
    const schedule = this.#schedules.get(name);
    if (schedule === undefined) {
      const known = [...this.#schedules.keys()].sort();
      throw new PhysError(
        'PHYS_SCHEDULE_NOT_FOUND',
        `No schedule '${name}'. Schedules: ${known.join(', ') || '(none: add schedule: { daily: "02:30" } to a pipeline in phys.config)'}.`,
        { details: { schedule: name, known } },
      );
    }
    return schedule;
  }

  async #paused(schedule: ScheduleHandle): Promise<boolean> {
    return (await this.#store.getScheduleState(schedule.name))?.paused ?? schedule.paused;
  }

  async #describe(schedule: ScheduleHandle): Promise<ScheduleStatus> {
    const paused = await this.#paused(schedule);
    const recent = await this.#store.fires(schedule.name, 20);
    const [last] = recent;
    const status = last?.jobId === undefined ? undefined : await this.#status(last.jobId);
    const run = recent.find(
      (f): f is ScheduleFire & { jobId: string } =>
        f.outcome === 'launched' && f.jobId !== undefined,
    );
    const runStatus =
      run === undefined ? undefined : run === last ? status : await this.#status(run.jobId);
    return {
      name: schedule.name,
      pipeline: schedule.pipeline,
      description: schedule.description,
      pattern: schedule.pattern,
      timezone: schedule.timezone,
      misfire: schedule.misfire,
      overlap: schedule.overlap,
      maxLatenessSeconds: schedule.maxLatenessSeconds,
      paused,
      nextFireTimes: paused
        ? []
        : schedule.nextFireTimes(5, new Date(this.#clock.now())).map((d) => d.toISOString()),
      ...(last === undefined
        ? {}
        : { lastFire: { ...last, ...(status === undefined ? {} : { status }) } }),
      ...(run === undefined
        ? {}
        : { lastRun: { ...run, ...(runStatus === undefined ? {} : { status: runStatus }) } }),
    };
  }

  /** The run's status; undefined when the orchestrator does not know it. */
  async #status(jobId: string): Promise<ExecutionStatus | undefined> {
    try {
      return await this.#orchestrator.getRunStatus(jobId);
    } catch (error) {
      if (PhysError.is(error) && error.code === 'PHYS_RUN_NOT_FOUND') return undefined;
      throw error;
    }
  }

  /** One schedule at `now`; true when a queued fire waits on a running run. */
  async #check(schedule: ScheduleHandle, now: number): Promise<boolean> {
    const state = await this.#store.getScheduleState(schedule.name);
    if (state === undefined) {
      // First seen: fires from now on, no backfill of the past.
      await this.#store.setScheduleState(schedule.name, { since: iso(now) });
      return false;
    }
    if (state.paused ?? schedule.paused) return false;
    const recent = await this.#store.fires(schedule.name, 20);
    const previous = recent.find((f) => f.outcome === 'launched' && f.jobId !== undefined);
    let busy =
      previous?.jobId !== undefined && !isTerminalOrUnknown(await this.#status(previous.jobId));

    // A fire queued behind the previous run starts once that run has ended.
    const queued = recent.find((f) => f.outcome === 'queued');
    if (queued !== undefined && !busy) {
      const jobId = `${schedule.name}-${compact(queued.fireTime)}`;
      if (await this.#store.promoteFire(schedule.name, queued.fireTime, jobId)) {
        await this.#launch(schedule, { ...queued, outcome: 'launched', jobId });
        busy = true;
      }
    }

    // Fires due since the newest one decided (by hand-started ones excepted) or since `since`.
    const decided = recent.find((f) => f.manual !== true)?.fireTime;
    const since = Math.max(
      state.since === undefined ? 0 : Date.parse(state.since),
      decided === undefined ? 0 : Date.parse(decided),
    );
    const due = schedule.fireTimesBetween(new Date(since), new Date(now));
    const newest = due.at(-1);
    if (newest === undefined) return queued !== undefined && busy;
    const fireTime = newest.toISOString();
    const late = now - newest.getTime() > schedule.maxLatenessSeconds * 1000;
    const missed = late ? due.length : due.length - 1;
    const base = { schedule: schedule.name, fireTime, claimedAt: iso(now) };
    if (late && schedule.misfire === 'skip') {
      await this.#store.claimFire({ ...base, outcome: 'skipped-misfire', missed: due.length - 1 });
      this.#logger?.warn(
        `schedule '${schedule.name}': ${plural(missed, 'fire')} missed (the newest at ${fireTime}); skipped (misfire: skip)`,
        { schedule: schedule.name },
      );
      return false;
    }
    const standsFor = schedule.misfire === 'runOnce' ? due.length - 1 : 0;
    if (busy && schedule.overlap !== 'allow') {
      const wait = schedule.overlap === 'queue' && queued === undefined;
      await this.#store.claimFire({
        ...base,
        outcome: wait ? 'queued' : 'skipped-overlap',
        ...(standsFor > 0 ? { missed: standsFor } : {}),
      });
      this.#logger?.info(
        `schedule '${schedule.name}': the fire of ${fireTime} ${wait ? 'waits for' : 'is skipped while'} the previous run (${previous?.jobId}) ${wait ? 'to end' : 'runs'} (overlap: ${schedule.overlap})`,
        { schedule: schedule.name },
      );
      return wait;
    }
    const fire: ScheduleFire = {
      ...base,
      outcome: 'launched',
      jobId: `${schedule.name}-${compact(fireTime)}`,
      ...(standsFor > 0 ? { missed: standsFor } : {}),
    };
    if (!(await this.#store.claimFire(fire))) return false; // another process has it
    if (missed > 0) {
      this.#logger?.warn(
        `schedule '${schedule.name}': ${plural(missed, 'fire')} missed; one run stands for ${missed === 1 ? 'it' : 'them'} (misfire: ${schedule.misfire})`,
        { schedule: schedule.name },
      );
    }
    await this.#launch(schedule, fire);
    return false;
  }

  async #launch(schedule: ScheduleHandle, fire: ScheduleFire): Promise<SubmissionResult> {
    const submission = await this.#orchestrator.runPipeline(schedule.pipeline, {
      runId: fire.jobId as string,
      params: schedule.params,
      trigger: {
        kind: 'schedule',
        schedule: schedule.name,
        fireTime: fire.fireTime,
        ...(fire.missed === undefined ? {} : { missed: fire.missed }),
        ...(fire.manual === true ? { manual: true } : {}),
      },
    });
    this.#logger?.info(
      `schedule '${schedule.name}' started run ${submission.jobId} of '${schedule.pipeline}' for ${fire.fireTime}`,
      { schedule: schedule.name, jobId: submission.jobId },
    );
    return submission;
  }

  #arm(now: number, waiting: boolean): void {
    if (!this.#running) return;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    let next = Number.POSITIVE_INFINITY;
    for (const schedule of this.#schedules.values()) {
      const [time] = schedule.nextFireTimes(1, new Date(now));
      if (time !== undefined) next = Math.min(next, time.getTime());
    }
    // A queued fire is checked every second; otherwise sleep to the next fire (bounded).
    const delay = Math.max(0, Math.min(next - now, waiting ? 1000 : this.#maxSleepMs));
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      void this.tick();
    }, delay);
  }
}

function isTerminalOrUnknown(status: ExecutionStatus | undefined): boolean {
  return status === undefined || isTerminal(status);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
