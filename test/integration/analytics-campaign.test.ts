import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HistoryWriter } from '../../history/history-writer.ts';
import { type CampaignReport, type CampaignRequest, campaignResult, campaignSql } from '../../lib/analytics/campaign.ts';
import type { Warehouse } from '../../lib/warehouse/warehouse.ts';
import type { EventRecord, LifecycleStage, LifecycleTransitionRecord, TriggerFiringRecord, TriggerOutcome } from '../../schemas/records.ts';
import { historyWarehouse } from '../harness/history-warehouse.ts';
import { personOf, someMerges, writeMerges } from '../harness/merges.ts';
import { testEvent } from '../harness/test-event.ts';
import { Random } from '../workload/random.ts';

/*
 * The campaign report from ClickHouse against a plain TypeScript computation over the same
 * generated firings, orders, refunds, coupons and lifecycle transitions, with times placed
 * exactly on the boundaries (range ends, start, start +/- N days) and rows written twice.
 */

const DAY = 86_400_000;
const FROM = Date.UTC(2026, 2, 1);
const TO = FROM + 20 * DAY;
const RULE = 'winback';
const r = new Random('campaign');

const firings: TriggerFiringRecord[] = [];
const events: { memberId: string; event: EventRecord }[] = [];
const transitions: LifecycleTransitionRecord[] = [];
let serial = 0;
const id = (prefix: string) => `${prefix}${serial++}`;
const OUTCOMES: readonly TriggerOutcome[] = ['fired', 'fired', 'suppressed', 'held_out', 'deferred'];
const REASONS = ['cooldown', 'daily_cap', 'quiet_hours', 'opted_out'];

function fire(memberId: string, ruleId: string, outcome: TriggerOutcome, at: number) {
  const reason = outcome === 'suppressed' ? r.pick(REASONS) : outcome === 'deferred' ? 'quiet_hours' : null;
  firings.push({ id: id('f'), memberId, ruleId, ruleVersion: 1, outcome, reason, at, causeEventId: null, businessLine: null, values: '{}' });
}
function track(memberId: string, at: number, event: string, properties: Record<string, unknown>) {
  events.push({ memberId, event: testEvent(id('e'), at, { userId: memberId, event, properties: JSON.stringify(properties) }) });
}

for (let m = 0; m < 600; m++) {
  const member = `m${m}`;
  // Outcomes of the rule: a few per member, some on the range's ends, some outside it.
  const outcomeTimes = Array.from({ length: r.int(1, 3) }, () => r.pick([FROM, TO - 1, TO, FROM - 1, FROM + r.int(0, 20 * DAY - 1)]));
  const heldOut = r.chance(0.2);
  for (const at of outcomeTimes) fire(member, RULE, heldOut ? 'held_out' : r.pick(OUTCOMES.filter((o) => o !== 'held_out')), at);
  if (r.chance(0.3)) fire(member, 'other-rule', 'fired', FROM + r.int(0, 20 * DAY));
  const anchor = Math.min(...outcomeTimes);
  const near = () => anchor + r.pick([0, DAY * 3, -1, 1, -3 * DAY, -3 * DAY - 1, 3 * DAY + 1, r.int(-5 * DAY, 5 * DAY), r.int(-5 * DAY, 5 * DAY)]);
  for (let o = r.int(0, 4); o > 0; o--) {
    const total = r.pick([10, 24.99, 75.5, 300, 0.29]);
    const orderId = id('o');
    track(member, near(), 'Order Completed', { order_id: orderId, total, currency: 'CNY' });
    if (r.chance(0.2)) track(member, near(), 'Order Refunded', { order_id: orderId, total: r.pick([total, 5]) });
  }
  for (let c = r.int(0, 3); c > 0; c--) {
    const couponId = id('c');
    const discount = r.pick([5, 10, 12.5]);
    track(member, near(), 'Coupon Received', { coupon_id: couponId, discount });
    if (r.chance(0.6)) track(member, near(), 'Coupon Redeemed', { coupon_id: couponId, discount });
  }
  let previous: LifecycleStage | null = null;
  for (let t = r.int(0, 4); t > 0; t--) {
    const toStage = r.pick<LifecycleStage>(['silent', 'churned', 'active', 'reactivated']);
    transitions.push({ id: id('l'), memberId: member, fromStage: previous, toStage, at: near(), causeEventId: null, reason: 'time' });
    previous = toStage;
  }
}

// Some members were merged into others: their outcomes, orders and coupons count under the member they joined.
const merges = someMerges('m', 600, () => FROM);
const person = personOf(merges);

/** The report computed directly from the generated records. */
function reference(request: CampaignRequest): CampaignReport {
  const window = request.days * DAY;
  const inRange = firings
    .filter((f) => f.ruleId === request.ruleId && f.at >= request.from && f.at < request.to)
    .map((f) => ({ ...f, memberId: person(f.memberId) }));
  const members = [...new Set(inRange.map((f) => f.memberId))];
  const firstOf = (member: string, outcome: TriggerOutcome) => {
    const times = inRange.filter((f) => f.memberId === member && f.outcome === outcome).map((f) => f.at);
    return times.length === 0 ? null : Math.min(...times);
  };
  const treatedStart = new Map<string, number>();
  const controlStart = new Map<string, number>();
  for (const member of members) {
    const fired = firstOf(member, 'fired');
    const held = firstOf(member, 'held_out');
    if (fired !== null) treatedStart.set(member, fired);
    else if (held !== null) controlStart.set(member, held);
  }
  const cents = (v: unknown) => Math.round(Number(v) * 100);
  const tracked = (member: string, name: string) =>
    events.filter((e) => person(e.memberId) === member && e.event.event === name).map((e) => ({ at: e.event.timestamp, p: JSON.parse(e.event.properties) }));
  const isAfter = (at: number, start: number) => at > start && at <= start + window;
  const groupOf = (starts: Map<string, number>) => {
    let converted = 0;
    let orders = 0;
    let revenueCents = 0;
    for (const [member, start] of starts) {
      const paid = tracked(member, 'Order Completed').filter((o) => isAfter(o.at, start));
      const refunded = tracked(member, 'Order Refunded').filter((o) => isAfter(o.at, start));
      if (paid.length > 0) converted++;
      orders += paid.length;
      revenueCents += paid.reduce((s, o) => s + cents(o.p.total), 0) - refunded.reduce((s, o) => s + cents(o.p.total), 0);
    }
    const n = starts.size;
    const round = (v: number, d: number) => Math.round(v * 10 ** d) / 10 ** d;
    return {
      result: {
        members: n,
        converted,
        conversionRate: n === 0 ? 0 : round(converted / n, 4),
        orders,
        revenue: revenueCents / 100,
        revenuePerMember: n === 0 ? 0 : round(revenueCents / 100 / n, 2),
      },
      rate: n === 0 ? 0 : converted / n,
      perMember: n === 0 ? 0 : revenueCents / 100 / n,
    };
  };
  const treated = groupOf(treatedStart);
  const control = groupOf(controlStart);
  const lift = (t: number, c: number) => (c === 0 ? null : Math.round(((t - c) / c) * 10_000) / 10_000);

  let received = 0;
  let redeemed = 0;
  let costCents = 0;
  let ordersBefore = 0;
  let paidBeforeCents = 0;
  let paidAfterCents = 0;
  let silentMembers = 0;
  let reactivated = 0;
  for (const [member, start] of treatedStart) {
    const during = (at: number) => at >= start && at <= start + window;
    const redemptions = tracked(member, 'Coupon Redeemed').filter((e) => during(e.at));
    for (const coupon of new Set(
      tracked(member, 'Coupon Received')
        .filter((e) => during(e.at))
        .map((e) => e.p.coupon_id),
    )) {
      received++;
      const uses = redemptions.filter((e) => e.p.coupon_id === coupon);
      if (uses.length > 0) {
        redeemed++;
        costCents += Math.max(...uses.map((e) => cents(e.p.discount)));
      }
    }
    for (const o of tracked(member, 'Order Completed')) {
      if (o.at >= start - window && o.at < start) {
        ordersBefore++;
        paidBeforeCents += cents(o.p.total);
      }
      if (isAfter(o.at, start)) paidAfterCents += cents(o.p.total);
    }
    const own = transitions.filter((t) => t.memberId === member);
    const before = own.filter((t) => t.at <= start).sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : -1));
    if (before[0] && (before[0].toStage === 'silent' || before[0].toStage === 'churned')) {
      silentMembers++;
      if (own.some((t) => t.toStage === 'reactivated' && isAfter(t.at, start))) reactivated++;
    }
  }
  const suppressed = new Map<string, { members: Set<string>; outcomes: number }>();
  for (const f of inRange.filter((f) => f.outcome === 'suppressed')) {
    const s = suppressed.get(f.reason as string) ?? { members: new Set<string>(), outcomes: 0 };
    s.members.add(f.memberId);
    s.outcomes++;
    suppressed.set(f.reason as string, s);
  }
  const fired = new Set(inRange.filter((f) => f.outcome === 'fired').map((f) => f.memberId)).size;
  const round = (v: number, d: number) => Math.round(v * 10 ** d) / 10 ** d;
  return {
    ruleId: request.ruleId,
    targeted: members.length,
    reachRate: members.length === 0 ? 0 : round(fired / members.length, 4),
    suppressed: [...suppressed.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([reason, s]) => ({ reason, members: s.members.size, outcomes: s.outcomes })),
    deferred: new Set(inRange.filter((f) => f.outcome === 'deferred').map((f) => f.memberId)).size,
    treated: treated.result,
    holdout: control.result,
    lift: { conversionRate: lift(treated.rate, control.rate), revenuePerMember: lift(treated.perMember, control.perMember) },
    coupons: { received, redeemed, redemptionRate: received === 0 ? 0 : round(redeemed / received, 4), cost: costCents / 100 },
    averageOrderValue: {
      before: ordersBefore === 0 ? null : round(paidBeforeCents / 100 / ordersBefore, 2),
      after: treated.result.orders === 0 ? null : round(paidAfterCents / 100 / treated.result.orders, 2),
    },
    recall: { silentMembers, reactivated, rate: silentMembers === 0 ? 0 : round(reactivated / silentMembers, 4) },
  };
}

let warehouse: Warehouse;
beforeAll(async () => {
  warehouse = await historyWarehouse('campaign');
  const writer = new HistoryWriter(warehouse);
  const batch = { events, identityChanges: [], transitions, segmentChanges: [], triggerFirings: firings };
  await writer.write(batch);
  // A replay writes the same rows again.
  await writer.write({ ...batch, events: events.slice(0, 400), transitions: transitions.slice(0, 100), triggerFirings: firings.slice(0, 200) });
  await writeMerges(warehouse, merges);
}, 60_000);
afterAll(() => warehouse.close());

describe('campaign report equals an independent computation (needs ClickHouse: a server when the harness has one, else embedded)', () => {
  for (const days of [3, 7])
    it(`${days} days`, async () => {
      const request = { ruleId: RULE, from: FROM, to: TO, days };
      const expected = reference(request);
      // The generated data must reach every part of the report.
      expect(expected.treated.converted).toBeGreaterThan(20);
      expect(expected.holdout.converted).toBeGreaterThan(5);
      expect(expected.coupons.redeemed).toBeGreaterThan(10);
      expect(expected.recall.reactivated).toBeGreaterThan(3);
      expect(expected.suppressed.length).toBe(REASONS.length);
      const { sql, params } = campaignSql(request);
      expect(campaignResult(request, await warehouse.query(sql, params))).toEqual(expected);
    });

  it('a rule without outcomes in the range reports zeros', async () => {
    const request = { ruleId: 'no-such-rule', from: FROM, to: TO, days: 7 };
    const { sql, params } = campaignSql(request);
    const report = campaignResult(request, await warehouse.query(sql, params));
    expect(report).toEqual(reference(request));
    expect(report.targeted).toBe(0);
    expect(report.lift).toEqual({ conversionRate: null, revenuePerMember: null });
  });
});
