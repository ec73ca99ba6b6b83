import { describe, expect, it } from 'vitest';
import { decideFiring, emptyTriggerState, inHoldout } from '../../../domain/rules/trigger-controls.ts';
import { instantOf, localDate, localTime, nextLocalOccurrence, quietHoursAt } from '../../../lib/local-time.ts';

describe('member local time', () => {
  it('reads wall-clock time and dates in a zone, across daylight saving changes', () => {
    expect(localTime(Date.parse('2026-03-08T06:59:00Z'), 'America/New_York')).toMatchObject({ day: 8, hour: 1, minute: 59 });
    expect(localTime(Date.parse('2026-03-08T07:00:00Z'), 'America/New_York')).toMatchObject({ day: 8, hour: 3, minute: 0 });
    expect(localDate(Date.parse('2026-03-01T16:00:00Z'), 'Asia/Shanghai')).toBe('2026-03-02');
    expect(new Date(instantOf(2026, 3, 8, 10, 0, 'America/New_York')).toISOString()).toBe('2026-03-08T14:00:00.000Z');
    expect(new Date(instantOf(2026, 3, 7, 10, 0, 'America/New_York')).toISOString()).toBe('2026-03-07T15:00:00.000Z');
  });

  it('finds the next local occurrence (Feb 29 birthdays wait for a leap year)', () => {
    const feb29 = (d: { month: number; day: number }) => d.month === 2 && d.day === 29;
    expect(new Date(nextLocalOccurrence(Date.parse('2026-03-01T00:00:00Z'), 'Europe/Berlin', 9, 0, feb29) as number).toISOString()).toBe(
      '2028-02-29T08:00:00.000Z',
    );
  });

  it('quiet hours spanning midnight end at the local end time', () => {
    const at = Date.parse('2026-07-01T03:30:00Z'); // 23:30 in New York (EDT)
    expect(quietHoursAt(at, 'America/New_York', '22:00', '08:00')).toEqual({ quiet: true, endsAt: Date.parse('2026-07-01T12:00:00Z') });
    expect(quietHoursAt(at, 'Asia/Tokyo', '22:00', '08:00')).toEqual({ quiet: false, endsAt: at });
  });
});

describe('firing decisions', () => {
  const rule = { id: 'r', version: 1, on: { event: 'E' }, businessLine: 'b', controls: {} };
  const ctx = { memberId: 'm', at: Date.parse('2026-07-01T12:00:00Z'), timeZone: 'UTC', optedOut: false, outstandingCoupons: 0, dailyCap: 2 };

  it('opt-out comes first, then holdout, and only fired firings count towards caps', () => {
    const state = emptyTriggerState();
    expect(decideFiring(rule, state, { ...ctx, optedOut: true })).toEqual({ outcome: 'suppressed', reason: 'opted_out' });
    expect(decideFiring({ ...rule, controls: { marketing: false } }, state, { ...ctx, optedOut: true })).toEqual({ outcome: 'fired', reason: null });
    expect(decideFiring(rule, state, { ...ctx, at: ctx.at + 1 })).toEqual({ outcome: 'fired', reason: null });
    expect(decideFiring(rule, state, { ...ctx, at: ctx.at + 2 })).toEqual({ outcome: 'suppressed', reason: 'daily_cap' });
    expect(state.recentFires).toEqual([ctx.at, ctx.at + 1]);
  });

  it('the holdout is a stable share of members', () => {
    const members = Array.from({ length: 10_000 }, (_, i) => `member-${i}`);
    const held = members.filter((m) => inHoldout('promo', m, 10)).length;
    expect(held).toBeGreaterThan(900);
    expect(held).toBeLessThan(1_100);
    expect(members.filter((m) => inHoldout('promo', m, 10)).length).toBe(held);
    expect(inHoldout('promo', 'member-1', 0)).toBe(false);
    expect(inHoldout('promo', 'member-1', 100)).toBe(true);
  });
});
