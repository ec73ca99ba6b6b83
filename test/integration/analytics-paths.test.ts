import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventRow } from '../../history/history-writer.ts';
import { type PathCount, type PathsRequest, pathsResult, pathsSql } from '../../lib/analytics/paths.ts';
import type { Warehouse } from '../../lib/warehouse/warehouse.ts';
import type { MessageType } from '../../schemas/records.ts';
import { historyWarehouse } from '../harness/history-warehouse.ts';
import { personOf, someMerges, writeMerges } from '../harness/merges.ts';
import { testEvent } from '../harness/test-event.ts';
import { Random } from '../workload/random.ts';

/* Paths from ClickHouse against a plain TypeScript computation: repeated anchors, equal timestamps, paths cut short at a member's first or last event. */

interface Generated {
  readonly member: string;
  readonly id: string;
  readonly at: number;
  readonly type: MessageType;
  readonly event: string | null;
}

const DAY = 86_400_000;
const START = Date.UTC(2026, 3, 1);

function generate(seed: string): Generated[] {
  const r = new Random(seed);
  const events: Generated[] = [];
  for (let m = 0; m < 300; m++) {
    let at = START + r.int(0, 10) * DAY;
    for (let i = 0, n = r.int(1, 12); i < n; i++) {
      at += r.pick([0, 1, 60_000, DAY]);
      const track = r.chance(0.7);
      events.push({
        member: `m${m}`,
        id: `m${m}-${String(i).padStart(2, '0')}`,
        at,
        type: track ? 'track' : r.pick(['page', 'screen'] as const),
        event: track ? r.pick(['Viewed', 'Added', 'Paid']) : null,
      });
    }
  }
  return events;
}

function reference(events: readonly Generated[], request: PathsRequest): PathCount[] {
  const byMember = new Map<string, Generated[]>();
  for (const e of events) byMember.set(person(e.member), [...(byMember.get(person(e.member)) ?? []), e]);
  const counts = new Map<string, { path: string[]; count: number }>();
  for (const list of byMember.values()) {
    const sorted = [...list].sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1));
    const labels = sorted.map((e) => e.event ?? e.type);
    sorted.forEach((e, i) => {
      if (e.event !== request.anchor || e.at < request.from || e.at >= request.to) return;
      const path = request.direction === 'next' ? labels.slice(i + 1, i + 1 + request.steps) : labels.slice(Math.max(0, i - request.steps), i).reverse();
      if (path.length === 0) return;
      const key = JSON.stringify(path);
      counts.set(key, { path, count: (counts.get(key)?.count ?? 0) + 1 });
    });
  }
  const compare = (a: string[], b: string[]) => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return (a[i] as string) < (b[i] as string) ? -1 : 1;
    return a.length - b.length;
  };
  return [...counts.values()].sort((a, b) => b.count - a.count || compare(a.path, b.path)).slice(0, request.limit);
}

const events = generate('paths');
// Some members were merged into others: their events count under the member they joined.
const merges = someMerges('m', 300, () => START);
const person = personOf(merges);
let warehouse: Warehouse;

beforeAll(async () => {
  warehouse = await historyWarehouse('paths');
  const rows = events.map((e) => eventRow(e.member, testEvent(e.id, e.at, { userId: e.member, type: e.type, event: e.event, name: e.event ? null : 'Home' })));
  await warehouse.insert('events', rows);
  await warehouse.insert('events', rows.slice(0, 100));
  await writeMerges(warehouse, merges);
}, 60_000);
afterAll(() => warehouse.close());

describe('paths on ClickHouse equal an independent computation (needs ClickHouse: a server when the harness has one, else embedded)', () => {
  const cases: [string, PathsRequest][] = [
    ['next 3 after Added', { anchor: 'Added', direction: 'next', steps: 3, from: START, to: START + 30 * DAY, limit: 15 }],
    ['previous 2 before Paid', { anchor: 'Paid', direction: 'previous', steps: 2, from: START + 2 * DAY, to: START + 30 * DAY, limit: 10 }],
    ['next 1 after Viewed (the most frequent next event)', { anchor: 'Viewed', direction: 'next', steps: 1, from: START, to: START + 30 * DAY, limit: 5 }],
  ];
  for (const [name, request] of cases)
    it(name, async () => {
      const expected = reference(events, request);
      expect(expected.length).toBeGreaterThan(3);
      const { sql, params } = pathsSql(request);
      expect(pathsResult(await warehouse.query(sql, params))).toEqual(expected);
    });
});
