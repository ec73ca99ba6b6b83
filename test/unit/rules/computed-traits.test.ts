import { describe, expect, it } from 'vitest';
import { addToDay, aggregateFor, computedValue, type DayAggregate, emptyDay, mergeDay, UNIQUE_LIMIT } from '../../../domain/rules/computed-traits.ts';
import { MS_PER_DAY } from '../../../lib/clock.ts';

const day = (n: number, hour = 12) => Date.UTC(2026, 0, 1) + n * MS_PER_DAY + hour * 3_600_000;
const key = (n: number) => String(Math.floor(day(n) / MS_PER_DAY));

describe('computed trait aggregates', () => {
  it('count, sum, min, max, first, last and unique count over exactly the window days, late events by event time', () => {
    const days: Record<string, DayAggregate> = {};
    const add = (n: number, hour: number, value: unknown) => addToDay(aggregateFor(days, key(n)), day(n, hour), value);
    add(0, 9, 10);
    add(3, 9, 0.1);
    add(3, 8, 0.2); // arrives late but happened earlier that day
    add(6, 23, 'x');
    add(7, 1, 5);
    const spec = (aggregate: 'count' | 'sum' | 'min' | 'max' | 'first' | 'last' | 'unique_count') => ({ event: 'E', aggregate, windowDays: 7, property: 'v' });
    // At day 6 the 7-day window is days 0..6.
    expect(computedValue(days, spec('count'), day(6))).toBe(4);
    expect(computedValue(days, spec('sum'), day(6))).toBe(10.3);
    expect(computedValue(days, spec('min'), day(6))).toBe(0.1);
    expect(computedValue(days, spec('max'), day(6))).toBe(10);
    expect(computedValue(days, spec('first'), day(6))).toBe(10);
    expect(computedValue(days, spec('last'), day(6, 23))).toBe('x');
    expect(computedValue(days, spec('unique_count'), day(6, 23))).toBe(4);
    // At day 7 day 0 is out.
    expect(computedValue(days, spec('first'), day(7))).toBe(0.2);
    expect(computedValue(days, spec('count'), day(7))).toBe(4);
    expect(computedValue(days, spec('min'), day(30))).toBeNull();
  });

  it('merges days of two members, and caps distinct values per day', () => {
    const a = emptyDay();
    const b = emptyDay();
    addToDay(a, 100, 3);
    addToDay(b, 50, 7);
    addToDay(b, 200, 'z');
    mergeDay(a, b);
    expect(a).toEqual({ n: 3, s: 10, mn: 3, mx: 7, f: [50, 7], l: [200, 'z'], u: ['3', '7', 'z'] });
    const many = emptyDay();
    for (let i = 0; i < UNIQUE_LIMIT + 10; i++) addToDay(many, i, `v${i}`);
    expect(many.u).toHaveLength(UNIQUE_LIMIT);
  });
});
