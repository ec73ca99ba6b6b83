import { describe, expect, it } from 'vitest';
import { rfmAt, rfmGroup } from '../../../domain/member/rfm.ts';
import {
  addAllBuckets,
  addToBuckets,
  bucketDays,
  type DayBuckets,
  pruneBuckets,
  storedBuckets,
  windowsOf,
  windowTotals,
} from '../../../domain/member/windows.ts';
import { MS_PER_DAY } from '../../../lib/clock.ts';

const day = (n: number, hour = 12) => Date.UTC(2026, 0, 1) + n * MS_PER_DAY + hour * 3_600_000;

describe('day-bucket windows', () => {
  it('counts the day of `at` and the N-1 days before it, exactly', () => {
    const buckets: DayBuckets = [];
    addToBuckets(buckets, day(0), 10.1);
    addToBuckets(buckets, day(6, 23), 0.2);
    addToBuckets(buckets, day(7, 0), 5);
    expect(windowTotals(buckets, day(7), 1)).toEqual({ count: 1, sum: 5 });
    expect(windowTotals(buckets, day(7), 7)).toEqual({ count: 2, sum: 5.2 });
    expect(windowTotals(buckets, day(7), 8)).toEqual({ count: 3, sum: 15.3 });
    pruneBuckets(buckets, day(7), 7);
    expect(bucketDays(buckets)).toHaveLength(2);
  });

  it('subtracts refunds as negative amounts, to the cent', () => {
    const buckets: DayBuckets = [];
    addToBuckets(buckets, day(0), 0.1);
    addToBuckets(buckets, day(0), 0.2);
    addToBuckets(buckets, day(1), -0.3, 0);
    expect(windowTotals(buckets, day(1), 30)).toEqual({ count: 2, sum: 0 });
  });
});

describe('pruning day buckets', () => {
  const days = (buckets: DayBuckets) => bucketDays(buckets).map((b) => b.day);
  const base = Math.floor(day(0) / MS_PER_DAY);

  it('drops what the longest window no longer reaches, as each day passes', () => {
    const buckets: DayBuckets = [];
    for (const n of [0, 1, 2, 5]) addToBuckets(buckets, day(n), 1);
    pruneBuckets(buckets, day(5), 5);
    expect(days(buckets)).toEqual([1, 2, 5].map((n) => base + n));
    pruneBuckets(buckets, day(5, 20), 5); // the same day: nothing to do
    expect(days(buckets)).toEqual([1, 2, 5].map((n) => base + n));
    pruneBuckets(buckets, day(7), 5);
    expect(days(buckets)).toEqual([5].map((n) => base + n));
  });

  it('drops a late event older than the windows even on a day it already pruned', () => {
    const buckets: DayBuckets = [];
    addToBuckets(buckets, day(10), 1);
    pruneBuckets(buckets, day(10), 5);
    addToBuckets(buckets, day(2), 1); // late, beyond every window
    pruneBuckets(buckets, day(10), 5);
    expect(days(buckets)).toEqual([base + 10]);
  });

  it('drops merged-in buckets older than the windows even on a day it already pruned', () => {
    const buckets: DayBuckets = [];
    addToBuckets(buckets, day(10), 1, 1);
    pruneBuckets(buckets, day(10), 5);
    const other: DayBuckets = [];
    addToBuckets(other, day(1), 7.25, 2);
    addToBuckets(other, day(10), 0.5, 1);
    addAllBuckets(buckets, other);
    expect(bucketDays(buckets)).toEqual([
      { day: base + 1, count: 2, sum: 7.25 },
      { day: base + 10, count: 2, sum: 1.5 },
    ]);
    pruneBuckets(buckets, day(10), 5);
    expect(days(buckets)).toEqual([base + 10]);
  });
});

describe('day buckets kept in order', () => {
  const base = Math.floor(day(0) / MS_PER_DAY);

  it('keeps days sorted whatever order events come in, one bucket per day', () => {
    const buckets: DayBuckets = [];
    for (const [n, amount] of [
      [5, 1],
      [2, 0.1],
      [9, 2],
      [2, 0.2],
      [0, 3],
      [5, 4],
      [7, 5],
    ] as const)
      addToBuckets(buckets, day(n), amount);
    expect(bucketDays(buckets)).toEqual([
      { day: base, count: 1, sum: 3 },
      { day: base + 2, count: 2, sum: 0.3 },
      { day: base + 5, count: 2, sum: 5 },
      { day: base + 7, count: 1, sum: 5 },
      { day: base + 9, count: 1, sum: 2 },
    ]);
  });

  it('reads buckets stored in the earlier form, an object of day -> { count, sum }', () => {
    const stored = { [String(base + 10)]: { count: 2, sum: 1.5 }, [String(base + 3)]: { count: 1, sum: 0 } };
    const buckets = storedBuckets(stored);
    expect(bucketDays(buckets)).toEqual([
      { day: base + 3, count: 1, sum: 0 },
      { day: base + 10, count: 2, sum: 1.5 },
    ]);
    addToBuckets(buckets, day(10), 1);
    expect(windowTotals(buckets, day(10), 30)).toEqual({ count: 4, sum: 2.5 });
    expect(storedBuckets(undefined)).toEqual([]);
  });
});

describe('RFM', () => {
  it('scores recency, frequency and money 1 to 5 by the thresholds', () => {
    expect(rfmAt(null, 0, 0, day(0))).toBeNull();
    expect(rfmAt(day(0), 1, 50, day(3))).toEqual({ recencyDays: 3, frequency: 1, monetary: 50, r: 5, f: 1, m: 1, group: 'general-develop' });
    expect(rfmAt(day(0), 8, 3_000, day(31))).toMatchObject({ recencyDays: 31, r: 3, f: 5, m: 5, group: 'important-keep' });
    expect(rfmAt(day(0), 3, 400, day(200))).toMatchObject({ r: 1, f: 3, m: 3, group: 'important-keep' });
  });

  it('names all 8 classic groups', () => {
    const groups = [true, false].flatMap((r) => [true, false].flatMap((f) => [true, false].map((m) => rfmGroup(r, f, m))));
    expect(groups.sort()).toEqual([
      'general-develop',
      'general-keep',
      'general-retain',
      'general-value',
      'important-develop',
      'important-keep',
      'important-retain',
      'important-value',
    ]);
    expect(rfmGroup(true, true, true)).toBe('important-value');
    expect(rfmGroup(false, false, true)).toBe('important-retain');
    expect(rfmGroup(true, false, false)).toBe('general-develop');
  });
});

describe('windowsOf', () => {
  it('gives every window in one pass exactly as windowTotals does, late and future buckets included', () => {
    const buckets: DayBuckets = [];
    const at = Date.UTC(2026, 5, 30, 12);
    for (let d = -400; d <= 3; d += 3) addToBuckets(buckets, at + d * MS_PER_DAY, d % 2 === 0 ? 0.1 : 10.25, 1 + (Math.abs(d) % 4));
    const windows = [1, 7, 30, 90, 365];
    expect(windowsOf(buckets, at, windows)).toEqual(Object.fromEntries(windows.map((days) => [`${days}d`, windowTotals(buckets, at, days)])));
  });
});
