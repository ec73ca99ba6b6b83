/**
 * Wall-clock time in a time zone (IANA names, e.g. Asia/Shanghai), for quiet
 * hours, daily caps and calendar triggers. Pure: Intl does the zone arithmetic.
 */

const MINUTE = 60_000;
const formatters = new Map<string, Intl.DateTimeFormat>();

export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

export interface LocalTime {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  /** 0 = Sunday ... 6 = Saturday. */
  readonly weekday: number;
}

export function localTime(at: number, timeZone: string): LocalTime {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      weekday: 'short',
    });
    formatters.set(timeZone, formatter);
  }
  const parts: Record<string, string> = {};
  for (const part of formatter.formatToParts(at)) parts[part.type] = part.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    weekday: ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(parts.weekday as string),
  };
}

/** The member's local calendar date, as YYYY-MM-DD (for "per day" caps). */
export function localDate(at: number, timeZone: string): string {
  const t = localTime(at, timeZone);
  return `${t.year}-${String(t.month).padStart(2, '0')}-${String(t.day).padStart(2, '0')}`;
}

/** The instant a local wall-clock time happens in a zone (the earlier one when clocks go back; skipped times move on). */
export function instantOf(year: number, month: number, day: number, hour: number, minute: number, timeZone: string): number {
  const wall = Date.UTC(year, month - 1, day, hour, minute);
  let guess = wall;
  // Two rounds settle the zone offset (it can differ between the guess and the answer near a change).
  for (let i = 0; i < 2; i++) {
    const seen = localTime(guess, timeZone);
    const seenWall = Date.UTC(seen.year, seen.month - 1, seen.day, seen.hour, seen.minute);
    guess += wall - seenWall;
  }
  return Math.floor(guess / MINUTE) * MINUTE;
}

/**
 * The first instant after `after` whose local date satisfies `dayMatches` at hour:minute
 * local time; searches up to `maxDays` days (a birthday on Feb 29 needs four years).
 */
export function nextLocalOccurrence(
  after: number,
  timeZone: string,
  hour: number,
  minute: number,
  dayMatches: (date: LocalTime) => boolean,
  maxDays = 1_470,
): number | null {
  const start = localTime(after, timeZone);
  for (let offset = 0; offset <= maxDays; offset++) {
    const date = new Date(Date.UTC(start.year, start.month - 1, start.day + offset));
    const candidate: LocalTime = {
      year: date.getUTCFullYear(),
      month: date.getUTCMonth() + 1,
      day: date.getUTCDate(),
      hour,
      minute,
      weekday: date.getUTCDay(),
    };
    if (!dayMatches(candidate)) continue;
    const at = instantOf(candidate.year, candidate.month, candidate.day, hour, minute, timeZone);
    if (at > after) return at;
  }
  return null;
}

/** Parses "HH:MM" into minutes after midnight. */
export function minutesOfDay(text: string): number {
  const [h, m] = text.split(':').map(Number);
  return (h as number) * 60 + (m as number);
}

/** Whether `at` falls in the local quiet hours [start, end) (which may span midnight), and when they end. */
export function quietHoursAt(at: number, timeZone: string, start: string, end: string): { quiet: boolean; endsAt: number } {
  const local = localTime(at, timeZone);
  const now = local.hour * 60 + local.minute;
  const from = minutesOfDay(start);
  const to = minutesOfDay(end);
  const quiet = from <= to ? now >= from && now < to : now >= from || now < to;
  if (!quiet) return { quiet, endsAt: at };
  const endsAt = nextLocalOccurrence(at, timeZone, Math.floor(to / 60), to % 60, () => true) as number;
  return { quiet, endsAt };
}
