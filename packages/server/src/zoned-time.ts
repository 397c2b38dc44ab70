// Shared by `phys schedules ls` and the dashboard's Schedules page (bundled into it by Vite):
// keep it free of Node imports.

/**
 * An ISO time in `timeZone`, as a schedule's fire times are shown: `2026-12-05 02:30 CET`
 * (seconds only when not zero).
 */
export function zonedTime(iso: string, timeZone: string): string {
  const parts: Record<string, string> = {};
  for (const p of new Intl.DateTimeFormat('en-GB', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
    timeZoneName: 'short',
  }).formatToParts(new Date(iso))) {
    parts[p.type] = p.value;
  }
  const seconds = parts.second === '00' ? '' : `:${parts.second}`;
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}${seconds} ${parts.timeZoneName}`;
}
