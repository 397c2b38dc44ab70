/**
 * What became of one fire time of a schedule:
 * - `launched`: a run was started for it (`jobId`);
 * - `queued`: it waits for the schedule's previous run to end (overlap policy `queue`);
 * - `skipped-overlap`: the previous run still ran (overlap policy `skip`);
 * - `skipped-misfire`: it could not start on time (misfire policy `skip`, or covered by a later
 *   fire).
 * @public
 */
export type FireOutcome = 'launched' | 'queued' | 'skipped-overlap' | 'skipped-misfire';

/** One claimed fire time of a schedule. @public */
export interface ScheduleFire {
  readonly schedule: string;
  /** ISO 8601 UTC; with `schedule`, the unique key of the fire. */
  readonly fireTime: string;
  readonly outcome: FireOutcome;
  /** The run started (or to be started) for it. */
  readonly jobId?: string;
  /** Missed fire times this one stands for besides its own (misfire policy `runOnce`). */
  readonly missed?: number;
  /** Started by hand (`phys schedules trigger`). */
  readonly manual?: boolean;
  /** When it was claimed (ISO 8601 UTC). */
  readonly claimedAt: string;
}

/** A schedule's persisted state. @public */
export interface ScheduleState {
  /** Set by pause/resume; undefined: as declared. */
  readonly paused?: boolean;
  /**
   * Fire times at or before this instant (ISO) are never due: set when the schedule is first seen
   * (no backfill of a new schedule) and when it is resumed (no catch-up of a pause).
   */
  readonly since?: string;
}

/**
 * Where schedules record their fires and pause state: usually the run store's database, so that a
 * fire and the run it starts live together. `claimFire` is the exactly-once guarantee: of any
 * number of processes claiming one `(schedule, fireTime)`, exactly one succeeds.
 * @public
 */
export interface ScheduleStore {
  /** Records the decision for a fire; false (and no change) when it was claimed already. */
  claimFire(fire: ScheduleFire): Promise<boolean>;
  /** Moves a `queued` fire to `launched` with its job id; false when it was not queued any more. */
  promoteFire(schedule: string, fireTime: string, jobId: string): Promise<boolean>;
  /** The schedule's fires, newest fire time first, at most `limit` (default 20). */
  fires(schedule: string, limit?: number): Promise<ScheduleFire[]>;
  getScheduleState(schedule: string): Promise<ScheduleState | undefined>;
  setScheduleState(schedule: string, state: ScheduleState): Promise<void>;
}

/**
 * A {@link ScheduleStore} in process memory: schedules of one process, gone when it ends.
 * @public
 */
export class MemoryScheduleStore implements ScheduleStore {
  readonly #fires = new Map<string, Map<string, ScheduleFire>>();
  readonly #states = new Map<string, ScheduleState>();

  async claimFire(fire: ScheduleFire): Promise<boolean> {
    let fires = this.#fires.get(fire.schedule);
    if (fires === undefined) {
      fires = new Map();
      this.#fires.set(fire.schedule, fires);
    }
    if (fires.has(fire.fireTime)) return false;
    fires.set(fire.fireTime, Object.freeze({ ...fire }));
    return true;
  }

  async promoteFire(schedule: string, fireTime: string, jobId: string): Promise<boolean> {
    const fires = this.#fires.get(schedule);
    const fire = fires?.get(fireTime);
    if (fires === undefined || fire === undefined || fire.outcome !== 'queued') return false;
    fires.set(fireTime, Object.freeze({ ...fire, outcome: 'launched', jobId }));
    return true;
  }

  async fires(schedule: string, limit = 20): Promise<ScheduleFire[]> {
    const fires = [...(this.#fires.get(schedule)?.values() ?? [])];
    // ISO 8601 UTC strings of one format sort as their instants.
    fires.sort((a, b) => (a.fireTime < b.fireTime ? 1 : a.fireTime > b.fireTime ? -1 : 0));
    return fires.slice(0, limit);
  }

  async getScheduleState(schedule: string): Promise<ScheduleState | undefined> {
    return this.#states.get(schedule);
  }

  async setScheduleState(schedule: string, state: ScheduleState): Promise<void> {
    this.#states.set(schedule, Object.freeze({ ...state }));
  }
}
