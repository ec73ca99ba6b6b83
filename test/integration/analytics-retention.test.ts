import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventRow } from '../../history/history-writer.ts';
import { type RetentionCohort, type RetentionRequest, retentionResult, retentionSql } from '../../lib/analytics/retention.ts';
import type { Warehouse } from '../../lib/warehouse/warehouse.ts';
import { historyWarehouse } from '../harness/history-warehouse.ts';
import { personOf, someMerges, writeMerges } from '../harness/merges.ts';
import { testEvent } from '../harness/test-event.ts';
import { Random } from '../workload/random.ts';

/*
 * Retention computed by ClickHouse against a plain TypeScript computation over the same
 * generated events, with period boundaries in different time zones (a member's first
 * event late on a Sunday in UTC is Monday in Shanghai), events exactly at midnight, and
 * returns long after the last period.
 */

interface Generated {
  readonly member: string;
  readonly id: string;
  readonly event: string;
  readonly at: number;
}

const DAY = 86_400_000;
const START = Date.UTC(2026, 0, 1);

function generate(seed: string): Generated[] {
  const r = new Random(seed);
  const events: Generated[] = [];
  for (let m = 0; m < 500; m++) {
    let at = START + r.int(0, 90) * DAY + r.pick([0, r.int(0, DAY - 1), DAY - 1, 16 * 3_600_000, 5 * 3_600_000]);
    for (let i = 0, n = r.int(1, 15); i < n; i++) {
      events.push({ member: `m${m}`, id: `m${m}-${i}`, event: r.pick(['Signed Up', 'Viewed', 'Order Completed']), at });
      at += r.pick([0, 3_600_000, DAY, 3 * DAY, 8 * DAY, 31 * DAY, r.int(0, 20 * DAY)]);
    }
  }
  return events;
}

/** The local calendar date (year, month, day) of a time in a zone. */
function localDate(at: number, timeZone: string): { y: number; m: number; d: number } {
  const [y, m, d] = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(at).split('-').map(Number);
  return { y: y as number, m: m as number, d: d as number };
}

function periodStart(at: number, request: RetentionRequest): { y: number; m: number; d: number } {
  const date = localDate(at, request.timeZone);
  if (request.period === 'day') return date;
  if (request.period === 'month') return { ...date, d: 1 };
  const utc = new Date(Date.UTC(date.y, date.m - 1, date.d));
  const back = (utc.getUTCDay() + 6) % 7; // days since Monday
  const monday = new Date(utc.getTime() - back * DAY);
  return { y: monday.getUTCFullYear(), m: monday.getUTCMonth() + 1, d: monday.getUTCDate() };
}

function periodsBetween(a: { y: number; m: number; d: number }, b: { y: number; m: number; d: number }, request: RetentionRequest): number {
  if (request.period === 'month') return (b.y - a.y) * 12 + (b.m - a.m);
  const days = (Date.UTC(b.y, b.m - 1, b.d) - Date.UTC(a.y, a.m - 1, a.d)) / DAY;
  return request.period === 'day' ? days : Math.floor(days / 7);
}

const iso = (d: { y: number; m: number; d: number }) => `${d.y}-${String(d.m).padStart(2, '0')}-${String(d.d).padStart(2, '0')}`;

function referenceRetention(events: readonly Generated[], request: RetentionRequest): RetentionCohort[] {
  const byMember = new Map<string, Generated[]>();
  for (const e of events) byMember.set(person(e.member), [...(byMember.get(person(e.member)) ?? []), e]);
  const cohorts = new Map<string, { members: number; returned: number[] }>();
  for (const list of byMember.values()) {
    const cohortEvents = list.filter((e) => request.cohortEvent === undefined || e.event === request.cohortEvent);
    if (cohortEvents.length === 0) continue;
    const first = Math.min(...cohortEvents.map((e) => e.at));
    if (first < request.from || first >= request.to) continue;
    const start = periodStart(first, request);
    const key = iso(start);
    const cohort = cohorts.get(key) ?? { members: 0, returned: Array(request.periods + 1).fill(0) };
    cohort.members++;
    const periods = new Set(
      list
        .filter((e) => (request.returnEvent === undefined || e.event === request.returnEvent) && e.at >= first)
        .map((e) => periodsBetween(start, periodStart(e.at, request), request))
        .filter((k) => k <= request.periods),
    );
    for (const k of periods) cohort.returned[k]++;
    cohorts.set(key, cohort);
  }
  return [...cohorts.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([cohort, c]) => ({
      cohort,
      members: c.members,
      returned: c.returned,
      rates: c.returned.map((r) => Math.round((r / c.members) * 10_000) / 10_000),
    }));
}

const events = generate('retention');
// Some members were merged into others: their events count under the member they joined.
const merges = someMerges('m', 500, () => START);
const person = personOf(merges);
let warehouse: Warehouse;

beforeAll(async () => {
  warehouse = await historyWarehouse('retention');
  const rows = events.map((e) => eventRow(e.member, testEvent(e.id, e.at, { userId: e.member, event: e.event })));
  await warehouse.insert('events', rows);
  await warehouse.insert('events', rows.slice(0, 300)); // replayed rows count once
  await writeMerges(warehouse, merges);
}, 60_000);
afterAll(() => warehouse.close());

describe('retention on ClickHouse equals an independent computation (needs ClickHouse: a server when the harness has one, else embedded)', () => {
  const cases: [string, RetentionRequest][] = [
    ['daily, any event, UTC', { period: 'day', periods: 14, from: START, to: START + 30 * DAY, timeZone: 'UTC' }],
    [
      'weekly, sign-up to order, Shanghai',
      { cohortEvent: 'Signed Up', returnEvent: 'Order Completed', period: 'week', periods: 12, from: START, to: START + 91 * DAY, timeZone: 'Asia/Shanghai' },
    ],
    ['weekly, any event, New York', { period: 'week', periods: 12, from: START, to: START + 91 * DAY, timeZone: 'America/New_York' }],
    [
      'monthly, views, Berlin',
      { cohortEvent: 'Viewed', returnEvent: 'Viewed', period: 'month', periods: 3, from: START, to: START + 120 * DAY, timeZone: 'Europe/Berlin' },
    ],
  ];
  for (const [name, request] of cases)
    it(name, async () => {
      const expected = referenceRetention(events, request);
      expect(expected.length).toBeGreaterThan(2);
      const { sql, params } = retentionSql(request);
      expect(retentionResult(await warehouse.query(sql, params))).toEqual(expected);
    });
});
