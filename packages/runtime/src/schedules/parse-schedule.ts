import {
  ConfigError,
  type ConfigIssue,
  formatIssues,
  type PipelineDeclaration,
  type ScheduleSpec,
} from '@phys/core';
import { Cron } from 'croner';

/** What a schedule does when a fire could not happen on time. @public */
export type MisfirePolicy = 'skip' | 'runOnce';
/** What a schedule does when it fires while its previous run still runs. @public */
export type OverlapPolicy = 'skip' | 'queue' | 'allow';

/**
 * A schedule after validation: its rule as one cron pattern read in `timezone`, its policies with
 * their defaults, and the pipeline it starts.
 * @public
 */
export interface ResolvedSchedule {
  /** Unique across the config. */
  readonly name: string;
  readonly pipeline: string;
  /** The rule as a cron pattern (5 fields, or 6 with seconds). */
  readonly pattern: string;
  /** The rule as people say it: `daily at 02:30 (Europe/Berlin)`. */
  readonly description: string;
  readonly timezone: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly misfire: MisfirePolicy;
  readonly maxLatenessSeconds: number;
  readonly overlap: OverlapPolicy;
  /** Declared paused (the run store's pause state, once set, wins). */
  readonly paused: boolean;
}

/**
 * A validated schedule that tells its fire times.
 * @public
 */
export interface ScheduleHandle extends ResolvedSchedule {
  /** The next `count` fire times strictly after `after` (default now), oldest first. */
  nextFireTimes(count?: number, after?: Date): Date[];
  /** Fire times in (from, to], oldest first, at most `limit` (default 10,000). */
  fireTimesBetween(from: Date, to: Date, limit?: number): Date[];
}

/** Defaults of the policies. @public */
export const SCHEDULE_DEFAULTS = Object.freeze({
  timezone: 'UTC',
  misfire: 'runOnce' as MisfirePolicy,
  maxLatenessSeconds: 60,
  overlap: 'skip' as OverlapPolicy,
});

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const RULES = ['hourly', 'daily', 'weekly', 'cron'] as const;
const SETTINGS = [
  'name',
  'timezone',
  'params',
  'misfire',
  'maxLatenessSeconds',
  'overlap',
  'paused',
] as const;
const DAYS: Readonly<Record<string, number>> = {
  sun: 0,
  sunday: 0,
  mon: 1,
  monday: 1,
  tue: 2,
  tues: 2,
  tuesday: 2,
  wed: 3,
  wednesday: 3,
  thu: 4,
  thur: 4,
  thurs: 4,
  thursday: 4,
  fri: 5,
  friday: 5,
  sat: 6,
  saturday: 6,
};
const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

function show(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

const pad = (n: number) => String(n).padStart(2, '0');

/** `HH:MM` (24 h) → [hour, minute], or undefined. */
function parseTime(text: string): [number, number] | undefined {
  const match = /^(\d{1,2}):(\d{2})$/.exec(text.trim());
  if (match === null) return undefined;
  const hour = Number(match[1]);
  const minute = Number(match[2]);
  return hour <= 23 && minute <= 59 ? [hour, minute] : undefined;
}

interface Rule {
  readonly pattern: string;
  readonly description: string;
}

function hourlyRule(minute: unknown, at: string, issues: ConfigIssue[]): Rule | undefined {
  const value =
    typeof minute === 'object' && minute !== null && !Array.isArray(minute)
      ? (minute as { minute?: unknown }).minute
      : minute;
  if (
    typeof minute === 'object' &&
    minute !== null &&
    Object.keys(minute).some((k) => k !== 'minute')
  ) {
    issues.push({
      path: at,
      message: 'hourly takes { minute: 0–59 }, e.g. { hourly: { minute: 5 } }',
    });
    return undefined;
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 59) {
    issues.push({
      path: at,
      message: `hourly needs a minute from 0 to 59, e.g. { hourly: { minute: 5 } }; got ${show(value)}`,
    });
    return undefined;
  }
  return { pattern: `${value} * * * *`, description: `hourly at :${pad(value)}` };
}

function dailyRule(value: unknown, at: string, issues: ConfigIssue[]): Rule | undefined {
  // The guide's number form is an hour: { scheduleType: 'daily', value: 3 } is 03:00.
  const time =
    typeof value === 'number'
      ? Number.isInteger(value) && value >= 0 && value <= 23
        ? ([value, 0] as [number, number])
        : undefined
      : typeof value === 'string'
        ? parseTime(value)
        : undefined;
  if (time === undefined) {
    issues.push({
      path: at,
      message: `daily needs a time 'HH:MM' (00:00–23:59) or an hour 0–23, e.g. '02:30'; got ${show(value)}`,
    });
    return undefined;
  }
  const [hour, minute] = time;
  return {
    pattern: `${minute} ${hour} * * *`,
    description: `daily at ${pad(hour)}:${pad(minute)}`,
  };
}

function weeklyRule(value: unknown, at: string, issues: ConfigIssue[]): Rule | undefined {
  // 'mon 02:30', 'Monday 2:30', and the guide's 'MON:09:00'.
  const match =
    typeof value === 'string' ? /^\s*([A-Za-z]+)(?:\s+|:)(\d{1,2}:\d{2})\s*$/.exec(value) : null;
  const day = match === null ? undefined : DAYS[(match[1] as string).toLowerCase()];
  const time = match === null ? undefined : parseTime(match[2] as string);
  if (day === undefined || time === undefined) {
    issues.push({
      path: at,
      message: `weekly needs '<day> HH:MM' with a day mon…sun, e.g. 'mon 02:30' (or 'MON:02:30'); got ${show(value)}`,
    });
    return undefined;
  }
  const [hour, minute] = time;
  return {
    pattern: `${minute} ${hour} * * ${day}`,
    description: `weekly on ${DAY_NAMES[day]} at ${pad(hour)}:${pad(minute)}`,
  };
}

function cronRule(value: unknown, at: string, issues: ConfigIssue[]): Rule | undefined {
  if (typeof value !== 'string' || value.trim() === '') {
    issues.push({
      path: at,
      message: `cron needs a pattern such as '*/15 * * * *' (minute hour day month weekday); got ${show(value)}`,
    });
    return undefined;
  }
  const pattern = value.trim().replace(/\s+/g, ' ');
  const fields = pattern.startsWith('@') ? 5 : pattern.split(' ').length;
  if (fields !== 5 && fields !== 6) {
    issues.push({
      path: at,
      message: `cron '${pattern}' has ${fields} fields; write 5 (minute hour day month weekday) or 6 (seconds first)`,
    });
    return undefined;
  }
  try {
    new Cron(pattern, { paused: true });
  } catch (error) {
    const reason = error instanceof Error ? error.message.replace(/^CronPattern:\s*/, '') : '';
    issues.push({ path: at, message: `cron '${pattern}' is not a valid pattern: ${reason}` });
    return undefined;
  }
  return { pattern, description: `cron '${pattern}'` };
}

function validTimezone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

/**
 * Validates one schedule (either form) of pipeline `pipeline`; pushes every problem with its path
 * and returns the resolved schedule when there was none. `defaultName` names it when it has no
 * `name`.
 */
function resolveOne(
  pipeline: string,
  value: unknown,
  path: string,
  defaultName: string | undefined,
  issues: ConfigIssue[],
): ResolvedSchedule | undefined {
  const before = issues.length;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    issues.push({
      path,
      message: `a schedule is an object such as { daily: '02:30' } or { cron: '0 */6 * * *' }; got ${show(value)}`,
    });
    return undefined;
  }
  const spec = value as Record<string, unknown>;
  const at = (key: string) => `${path}.${key}`;
  const guide = 'scheduleType' in spec || 'value' in spec;
  const rules = RULES.filter((r) => r in spec);
  for (const key of Object.keys(spec)) {
    const known =
      (SETTINGS as readonly string[]).includes(key) ||
      (guide
        ? key === 'scheduleType' || key === 'value'
        : (RULES as readonly string[]).includes(key));
    if (!known) {
      issues.push({
        path: at(key),
        message: `unknown key; a schedule has one of ${RULES.join(', ')} (or scheduleType and value) and ${SETTINGS.join(', ')}`,
      });
    }
  }
  let rule: Rule | undefined;
  if (guide) {
    const type = spec.scheduleType;
    if (rules.length > 0) {
      issues.push({ path, message: `give either scheduleType/value or ${rules[0]}, not both` });
    } else if (type === 'hourly') rule = hourlyRule(spec.value, at('value'), issues);
    else if (type === 'daily') rule = dailyRule(spec.value, at('value'), issues);
    else if (type === 'weekly') rule = weeklyRule(spec.value, at('value'), issues);
    else if (type === 'cron') rule = cronRule(spec.value, at('value'), issues);
    else {
      issues.push({
        path: at('scheduleType'),
        message: `must be 'hourly', 'daily', 'weekly' or 'cron'; got ${show(type)}`,
      });
    }
  } else if (rules.length !== 1) {
    issues.push({
      path,
      message:
        rules.length === 0
          ? "a schedule needs one of hourly, daily, weekly or cron, e.g. { daily: '02:30' }"
          : `a schedule has exactly one of hourly, daily, weekly or cron; got ${rules.join(' and ')}`,
    });
  } else {
    const kind = rules[0] as (typeof RULES)[number];
    const v = spec[kind];
    rule =
      kind === 'hourly'
        ? hourlyRule(v, at(kind), issues)
        : kind === 'daily'
          ? dailyRule(v, at(kind), issues)
          : kind === 'weekly'
            ? weeklyRule(v, at(kind), issues)
            : cronRule(v, at(kind), issues);
  }

  const timezone = spec.timezone ?? SCHEDULE_DEFAULTS.timezone;
  if (typeof timezone !== 'string' || !validTimezone(timezone)) {
    issues.push({
      path: at('timezone'),
      message: `not an IANA time zone: ${show(timezone)}; write one such as 'UTC' or 'Europe/Berlin'`,
    });
  }
  const params = spec.params ?? {};
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    issues.push({
      path: at('params'),
      message: `must be an object of policy keys; got ${show(params)}`,
    });
  }
  const misfire = spec.misfire ?? SCHEDULE_DEFAULTS.misfire;
  if (misfire !== 'skip' && misfire !== 'runOnce') {
    issues.push({
      path: at('misfire'),
      message: `must be 'runOnce' or 'skip'; got ${show(misfire)}`,
    });
  }
  const overlap = spec.overlap ?? SCHEDULE_DEFAULTS.overlap;
  if (overlap !== 'skip' && overlap !== 'queue' && overlap !== 'allow') {
    issues.push({
      path: at('overlap'),
      message: `must be 'skip', 'queue' or 'allow'; got ${show(overlap)}`,
    });
  }
  const lateness = spec.maxLatenessSeconds ?? SCHEDULE_DEFAULTS.maxLatenessSeconds;
  if (typeof lateness !== 'number' || !Number.isFinite(lateness) || lateness < 0) {
    issues.push({
      path: at('maxLatenessSeconds'),
      message: `must be a number of seconds ≥ 0; got ${show(lateness)}`,
    });
  }
  const paused = spec.paused ?? false;
  if (typeof paused !== 'boolean') {
    issues.push({ path: at('paused'), message: `must be true or false; got ${show(paused)}` });
  }
  const name = spec.name ?? defaultName;
  if (name === undefined) {
    issues.push({
      path: at('name'),
      message: `pipeline '${pipeline}' has several schedules: give each a name (letters, digits, '.', '_', '-')`,
    });
  } else if (typeof name !== 'string' || !NAME.test(name)) {
    issues.push({
      path: at('name'),
      message: `a schedule name is 1–100 letters, digits, '.', '_' or '-', starting with a letter or digit; got ${show(name)}`,
    });
  }
  if (issues.length > before || rule === undefined) return undefined;
  return Object.freeze({
    name: name as string,
    pipeline,
    pattern: rule.pattern,
    description: `${rule.description} (${timezone as string})`,
    timezone: timezone as string,
    params: Object.freeze({ ...(params as Record<string, unknown>) }),
    misfire: misfire as MisfirePolicy,
    maxLatenessSeconds: lateness as number,
    overlap: overlap as OverlapPolicy,
    paused: paused as boolean,
  });
}

/** Adds the fire-time methods to a resolved schedule. */
export function scheduleHandle(resolved: ResolvedSchedule): ScheduleHandle {
  const cron = new Cron(resolved.pattern, { timezone: resolved.timezone, paused: true });
  return Object.freeze({
    ...resolved,
    nextFireTimes(count = 5, after: Date = new Date()): Date[] {
      return cron.nextRuns(count, after);
    },
    fireTimesBetween(from: Date, to: Date, limit = 10_000): Date[] {
      const out: Date[] = [];
      let previous: Date | null = from;
      while (out.length < limit) {
        const next: Date | null = cron.nextRun(previous);
        if (next === null || next.getTime() > to.getTime()) break;
        out.push(next);
        previous = next;
      }
      return out;
    },
  });
}

/**
 * The schedules of one pipeline declaration's `schedule` value (one or a list), each problem
 * pushed with its path under `pipelines.<name>.schedule`.
 * @internal
 */
export function pipelineScheduleIssues(
  pipeline: string,
  value: unknown,
  issues: ConfigIssue[],
  path = `pipelines.${pipeline}.schedule`,
): ResolvedSchedule[] {
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  const out: ResolvedSchedule[] = [];
  list.forEach((spec, i) => {
    const resolved = resolveOne(
      pipeline,
      spec,
      Array.isArray(value) ? `${path}[${i}]` : path,
      list.length === 1 ? pipeline : undefined,
      issues,
    );
    if (resolved !== undefined) out.push(resolved);
  });
  return out;
}

/**
 * Every schedule of the config's pipelines, checked: rules, time zones, policies, and names unique
 * across the config. Throws one `ConfigError` (`PHYS_CONFIG_INVALID`) listing every problem.
 * @public
 */
export function configSchedules(
  pipelines: Readonly<Record<string, PipelineDeclaration>>,
): ScheduleHandle[] {
  const issues: ConfigIssue[] = [];
  const resolved: ResolvedSchedule[] = [];
  for (const [name, declaration] of Object.entries(pipelines)) {
    resolved.push(...pipelineScheduleIssues(name, declaration.schedule, issues));
  }
  duplicateNameIssues(resolved, issues);
  if (issues.length > 0) throw scheduleError(issues);
  return resolved.map(scheduleHandle);
}

/** Pushes an issue per schedule name used twice. @internal */
export function duplicateNameIssues(
  schedules: readonly ResolvedSchedule[],
  issues: ConfigIssue[],
): void {
  const seen = new Map<string, string>();
  for (const s of schedules) {
    const first = seen.get(s.name);
    if (first !== undefined) {
      issues.push({
        path: `pipelines.${s.pipeline}.schedule`,
        message: `schedule name '${s.name}' is also used by pipeline '${first}'; names are unique across the config`,
      });
    } else seen.set(s.name, s.pipeline);
  }
}

function scheduleError(issues: readonly ConfigIssue[]): ConfigError {
  return new ConfigError(
    'PHYS_CONFIG_INVALID',
    `Invalid schedule (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${formatIssues(issues)}`,
    { issues: [...issues] },
  );
}

/**
 * A validated schedule of pipeline `pipeline`, in either form, with its fire times:
 * `schedule('calibrate', { daily: '02:30', timezone: 'Europe/Berlin' }).nextFireTimes(3)` or the
 * orchestration guide's `schedule('calibrate', { scheduleType: 'daily', value: 3 })`.
 * `PHYS_CONFIG_INVALID` naming every problem.
 * @public
 */
export function schedule(pipeline: string, spec: ScheduleSpec): ScheduleHandle {
  const issues: ConfigIssue[] = [];
  const [resolved] = pipelineScheduleIssues(pipeline, spec, issues, 'schedule');
  if (issues.length > 0 || resolved === undefined) throw scheduleError(issues);
  return scheduleHandle(resolved);
}
