/**
 * When a schedule fires, in the schedule's time zone: exactly one of
 * - `hourly: { minute }` — every hour at that minute (0–59);
 * - `daily: 'HH:MM'` — every day at that time;
 * - `weekly: 'mon 02:30'` — every week on that day (`mon`…`sun`) at that time;
 * - `cron: '*\/15 * * * *'` — a cron pattern (5 fields, or 6 with seconds first).
 * @public
 */
export type ScheduleWhen =
  | { readonly hourly: { readonly minute: number } }
  | { readonly daily: string }
  | { readonly weekly: string }
  | { readonly cron: string };

/**
 * What a schedule does when it fires, and what it does when a fire could not happen on time.
 * @public
 */
export interface ScheduleSettings {
  /** Unique across the config; required when a pipeline has several schedules (default: the pipeline's name). */
  readonly name?: string;
  /** IANA time zone the rule is read in, e.g. `Europe/Berlin` (default `UTC`). */
  readonly timezone?: string;
  /** Laid over the config's and the pipeline's policy for every run the schedule starts. */
  readonly params?: Readonly<Record<string, unknown>>;
  /**
   * Fires that could not start on time (no server ran, or it was busy longer than
   * `maxLatenessSeconds`): `runOnce` (default) starts one run standing for all of them, `skip`
   * starts none. Either way the next fire is on time, and there is never a storm of catch-up runs.
   */
  readonly misfire?: 'skip' | 'runOnce';
  /** How late a fire may start and still count as on time (default 60 seconds). */
  readonly maxLatenessSeconds?: number;
  /**
   * A fire while the schedule's previous run is still going: `skip` it (default), `queue` it
   * (started when the previous run ends; at most one waits), or `allow` runs side by side.
   */
  readonly overlap?: 'skip' | 'queue' | 'allow';
  /** Declared paused: it fires once resumed (`phys schedules resume`). */
  readonly paused?: boolean;
}

/**
 * A schedule as written under a pipeline's `schedule` in phys.config.
 * @public
 */
export type ScheduleDeclaration = ScheduleWhen & ScheduleSettings;

/**
 * The orchestration guide's form: `{ scheduleType: 'hourly', value: 0 }` (minute 0),
 * `{ scheduleType: 'daily', value: 3 }` (03:00) or `'03:30'`, `{ scheduleType: 'weekly', value:
 * 'MON:09:00' }`, `{ scheduleType: 'cron', value: '0 *\/6 * * *' }`.
 * @public
 */
export interface GuideScheduleSpec extends ScheduleSettings {
  readonly scheduleType: 'hourly' | 'daily' | 'weekly' | 'cron';
  readonly value: number | string;
}

/** Either form. @public */
export type ScheduleSpec = ScheduleDeclaration | GuideScheduleSpec;
