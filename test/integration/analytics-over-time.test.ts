import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventRow } from '../../history/history-writer.ts';
import { type SizesPoint, sizesResult, sizesSql, type TrendPoint, type TrendRequest, trendResult, trendSql } from '../../lib/analytics/over-time.ts';
import type { Warehouse } from '../../lib/warehouse/warehouse.ts';
import { clickhouseDateTime } from '../../lib/warehouse/warehouse.ts';
import { historyWarehouse } from '../harness/history-warehouse.ts';
import { personOf, someMerges, writeMerges } from '../harness/merges.ts';
import { testEvent } from '../harness/test-event.ts';
import { Random } from '../workload/random.ts';

/*
 * Event trends and lifecycle/segment sizes per local day, from ClickHouse, against plain
 * TypeScript over the same generated rows. The range crosses the US clock change of
 * 2026-03-08 (a 23-hour day in New York); rows sit exactly at local midnights.
 */

const DAY = 86_400_000;
const START = Date.UTC(2026, 2, 1);
const r = new Random('over-time');
const events = Array.from({ length: 3000 }, (_, i) => ({
  member: `m${r.int(0, 199)}`,
  id: `e${i}`,
  at: START + r.pick([r.int(0, 20 * DAY), r.int(0, 20) * DAY + 5 * 3_600_000, r.int(0, 20) * DAY + 4 * 3_600_000]),
  event: r.pick(['Viewed', 'Paid']),
  plan: r.pick(['basic', 'pro']),
}));
const STAGES = ['prospect', 'new', 'active', 'silent', 'churned'];
const transitions = Array.from({ length: 600 }, (_, i) => ({
  member: `m${r.int(0, 199)}`,
  id: `t${i}`,
  at: START - 5 * DAY + r.pick([r.int(0, 25 * DAY), r.int(0, 25) * DAY + 5 * 3_600_000]),
  stage: r.pick(STAGES),
}));
const changes = Array.from({ length: 800 }, (_, i) => ({
  member: `m${r.int(0, 199)}`,
  id: `s${i}`,
  at: START - 5 * DAY + r.int(0, 25 * DAY),
  segment: r.pick(['vip', 'lapsed']),
  change: r.pick(['entered', 'exited']),
}));

// Merged members: their events count under the member they joined; a merge ends their stage and memberships.
const merges = someMerges('m', 200, (i) => START + (i % 12) * DAY + (i % 2 ? 0 : 4 * 3_600_000));
const person = personOf(merges);

const dayOf = (at: number, timeZone: string) => new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(at);

function days(fromDay: string, toDay: string): string[] {
  const out: string[] = [];
  for (let t = Date.parse(`${fromDay}T00:00:00Z`); t <= Date.parse(`${toDay}T00:00:00Z`); t += DAY) out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

function referenceTrend(request: TrendRequest): TrendPoint[] {
  const wanted = new Set(days(request.fromDay, request.toDay));
  const groups = new Map<string, { day: string; breakdown: string | null; events: number; members: Set<string> }>();
  for (const e of events) {
    const day = dayOf(e.at, request.timeZone);
    if (!wanted.has(day) || (request.event && e.event !== request.event)) continue;
    const breakdown = request.breakdown ? e.plan : null;
    const key = `${day}|${breakdown ?? ''}`;
    const g = groups.get(key) ?? { day, breakdown, events: 0, members: new Set<string>() };
    g.events++;
    g.members.add(person(e.member));
    groups.set(key, g);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([, g]) => ({ day: g.day, breakdown: g.breakdown, events: g.events, members: g.members.size }));
}

/** Whose value (stage, or segment when entered) holds at the end of each local day. */
function referenceSizes(
  rows: { who: string; at: number; rank?: number; id: string; value: string }[],
  fromDay: string,
  toDay: string,
  timeZone: string,
): SizesPoint[] {
  const counts = new Map<string, number>();
  const byWho = new Map<string, typeof rows>();
  for (const row of rows) byWho.set(row.who, [...(byWho.get(row.who) ?? []), row]);
  for (const day of days(fromDay, toDay)) {
    for (const list of byWho.values()) {
      // The day has ended once the local date of an instant is after it.
      const before = list.filter((x) => dayOf(x.at, timeZone) <= day).sort((a, b) => a.at - b.at || (a.rank ?? 0) - (b.rank ?? 0) || (a.id < b.id ? -1 : 1));
      const value = before.at(-1)?.value ?? '';
      if (value !== '') counts.set(`${day}|${value}`, (counts.get(`${day}|${value}`) ?? 0) + 1);
    }
  }
  return [...counts.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, members]) => ({ day: k.split('|')[0] as string, key: k.split('|')[1] as string, members }));
}

let warehouse: Warehouse;

beforeAll(async () => {
  warehouse = await historyWarehouse('over-time');
  await warehouse.insert(
    'events',
    events.map((e) => eventRow(e.member, testEvent(e.id, e.at, { userId: e.member, event: e.event, properties: JSON.stringify({ plan: e.plan }) }))),
  );
  await warehouse.insert(
    'lifecycle_transitions',
    transitions.map((t) => ({
      id: t.id,
      member_id: t.member,
      from_stage: '',
      to_stage: t.stage,
      at: clickhouseDateTime(t.at),
      cause_event_id: '',
      reason: 'test',
    })),
  );
  await warehouse.insert(
    'segment_changes',
    changes.map((c) => ({
      id: c.id,
      member_id: c.member,
      segment_id: c.segment,
      rule_version: 1,
      change: c.change,
      at: clickhouseDateTime(c.at),
      cause_event_id: '',
      values: '{}',
    })),
  );
  await writeMerges(warehouse, merges);
}, 60_000);
afterAll(() => warehouse.close());

/** A merge as a row that ends the merged member's value at its time (after any row at the same millisecond). */
const mergeRows = (whoOf: (merged: string) => string[]) =>
  merges.flatMap((m, i) => whoOf(m.merged).map((who) => ({ who, at: m.at, rank: 1, id: `merge-${i}`, value: '' })));

describe('per-day analytics on ClickHouse equal an independent computation (needs ClickHouse: a server when the harness has one, else embedded)', () => {
  for (const timeZone of ['UTC', 'America/New_York', 'Asia/Shanghai']) {
    it(`event trends, ${timeZone}`, async () => {
      for (const request of [
        { fromDay: '2026-03-02', toDay: '2026-03-15', timeZone },
        { fromDay: '2026-03-05', toDay: '2026-03-10', timeZone, event: 'Paid', breakdown: { property: 'plan' } },
      ] as TrendRequest[]) {
        const { sql, params } = trendSql(request);
        expect(trendResult(request, await warehouse.query(sql, params))).toEqual(referenceTrend(request));
      }
    });
    it(`lifecycle and segment sizes over time, ${timeZone}`, async () => {
      const range = { fromDay: '2026-03-01', toDay: '2026-03-12', timeZone };
      const lifecycle = sizesSql('lifecycle', range);
      expect(sizesResult(await warehouse.query(lifecycle.sql, lifecycle.params))).toEqual(
        referenceSizes(
          [...transitions.map((t) => ({ who: t.member, at: t.at, id: t.id, value: t.stage })), ...mergeRows((merged) => [merged])],
          range.fromDay,
          range.toDay,
          timeZone,
        ),
      );
      const segments = sizesSql('segments', range);
      expect(sizesResult(await warehouse.query(segments.sql, segments.params))).toEqual(
        referenceSizes(
          [
            ...changes.map((c) => ({ who: `${c.member}|${c.segment}`, at: c.at, id: c.id, value: c.change === 'entered' ? c.segment : '' })),
            ...mergeRows((merged) => [...new Set(changes.filter((c) => c.member === merged).map((c) => `${c.member}|${c.segment}`))]),
          ],
          range.fromDay,
          range.toDay,
          timeZone,
        ),
      );
    });
  }
});
