import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventRow } from '../../history/history-writer.ts';
import { ATTRIBUTION_MODELS, type AttributionRequest, type AttributionResult, attributionResult, attributionSql } from '../../lib/analytics/attribution.ts';
import type { Warehouse } from '../../lib/warehouse/warehouse.ts';
import { clickhouseDateTime } from '../../lib/warehouse/warehouse.ts';
import type { MessageType } from '../../schemas/records.ts';
import { historyWarehouse } from '../harness/history-warehouse.ts';
import { personOf, someMerges, writeMerges } from '../harness/merges.ts';
import { testEvent } from '../harness/test-event.ts';
import { Random } from '../workload/random.ts';

/*
 * Attribution computed by ClickHouse against a plain TypeScript computation of the five
 * models over the same generated orders and touch points (campaign clicks, UTM page
 * views, fired and suppressed triggers, plain page views that are not touches), with
 * touches exactly at the lookback's start and at the order's own time, equal times, and
 * refunds (not conversions). Conversions to 4 decimals, revenue to the cent.
 */

const DAY = 86_400_000;
const START = Date.UTC(2026, 2, 1);

interface Touch {
  readonly member: string;
  readonly id: string;
  readonly at: number;
  readonly channel: string;
}
interface Order {
  readonly member: string;
  readonly id: string;
  readonly at: number;
  readonly total: number;
}
interface Row {
  readonly member: string;
  readonly id: string;
  readonly at: number;
  readonly type: MessageType;
  readonly event: string | null;
  readonly campaign: string | null;
  readonly total?: number;
}

function generate(seed: string) {
  const r = new Random(seed);
  const rows: Row[] = [];
  const firings: { member: string; id: string; at: number; rule: string; outcome: string }[] = [];
  for (let m = 0; m < 300; m++) {
    const member = `m${m}`;
    const orderAt = START + r.int(5, 40) * DAY + r.int(0, DAY - 1);
    for (let i = 0, n = r.int(0, 6); i < n; i++) {
      const at = orderAt - r.pick([0, 1, 3_600_000, 7 * DAY, 7 * DAY + 1, r.int(0, 9 * DAY)]);
      const campaign = r.pick(['spring_sale', 'newsletter', 'retarget']);
      const kind = r.int(0, 3);
      if (kind === 0) rows.push({ member, id: `${member}-c${i}`, at, type: 'track', event: 'Campaign Clicked', campaign });
      else if (kind === 1) rows.push({ member, id: `${member}-v${i}`, at, type: 'page', event: null, campaign });
      else if (kind === 2)
        rows.push({ member, id: `${member}-p${i}`, at, type: 'page', event: null, campaign: null }); // not a touch
      else firings.push({ member, id: `${member}-t${i}`, at, rule: r.pick(['win_back', 'cart']), outcome: r.pick(['fired', 'suppressed']) });
    }
    for (let k = 0, n = r.int(1, 2); k < n; k++) {
      const at = orderAt + k * r.int(0, 2 * DAY);
      rows.push({
        member,
        id: `${member}-o${k}`,
        at,
        type: 'track',
        event: r.chance(0.1) ? 'Order Refunded' : 'Order Completed',
        campaign: null,
        total: r.pick([9.99, 25, 120.5, 33.33]),
      });
    }
  }
  return { rows, firings };
}

function reference(data: ReturnType<typeof generate>, request: AttributionRequest): AttributionResult[] {
  const lookback = request.lookbackDays * DAY;
  const halfLife = (request.halfLifeDays ?? 7) * DAY;
  const touches: Touch[] = [
    ...data.rows
      .filter((r) => r.campaign !== null && (r.event === 'Campaign Clicked' || r.type === 'page'))
      .map((r) => ({ member: r.member, id: r.id, at: r.at, channel: r.campaign as string })),
    ...data.firings.filter((f) => f.outcome === 'fired').map((f) => ({ member: f.member, id: f.id, at: f.at, channel: `trigger:${f.rule}` })),
  ];
  const orders: Order[] = data.rows
    .filter((r) => r.event === 'Order Completed' && r.at >= request.from && r.at < request.to)
    .map((r) => ({ member: r.member, id: r.id, at: r.at, total: r.total as number }));
  return request.models.map((model) => {
    const credit = new Map<string, { conversions: number; revenue: number }>();
    const unattributed = { orders: 0, revenue: 0 };
    for (const order of orders) {
      const mine = touches
        .filter((t) => person(t.member) === person(order.member) && t.at >= order.at - lookback && t.at <= order.at)
        .sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1));
      const n = mine.length;
      if (n === 0) {
        unattributed.orders++;
        unattributed.revenue += Math.floor(order.total * 1e6 + 0.5);
        continue;
      }
      let shares: number[];
      if (model === 'first_touch') shares = mine.map((_, i) => (i === 0 ? 1 : 0));
      else if (model === 'last_touch') shares = mine.map((_, i) => (i === n - 1 ? 1 : 0));
      else if (model === 'linear') shares = mine.map(() => 1 / n);
      else if (model === 'position_based') shares = mine.map((_, i) => (n === 1 ? 1 : n === 2 ? 0.5 : i === 0 || i === n - 1 ? 0.4 : 0.2 / (n - 2)));
      else {
        const weights = mine.map((t) => 2 ** ((t.at - order.at) / halfLife));
        const total = weights.reduce((a, b) => a + b, 0);
        shares = weights.map((w) => w / total);
      }
      mine.forEach((t, i) => {
        if (shares[i] === 0) return;
        const c = credit.get(t.channel) ?? { conversions: 0, revenue: 0 };
        // In whole millionths, each share rounded half up (the documented definition).
        c.conversions += Math.floor((shares[i] as number) * 1e6 + 0.5);
        c.revenue += Math.floor((shares[i] as number) * order.total * 1e6 + 0.5);
        credit.set(t.channel, c);
      });
    }
    return {
      model,
      channels: [...credit.entries()]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([channel, c]) => ({
          channel,
          conversions: Math.round((c.conversions / 1e6) * 10_000) / 10_000,
          revenue: Math.round((c.revenue / 1e6) * 100) / 100,
        })),
      unattributed: { orders: unattributed.orders, revenue: Math.round((unattributed.revenue / 1e6) * 100) / 100 },
    };
  });
}

const data = generate('attribution');
// Some members were merged into others: their touches and orders count under the member they joined.
const merges = someMerges('m', 300, () => 0);
const person = personOf(merges);
let warehouse: Warehouse;

beforeAll(async () => {
  warehouse = await historyWarehouse('attribution');
  const rows = data.rows.map((r) =>
    eventRow(
      r.member,
      testEvent(r.id, r.at, {
        userId: r.member,
        type: r.type,
        event: r.event,
        name: r.type === 'page' ? 'Home' : null,
        properties: r.total === undefined ? '{}' : JSON.stringify({ order_id: r.id, total: r.total }),
        context: r.campaign ? JSON.stringify({ campaign: { name: r.campaign, source: 'mail', medium: 'email' } }) : '{}',
      }),
    ),
  );
  await warehouse.insert('events', rows);
  await warehouse.insert('events', rows.slice(0, 200)); // replayed rows count once
  await writeMerges(warehouse, merges);
  await warehouse.insert(
    'trigger_firings',
    data.firings.map((f) => ({
      id: f.id,
      member_id: f.member,
      rule_id: f.rule,
      rule_version: 1,
      outcome: f.outcome,
      reason: '',
      at: clickhouseDateTime(f.at),
      cause_event_id: '',
      business_line: 'b',
      values: '{}',
    })),
  );
}, 60_000);
afterAll(() => warehouse.close());

describe('attribution on ClickHouse equals an independent computation (needs ClickHouse: a server when the harness has one, else embedded)', () => {
  const cases: [string, AttributionRequest][] = [
    ['all models, 7-day lookback', { models: [...ATTRIBUTION_MODELS], from: START, to: START + 60 * DAY, lookbackDays: 7, halfLifeDays: 2 }],
    [
      'last touch and linear, 30 days of orders, 1-day lookback',
      { models: ['last_touch', 'linear'], from: START + 10 * DAY, to: START + 40 * DAY, lookbackDays: 1 },
    ],
  ];
  for (const [name, request] of cases)
    it(name, async () => {
      const expected = reference(data, request);
      expect(expected[0]?.channels.length).toBeGreaterThan(2);
      const { sql, params } = attributionSql(request);
      expect(attributionResult(request, await warehouse.query(sql, params))).toEqual(expected);
    });
});
