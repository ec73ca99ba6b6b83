import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventRow } from '../../history/history-writer.ts';
import { type LtvCohort, type LtvRequest, ltvResult, ltvSql } from '../../lib/analytics/ltv.ts';
import type { Warehouse } from '../../lib/warehouse/warehouse.ts';
import { historyWarehouse } from '../harness/history-warehouse.ts';
import { personOf, someMerges, writeMerges } from '../harness/merges.ts';
import { testEvent } from '../harness/test-event.ts';
import { Random } from '../workload/random.ts';

/* LTV per monthly cohort from ClickHouse against a plain TypeScript computation: orders at month boundaries in two time zones, refunds, orders after `at`. */

const DAY = 86_400_000;
const START = Date.UTC(2026, 0, 1);
const AT = Date.UTC(2026, 5, 15, 12);
const r = new Random('ltv');
const events = Array.from({ length: 1500 }, (_, i) =>
  testEvent(`o${i}`, START + r.pick([r.int(0, 200 * DAY), r.int(0, 6) * 31 * DAY - 1, r.int(0, 6) * 31 * DAY + 16 * 3_600_000]), {
    userId: `m${r.int(0, 199)}`,
    event: r.chance(0.1) ? 'Order Refunded' : 'Order Completed',
    properties: JSON.stringify({ total: r.pick([10, 24.99, 75.5, 300]) }),
  }),
);

// Some members were merged into others: their orders count under the member they joined.
const merges = someMerges('m', 200, () => START);
const person = personOf(merges);

function reference(request: LtvRequest): LtvCohort[] {
  const month = (at: number) => {
    const [y, m] = new Intl.DateTimeFormat('en-CA', { timeZone: request.timeZone, year: 'numeric', month: '2-digit' }).format(at).split('-').map(Number);
    return { y: y as number, m: m as number };
  };
  const monthsBetween = (a: { y: number; m: number }, b: { y: number; m: number }) => (b.y - a.y) * 12 + (b.m - a.m);
  const byMember = new Map<string, typeof events>();
  for (const e of events) if (e.timestamp <= request.at) byMember.set(person(e.userId as string), [...(byMember.get(person(e.userId as string)) ?? []), e]);
  const cohorts = new Map<string, { start: { y: number; m: number }; members: number; orders: number; cents: number; lifespan: number }>();
  for (const list of byMember.values()) {
    const paid = list.filter((e) => e.event === 'Order Completed');
    if (paid.length === 0) continue;
    const first = month(Math.min(...paid.map((e) => e.timestamp)));
    const last = month(Math.max(...paid.map((e) => e.timestamp)));
    const key = `${first.y}-${String(first.m).padStart(2, '0')}-01`;
    const c = cohorts.get(key) ?? { start: first, members: 0, orders: 0, cents: 0, lifespan: 0 };
    c.members++;
    c.orders += paid.length;
    for (const e of list) c.cents += (e.event === 'Order Completed' ? 1 : -1) * Math.round(JSON.parse(e.properties).total * 100);
    c.lifespan += monthsBetween(first, last) + 1;
    cohorts.set(key, c);
  }
  const round = (v: number, d: number) => Math.round(v * 10 ** d) / 10 ** d;
  return [...cohorts.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([cohort, c]) => {
      const observedMonths = monthsBetween(c.start, month(request.at)) + 1;
      const revenue = c.cents / 100;
      const aov = revenue / c.orders;
      const frequency = c.orders / c.members / observedMonths;
      const lifespan = c.lifespan / c.members;
      return {
        cohort,
        members: c.members,
        orders: c.orders,
        revenue: round(revenue, 2),
        observedMonths,
        averageOrderValue: round(aov, 2),
        monthlyPurchaseFrequency: round(frequency, 4),
        lifespanMonths: round(lifespan, 4),
        ltv: round(aov * frequency * lifespan, 2),
      };
    });
}

let warehouse: Warehouse;
beforeAll(async () => {
  warehouse = await historyWarehouse('ltv');
  const rows = events.map((e) => eventRow(e.userId as string, e));
  await warehouse.insert('events', rows);
  await warehouse.insert('events', rows.slice(0, 200));
  await writeMerges(warehouse, merges);
}, 60_000);
afterAll(() => warehouse.close());

describe('LTV per monthly cohort equals an independent computation (needs ClickHouse: a server when the harness has one, else embedded)', () => {
  for (const timeZone of ['UTC', 'Asia/Shanghai'])
    it(timeZone, async () => {
      const request = { at: AT, timeZone };
      const expected = reference(request);
      expect(expected.length).toBeGreaterThan(4);
      const { sql, params } = ltvSql(request);
      expect(ltvResult(await warehouse.query(sql, params))).toEqual(expected);
    });
});
