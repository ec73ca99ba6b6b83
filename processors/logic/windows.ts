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

/** Buckets by day number. Plain object so it serialises as is. */
export type DayBuckets = Record<string, Bucket>;

/**
 * The oldest day each bucket set was last pruned to, while it holds no older bucket: the
 * functions below are the only writers of buckets, and forget it when they add an older
 * day. Pruning then looks at the buckets only when a day has passed (or an older day came
 * in), not at every event. A cache only: a set not in it (just read, say) is looked at.
 */
const prunedTo = new WeakMap<DayBuckets, number>();

function addToDay(buckets: DayBuckets, day: number, amount: number, count: number): void {
  if (day < (prunedTo.get(buckets) ?? Number.NEGATIVE_INFINITY)) prunedTo.delete(buckets);
  const key = String(day);
  const bucket = buckets[key] ?? { count: 0, sum: 0 };
  bucket.count += count;
  bucket.sum = roundMoney(bucket.sum + amount);
  buckets[key] = bucket;
}

export function addToBuckets(buckets: DayBuckets, ts: number, amount: number, count = 1): void {
  addToDay(buckets, dayOf(ts), amount, count);
}

/** Adds every bucket of `from` into `into` (a merge of two members). */
export function addAllBuckets(into: DayBuckets, from: DayBuckets): void {
  for (const [day, bucket] of Object.entries(from)) addToDay(into, Number(day), bucket.sum, bucket.count);
}

export function windowTotals(buckets: DayBuckets, at: number, days: number): Bucket {
  const last = dayOf(at);
  const first = last - days + 1;
  let count = 0;
  let sum = 0;
  for (const [day, bucket] of Object.entries(buckets)) {
    const d = Number(day);
    if (d >= first && d <= last) {
      count += bucket.count;
      sum += bucket.sum;
    }
  }
  return { count, sum: roundMoney(sum) };
}

/** Totals of several windows at once, keyed `${days}d`, in one pass over the buckets. */
export function windowsOf(buckets: DayBuckets, at: number, windowsDays: readonly number[]): Record<string, Bucket> {
  const last = dayOf(at);
  const totals = windowsDays.map(() => ({ count: 0, sum: 0 }));
  for (const day in buckets) {
    const age = last - Number(day);
    if (age < 0) continue;
    const bucket = buckets[day] as Bucket;
    for (let i = 0; i < windowsDays.length; i++) {
      if (age < (windowsDays[i] as number)) {
        const total = totals[i] as Bucket;
        total.count += bucket.count;
        total.sum += bucket.sum;
      }
    }
  }
  const result: Record<string, Bucket> = {};
  windowsDays.forEach((days, i) => {
    result[`${days}d`] = { count: (totals[i] as Bucket).count, sum: roundMoney((totals[i] as Bucket).sum) };
  });
  return result;
}

/** Drops buckets no window can reach any more. */
export function pruneBuckets(buckets: DayBuckets, at: number, longestWindowDays: number): void {
  const oldest = dayOf(at) - longestWindowDays + 1;
  if (prunedTo.get(buckets) === oldest) return;
  for (const day of Object.keys(buckets)) if (Number(day) < oldest) delete buckets[day];
  prunedTo.set(buckets, oldest);
}

/** Money is summed in cents so that 0.1 + 0.2 is 0.3. */
export function roundMoney(value: number): number {
  return Math.round(value * 100) / 100;
}
