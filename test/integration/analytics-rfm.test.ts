import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_COUNTERS } from '../../domain/member/counters.ts';
import { DEFAULT_LIFECYCLE } from '../../domain/member/lifecycle.ts';
import { applyEvent, emptyMemberState, type MemberState } from '../../domain/member/member-state.ts';
import { rfmAt } from '../../domain/member/rfm.ts';
import { windowTotals } from '../../domain/member/windows.ts';
import { eventRow } from '../../history/history-writer.ts';
import { type RfmDistribution, rfmResult, rfmSql } from '../../lib/analytics/rfm.ts';
import { DEFAULT_RFM } from '../../lib/rfm-config.ts';
import type { Warehouse } from '../../lib/warehouse/warehouse.ts';
import { RFM_GROUPS, type RfmGroup } from '../../schemas/records.ts';
import { historyWarehouse } from '../harness/history-warehouse.ts';
import { personOf, someMerges, writeMerges } from '../harness/merges.ts';
import { testEvent } from '../harness/test-event.ts';
import { Random } from '../workload/random.ts';

/*
 * The RFM distribution from ClickHouse history against the processors' own live RFM
 * (member state built by applyEvent from the same events, scored with rfmAt): the same
 * members in the same groups and cells. Orders sit exactly on window edges, refunds
 * subtract, members with only refunds have no RFM.
 */

const DAY = 86_400_000;
const AT = Date.UTC(2026, 5, 30, 15, 0);
const r = new Random('rfm');
const events = Array.from({ length: 2500 }, (_, i) => {
  const refund = r.chance(0.08);
  return testEvent(`o${i}`, AT - r.pick([r.int(0, 400 * DAY), 365 * DAY, 364 * DAY + 1, 0, 7 * DAY, 30 * DAY + 1]), {
    userId: `m${r.int(0, 299)}`,
    event: refund ? 'Order Refunded' : 'Order Completed',
    properties: JSON.stringify({ order_id: `o${i}`, total: r.pick([19.99, 49.5, 120, 250.25, 999]) }),
  });
});

// Some members were merged into others: the processors fold their orders into the member they joined.
const merges = someMerges('m', 300, () => AT);
const person = personOf(merges);

function reference(): RfmDistribution {
  const members = new Map<string, MemberState>();
  const state = { counters: DEFAULT_COUNTERS, longestWindowDays: 400, lifecycle: DEFAULT_LIFECYCLE };
  for (const e of [...events].sort((a, b) => a.timestamp - b.timestamp)) {
    const id = person(e.userId as string);
    const m = members.get(id) ?? emptyMemberState(id);
    applyEvent(m, e, state);
    members.set(id, m);
  }
  const groups = Object.fromEntries(RFM_GROUPS.map((g) => [g, 0])) as Record<RfmGroup, number>;
  const rByF = Array.from({ length: 5 }, () => [0, 0, 0, 0, 0]);
  const rByM = Array.from({ length: 5 }, () => [0, 0, 0, 0, 0]);
  let count = 0;
  for (const m of members.values()) {
    const paid = windowTotals(m.paid, AT, DEFAULT_RFM.windowDays);
    const rfm = rfmAt(m.orders.lastAt, paid.count, paid.sum, AT, DEFAULT_RFM);
    if (!rfm) continue;
    count++;
    groups[rfm.group]++;
    const byF = rByF[rfm.r - 1] as number[];
    const byM = rByM[rfm.r - 1] as number[];
    byF[rfm.f - 1] = (byF[rfm.f - 1] as number) + 1;
    byM[rfm.m - 1] = (byM[rfm.m - 1] as number) + 1;
  }
  return { members: count, groups, rByF, rByM };
}

let warehouse: Warehouse;

beforeAll(async () => {
  warehouse = await historyWarehouse('rfm');
  const rows = events.map((e) => eventRow(e.userId as string, e));
  await warehouse.insert('events', rows);
  await warehouse.insert('events', rows.slice(0, 300));
  await writeMerges(warehouse, merges);
}, 60_000);
afterAll(() => warehouse.close());

describe('RFM distribution from history equals the live RFM (needs ClickHouse: a server when the harness has one, else embedded)', () => {
  it('the 8 groups and the R x F and R x M matrices', async () => {
    const expected = reference();
    expect(expected.members).toBeGreaterThan(200);
    expect(Object.values(expected.groups).filter((n) => n > 0).length).toBeGreaterThan(4);
    const { sql, params } = rfmSql({ at: AT });
    expect(rfmResult(await warehouse.query(sql, params))).toEqual(expected);
  });
});
