import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventRow, HistoryWriter } from '../../history/history-writer.ts';
import type { PropertyFilter } from '../../lib/analytics/filters.ts';
import { type FunnelGroup, type FunnelRequest, funnelResult, funnelSql } from '../../lib/analytics/funnel.ts';
import type { Warehouse } from '../../lib/warehouse/warehouse.ts';
import type { SegmentChangeRecord } from '../../schemas/records.ts';
import { historyWarehouse } from '../harness/history-warehouse.ts';
import { personOf, someMerges, writeMerges } from '../harness/merges.ts';
import { testEvent } from '../harness/test-event.ts';
import { Random } from '../workload/random.ts';

/*
 * Funnels computed by ClickHouse compared with an independent computation in plain
 * TypeScript over the same generated events (no SQL reused): exact member counts, rates
 * to 4 decimals, medians to the millisecond. The data is built to hit the edge cases:
 * events exactly at the window's end and at the range's ends, repeated steps, equal
 * timestamps, out-of-order arrival, unrelated events between steps.
 */

interface Generated {
  readonly member: string;
  readonly id: string;
  readonly event: string;
  readonly at: number;
  readonly properties: Record<string, string | number>;
}

const DAY = 86_400_000;
const START = Date.UTC(2026, 0, 1);
const EVENTS = ['Viewed', 'Added', 'Checkout', 'Paid', 'Other'];

function generate(seed: string): Generated[] {
  const r = new Random(seed);
  const events: Generated[] = [];
  for (let m = 0; m < 400; m++) {
    const member = `m${m}`;
    let at = START + r.int(0, 20) * DAY + r.int(0, DAY - 1);
    const count = r.int(1, 25);
    for (let i = 0; i < count; i++) {
      // Steps often close together, sometimes exactly one hour (a window) apart, sometimes at the same millisecond.
      at += r.pick([0, 1, 1_000, 60_000, 3_600_000, 3_600_001, r.int(0, 2 * 3_600_000), DAY]);
      events.push({
        member,
        id: `${member}-${String(i).padStart(3, '0')}-${r.hex(4)}`,
        event: r.pick(EVENTS),
        at,
        properties: { plan: r.pick(['basic', 'plus', 'pro']), total: r.pick([5, 20, 50, 99.5, 120]), source: r.pick(['ads', 'mail', 'seo']) },
      });
    }
  }
  // Arrival order is not event order.
  return events.sort(() => r.next() - 0.5);
}

/** Entries into and exits from segment "vip" (and another segment), alternating, some exactly at an event's time. */
function generateMemberships(events: readonly Generated[], seed: string): SegmentChangeRecord[] {
  const r = new Random(seed);
  const changes: SegmentChangeRecord[] = [];
  const members = [...new Set(events.map((e) => e.member))];
  for (const member of members) {
    const times = events.filter((e) => e.member === member).map((e) => e.at);
    for (const segmentId of ['vip', 'other']) {
      let entered = false;
      for (let c = r.int(0, 4); c > 0; c--) {
        entered = !entered;
        const at = r.chance(0.4) ? r.pick(times) : START + r.int(0, 20 * DAY);
        changes.push({
          id: `${member}-${segmentId}-${c}-${r.hex(4)}`,
          memberId: member,
          segmentId,
          ruleVersion: 1,
          change: entered ? 'entered' : 'exited',
          at,
          causeEventId: null,
          values: '{}',
        });
      }
    }
  }
  return changes;
}

/** In the segment at `at`: the last change at or before then (by time, then id) was an entry. */
function memberOf(changes: readonly SegmentChangeRecord[], member: string, segmentId: string, at: number): boolean {
  const before = changes
    .filter((c) => c.memberId === member && c.segmentId === segmentId && c.at <= at)
    .sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return before.at(-1)?.change === 'entered';
}

function matchesFilter(properties: Record<string, unknown>, f: PropertyFilter): boolean {
  const raw = properties[f.property];
  const numeric = f.op === 'gt' || f.op === 'gte' || f.op === 'lt' || f.op === 'lte' || typeof f.value === 'number';
  if (numeric) {
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' && !Number.isNaN(Number(raw)) ? Number(raw) : null;
    if (n === null) return false;
    const v = Number(f.value);
    return f.op === 'gt' ? n > v : f.op === 'gte' ? n >= v : f.op === 'lt' ? n < v : f.op === 'lte' ? n <= v : f.op === 'eq' ? n === v : n !== v;
  }
  const text = typeof raw === 'string' ? raw : raw === undefined ? '' : String(raw);
  return f.op === 'contains' ? text.includes(String(f.value)) : f.op === 'eq' ? text === f.value : text !== f.value;
}

/** The funnel as docs/analytics.md defines it, computed member by member. */
function referenceFunnel(events: readonly Generated[], memberships: readonly SegmentChangeRecord[], request: FunnelRequest): FunnelGroup[] {
  const window = request.windowSeconds * 1000;
  const byMember = new Map<string, Generated[]>();
  for (const e of events) {
    if (e.at < request.from || e.at > request.to + window) continue;
    byMember.set(person(e.member), [...(byMember.get(person(e.member)) ?? []), e]);
  }
  const matchesStep = (e: Generated, k: number) => {
    const step = request.steps[k] as (typeof request.steps)[number];
    return e.event === step.event && (step.where ?? []).every((f) => matchesFilter(e.properties, f));
  };
  const groups = new Map<string, { reached: number[]; millis: number[][] }>();
  for (const all of byMember.values()) {
    const list = [...all].sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    // Loose order only looks at events of some step; strict looks at all of them.
    const evs = request.order === 'loose' ? list.filter((e) => request.steps.some((_, k) => matchesStep(e, k))) : list;
    let best: { times: number[]; entry: Generated } | null = null;
    evs.forEach((entry, start) => {
      if (!matchesStep(entry, 0) || entry.at < request.from || entry.at >= request.to) return;
      const times = [entry.at];
      let pos = start;
      for (let k = 1; k < request.steps.length; k++) {
        let found = -1;
        if (request.order === 'loose') {
          for (let j = pos + 1; j < evs.length; j++) {
            const e = evs[j] as Generated;
            if (e.at > entry.at + window) break;
            if (matchesStep(e, k)) {
              found = j;
              break;
            }
          }
        } else if (pos + 1 < evs.length && matchesStep(evs[pos + 1] as Generated, k) && (evs[pos + 1] as Generated).at <= entry.at + window) found = pos + 1;
        if (found < 0) break;
        times.push((evs[found] as Generated).at);
        pos = found;
      }
      if (!best || times.length > best.times.length) best = { times, entry };
    });
    if (!best) continue;
    const { times, entry } = best as { times: number[]; entry: Generated };
    const breakdown = request.breakdown;
    const key = !breakdown
      ? ''
      : 'segment' in breakdown
        ? memberOf(memberships, person(entry.member), breakdown.segment, entry.at)
          ? 'in'
          : 'out'
        : String(entry.properties[breakdown.property] ?? '');
    const group = groups.get(key) ?? { reached: request.steps.map(() => 0), millis: request.steps.map(() => []) };
    times.forEach((t, k) => {
      (group.reached[k] as number)++;
      (group.millis[k] as number[]).push(t - (times[0] as number));
    });
    groups.set(key, group);
  }
  const rate = (a: number, b: number) => (b === 0 ? 0 : Math.round((a / b) * 10_000) / 10_000);
  const middle = (values: number[]) => {
    if (values.length === 0) return null;
    const s = [...values].sort((a, b) => a - b);
    const h = Math.floor(s.length / 2);
    return Math.round(s.length % 2 ? (s[h] as number) : ((s[h - 1] as number) + (s[h] as number)) / 2) / 1000;
  };
  return [...groups.entries()]
    .sort(([ka, a], [kb, b]) => (b.reached[0] as number) - (a.reached[0] as number) || (ka < kb ? -1 : ka > kb ? 1 : 0))
    .map(([key, g]) => ({
      breakdown: request.breakdown ? key : null,
      steps: request.steps.map((step, k) => ({
        step: k + 1,
        event: step.event,
        members: g.reached[k] as number,
        conversionFromPrevious: k === 0 ? 1 : rate(g.reached[k] as number, g.reached[k - 1] as number),
        conversionFromFirst: rate(g.reached[k] as number, g.reached[0] as number),
        medianSecondsToConvert: k === 0 ? null : middle(g.millis[k] as number[]),
      })),
    }));
}

const events = generate('funnel');
// Some members were merged into others: their events count under the member they joined.
const merges = someMerges('m', 400, () => START);
const person = personOf(merges);
const memberships = generateMemberships(events, 'funnel-segments');
let warehouse: Warehouse;

beforeAll(async () => {
  warehouse = await historyWarehouse('funnel');
  const rows = events.map((e) => eventRow(e.member, testEvent(e.id, e.at, { userId: e.member, event: e.event, properties: JSON.stringify(e.properties) })));
  await warehouse.insert('events', rows);
  // A replay: the same rows again change nothing (the query reads FINAL).
  await warehouse.insert('events', rows.slice(0, 500));
  const writer = new HistoryWriter(warehouse);
  const nothing = { events: [], identityChanges: [], transitions: [], triggerFirings: [] };
  await writer.write({ ...nothing, segmentChanges: memberships });
  await writer.write({ ...nothing, segmentChanges: memberships.slice(0, 300) });
  await writeMerges(warehouse, merges);
}, 60_000);
afterAll(() => warehouse.close());

async function run(request: FunnelRequest): Promise<FunnelGroup[]> {
  const { sql, params } = funnelSql(request);
  return funnelResult(request, await warehouse.query(sql, params));
}

describe('funnel on ClickHouse equals an independent computation (needs ClickHouse: a server when the harness has one, else embedded)', () => {
  const base = { from: START + 2 * DAY, to: START + 15 * DAY, windowSeconds: 3_600 };
  const cases: [string, FunnelRequest][] = [
    ['4 steps, loose order, 1 hour', { ...base, order: 'loose', steps: [{ event: 'Viewed' }, { event: 'Added' }, { event: 'Checkout' }, { event: 'Paid' }] }],
    ['4 steps, strict order', { ...base, order: 'strict', steps: [{ event: 'Viewed' }, { event: 'Added' }, { event: 'Checkout' }, { event: 'Paid' }] }],
    ['repeated step (Viewed twice)', { ...base, order: 'loose', steps: [{ event: 'Viewed' }, { event: 'Viewed' }, { event: 'Paid' }] }],
    [
      'per-step filters',
      {
        ...base,
        order: 'loose',
        steps: [
          { event: 'Viewed', where: [{ property: 'plan', op: 'neq', value: 'basic' }] },
          { event: 'Added', where: [{ property: 'source', op: 'contains', value: 's' }] },
          { event: 'Paid', where: [{ property: 'total', op: 'gte', value: 50 }] },
        ],
      },
    ],
    [
      'breakdown by a property, 2-day window',
      { ...base, windowSeconds: 2 * 86_400, order: 'loose', steps: [{ event: 'Viewed' }, { event: 'Paid' }], breakdown: { property: 'source' } },
    ],
    [
      'breakdown by segment membership at entry',
      { ...base, order: 'loose', steps: [{ event: 'Viewed' }, { event: 'Added' }, { event: 'Paid' }], breakdown: { segment: 'vip' } },
    ],
    ['10 steps', { ...base, order: 'loose', windowSeconds: 86_400, steps: Array.from({ length: 10 }, (_, i) => ({ event: EVENTS[i % 4] as string })) }],
  ];
  for (const [name, request] of cases)
    it(name, async () => {
      const expected = referenceFunnel(events, memberships, request);
      expect(expected[0]?.steps[0]?.members ?? 0).toBeGreaterThan(10); // the case is not vacuous
      if (request.breakdown && 'segment' in request.breakdown) expect(expected.map((g) => g.breakdown).sort()).toEqual(['in', 'out']);
      expect(await run(request)).toEqual(expected);
    });
});
