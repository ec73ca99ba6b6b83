import { MS_PER_DAY } from '../../lib/clock.ts';

/**
 * Windowed counters are kept as one bucket per UTC day. A window of N days at time t
 * covers the day of t and the N-1 days before it: exact at day granularity, and a
 * member's memory is bounded by the longest window (older buckets are dropped).
 */
export function dayOf(ts: number): number {
  return Math.floor(ts / MS_PER_DAY);
}

export interface Bucket {
  count: number;
  sum: number;
}

/**
 * One counter's buckets as a flat list of numbers sorted by day: day, count, sum, day,
 * count, sum, ... Stored as it is (in the member's JSON). Flat numbers, not an object
 * keyed by day: they parse, stringify and scan without an object and a key string per
 * day, and day numbers as keys put an object in V8's slow dictionary mode.
 */
export type DayBuckets = number[];

const STRIDE = 3;

/** The buckets of a counter that has none yet (for reading). */
export const NO_BUCKETS: Readonly<DayBuckets> = Object.freeze([]);

function addToDay(buckets: DayBuckets, day: number, amount: number, count: number): void {
  // Most events land on the newest day: look from the end.
  let i = buckets.length - STRIDE;
  while (i >= 0 && (buckets[i] as number) > day) i -= STRIDE;
  if (i >= 0 && buckets[i] === day) {
    buckets[i + 1] = (buckets[i + 1] as number) + count;
    buckets[i + 2] = roundMoney((buckets[i + 2] as number) + amount);
  } else {
    buckets.splice(i + STRIDE, 0, day, count, roundMoney(amount));
  }
}

export function addToBuckets(buckets: DayBuckets, ts: number, amount: number, count = 1): void {
  addToDay(buckets, dayOf(ts), amount, count);
}

/** Adds every bucket of `from` into `into` (a merge of two members). */
export function addAllBuckets(into: DayBuckets, from: Readonly<DayBuckets>): void {
  for (let i = 0; i < from.length; i += STRIDE) addToDay(into, from[i] as number, from[i + 2] as number, from[i + 1] as number);
}

/** The buckets as days with their totals, oldest first (for reading and tests). */
export function bucketDays(buckets: Readonly<DayBuckets>): { day: number; count: number; sum: number }[] {
  const days: { day: number; count: number; sum: number }[] = [];
  for (let i = 0; i < buckets.length; i += STRIDE) days.push({ day: buckets[i] as number, count: buckets[i + 1] as number, sum: buckets[i + 2] as number });
  return days;
}

/**
 * Buckets as stored, in this form or the earlier one (an object of day -> { count, sum },
 * written before this form existed): read either, so stored members keep their counters.
 */
export function storedBuckets(stored: unknown): DayBuckets {
  if (Array.isArray(stored)) return stored as DayBuckets;
  const buckets: DayBuckets = [];
  if (typeof stored !== 'object' || stored === null) return buckets;
  // Integer-like keys enumerate in ascending order, so the days come out sorted.
  for (const [day, bucket] of Object.entries(stored as Record<string, Bucket>)) buckets.push(Number(day), bucket.count, bucket.sum);
  return buckets;
}

export function windowTotals(buckets: Readonly<DayBuckets>, at: number, days: number): Bucket {
  const last = dayOf(at);
  const first = last - days + 1;
  let count = 0;
  let sum = 0;
  for (let i = 0; i < buckets.length; i += STRIDE) {
    const d = buckets[i] as number;
    if (d >= first && d <= last) {
      count += buckets[i + 1] as number;
      sum += buckets[i + 2] as number;
    }
  }
  return { count, sum: roundMoney(sum) };
}

/** Totals of several windows at once, keyed `${days}d`, in one pass over the buckets. */
export function windowsOf(buckets: Readonly<DayBuckets>, at: number, windowsDays: readonly number[]): Record<string, Bucket> {
  const last = dayOf(at);
  const totals = windowsDays.map(() => ({ count: 0, sum: 0 }));
  for (let b = 0; b < buckets.length; b += STRIDE) {
    const age = last - (buckets[b] as number);
    if (age < 0) continue;
    for (let i = 0; i < windowsDays.length; i++) {
      if (age < (windowsDays[i] as number)) {
        const total = totals[i] as Bucket;
        total.count += buckets[b + 1] as number;
        total.sum += buckets[b + 2] as number;
      }
    }
  }
  const result: Record<string, Bucket> = {};
  windowsDays.forEach((days, i) => {
    result[`${days}d`] = { count: (totals[i] as Bucket).count, sum: roundMoney((totals[i] as Bucket).sum) };
  });
  return result;
}

/** Drops buckets no window can reach any more (the oldest, as the list is sorted by day). */
export function pruneBuckets(buckets: DayBuckets, at: number, longestWindowDays: number): void {
  const oldest = dayOf(at) - longestWindowDays + 1;
  let keepFrom = 0;
  while (keepFrom < buckets.length && (buckets[keepFrom] as number) < oldest) keepFrom += STRIDE;
  if (keepFrom > 0) buckets.splice(0, keepFrom);
}

/** Money is summed in cents so that 0.1 + 0.2 is 0.3. */
export function roundMoney(value: number): number {
  return Math.round(value * 100) / 100;
}
