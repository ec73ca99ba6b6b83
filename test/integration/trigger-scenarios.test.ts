import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { inHoldout } from '../../domain/rules/trigger-controls.ts';
import { MS_PER_DAY } from '../../lib/clock.ts';
import { createRedis } from '../../lib/redis.ts';
import type { TriggerFiringRecord } from '../../schemas/records.ts';
import { activeRules, type RuleSpec } from '../harness/active-rules.ts';
import { processorState } from '../harness/processor-state.ts';

const redis = createRedis(inject('services').redisUrl);
beforeAll(() => redis.connect());
afterAll(() => redis.quit());

const HOUR = 3_600_000;
const MINUTE = 60_000;

/** A processor state over real Redis whose active rules are `specs` (the daily cap across rules is 3). */
async function withRules(start: string, specs: RuleSpec[]) {
  const { rules } = await activeRules(
    redis,
    specs.map((spec) => ({ kind: 'trigger', businessLine: 'default', controls: {}, ...spec })),
  );
  expect(
    rules
      .current()
      .triggers.map((t) => t.id)
      .sort(),
  ).toEqual(
    specs
      .filter((s) => s.kind !== 'segment')
      .map((s) => s.id)
      .sort(),
  );
  return processorState(redis, inject('services').redisUrl, new Date(start), { rules: () => rules.current() });
}

const outcomes = (records: readonly TriggerFiringRecord[]) => records.map((r) => `${r.ruleId} ${r.outcome}${r.reason ? ` ${r.reason}` : ''}`);
const order = (id: string, total: number, extra: Record<string, unknown> = {}) => JSON.stringify({ order_id: id, total, ...extra });

describe('trigger patterns (needs Redis)', () => {
  it('single events with conditions: sign-up, first paid order, order over an amount', async () => {
    const p = await withRules('2026-03-01T09:00:00Z', [
      { id: 'signup', on: { event: 'Signed Up' } },
      { id: 'first_order', on: { event: 'Order Completed' }, condition: { '==': [{ var: 'orders.count' }, 1] } },
      { id: 'big_order', on: { event: 'Order Completed' }, condition: { '>=': [{ var: 'event.properties.total' }, 100] } },
    ]);
    const u = { userId: 'u1' };
    let step = await p.feed([p.event({ ...u, event: 'Signed Up' })]);
    expect(outcomes(step.triggerFirings)).toEqual(['signup fired']);
    p.clock.advance(HOUR);
    step = await p.feed([p.event({ ...u, event: 'Order Completed', properties: order('o1', 40) })]);
    expect(outcomes(step.triggerFirings)).toEqual(['first_order fired']);
    expect(JSON.parse(step.triggerFirings[0]?.values as string)).toEqual({ 'orders.count': 1 });
    p.clock.advance(HOUR);
    step = await p.feed([p.event({ ...u, event: 'Order Completed', properties: order('o2', 150) })]);
    expect(outcomes(step.triggerFirings)).toEqual(['big_order fired']);
    expect(step.triggerFirings[0]).toMatchObject({ at: p.clock.now(), ruleVersion: 1, businessLine: 'default', causeEventId: expect.any(String) });
  });

  it('cart added and no paid order within 2 hours, keyed per cart: fires exactly at the deadline for the abandoned cart only', async () => {
    const p = await withRules('2026-03-01T09:00:00Z', [
      { id: 'abandoned_cart', on: { sequence: { start: 'Product Added', cancel: 'Order Completed', withinMinutes: 120, key: 'cart_id' } } },
    ]);
    const u = { userId: 'u1' };
    const addedAt = p.clock.now();
    await p.feed([
      p.event({ ...u, event: 'Product Added', properties: '{"cart_id":"A","product_id":"p1"}' }),
      p.event({ ...u, event: 'Product Added', properties: '{"cart_id":"B","product_id":"p2"}' }),
    ]);
    p.clock.advance(90 * MINUTE);
    await p.feed([p.event({ ...u, event: 'Order Completed', properties: order('o1', 20, { cart_id: 'A' }) })]);
    p.clock.set(addedAt + 119 * MINUTE);
    expect((await p.sweepOutputs()).triggerFirings ?? []).toEqual([]);
    p.clock.set(addedAt + 121 * MINUTE);
    const swept = await p.sweepOutputs();
    expect(outcomes(swept.triggerFirings)).toEqual(['abandoned_cart fired']);
    expect(swept.triggerFirings[0]?.at).toBe(addedAt + 120 * MINUTE);
    p.clock.advance(HOUR);
    expect((await p.sweepOutputs()).triggerFirings).toEqual([]);
  });

  it('a cart added while anonymous keeps waiting after sign-up merges the visitor into the member', async () => {
    const p = await withRules('2026-03-01T09:00:00Z', [
      { id: 'abandoned_cart', on: { sequence: { start: 'Product Added', cancel: 'Order Completed', withinMinutes: 60, key: 'cart_id' } } },
    ]);
    const addedAt = p.clock.now();
    await p.feed([p.event({ anonymousId: 'visitor', event: 'Product Added', properties: '{"cart_id":"C"}' })]);
    p.clock.advance(10 * MINUTE);
    await p.feed([p.event({ userId: 'u1', type: 'identify' }), p.event({ userId: 'u1', previousId: 'visitor', type: 'alias' })]);
    p.clock.set(addedAt + 61 * MINUTE);
    const swept = await p.sweepOutputs();
    expect(swept.triggerFirings.map((f) => [f.ruleId, f.outcome, f.memberId, f.at])).toEqual([
      ['abandoned_cart', 'fired', (await p.view('user', 'u1'))?.memberId, addedAt + 60 * MINUTE],
    ]);
  });

  it('entering a segment and reaching a lifecycle stage', async () => {
    const p = await withRules('2026-03-01T09:00:00Z', [
      { id: 'buyers', kind: 'segment', condition: { '>=': [{ var: 'orders.count' }, 1] } },
      { id: 'welcome_buyer', on: { segment: 'buyers', change: 'entered' } },
      { id: 'win_back', on: { lifecycle: 'silent' } },
      { id: 'no_longer_new', on: { lifecycle: 'new', change: 'exited' } },
    ]);
    const step = await p.feed([p.event({ userId: 'u1', event: 'Order Completed', properties: order('o1', 30) })]);
    expect(outcomes(step.triggerFirings)).toEqual(['welcome_buyer fired']);
    const orderedAt = p.clock.now();
    p.clock.set(orderedAt + 31 * MS_PER_DAY + HOUR);
    const swept = await p.sweepOutputs();
    expect(swept.lifecycle.map((t) => t.toStage)).toEqual(['silent']);
    expect(outcomes(swept.triggerFirings)).toEqual(['no_longer_new fired', 'win_back fired']);
    // Fired when the member became silent (more than 30 days after the order), by the timer.
    for (const firing of swept.triggerFirings) expect(firing).toMatchObject({ at: swept.lifecycle[0]?.at, causeEventId: null });
  });

  it('calendar: a birthday at 10:00 in the member time zone and a monthly member day, with no events', async () => {
    const p = await withRules('2026-03-01T09:00:00Z', [
      { id: 'birthday', on: { calendar: { kind: 'birthday', hour: 10 } } },
      { id: 'member_day', on: { calendar: { kind: 'monthly', day: 15, hour: 9 } } },
    ]);
    await p.feed([p.event({ userId: 'u1', type: 'identify', traits: '{"birthday":"1990-03-05","timezone":"Asia/Shanghai"}' })]);
    p.clock.set(Date.parse('2026-03-05T01:59:00Z'));
    expect((await p.sweepOutputs()).triggerFirings).toEqual([]);
    p.clock.set(Date.parse('2026-03-05T02:00:00Z')); // 10:00 in Shanghai
    let swept = await p.sweepOutputs();
    expect(swept.triggerFirings.map((r) => [r.ruleId, new Date(r.at).toISOString()])).toEqual([['birthday', '2026-03-05T02:00:00.000Z']]);
    p.clock.set(Date.parse('2026-04-16T00:00:00Z'));
    swept = await p.sweepOutputs();
    expect(swept.triggerFirings.map((r) => [r.ruleId, new Date(r.at).toISOString()])).toEqual([
      ['member_day', '2026-03-15T01:00:00.000Z'],
      ['member_day', '2026-04-15T01:00:00.000Z'],
    ]);
  });
});

describe('anti-harassment controls (needs Redis)', () => {
  it('cooldown and the per-rule cap', async () => {
    const p = await withRules('2026-03-01T09:00:00Z', [
      { id: 'viewed', on: { event: 'Product Viewed' }, controls: { cooldownMinutes: 60, maxFires: { count: 2, windowDays: 7 } } },
    ]);
    const view = () => p.feed([p.event({ userId: 'u1', event: 'Product Viewed' })]);
    const seen: string[] = [];
    for (const minutes of [0, 30, 31, 60, 125]) {
      p.clock.advance(minutes * MINUTE);
      seen.push(...outcomes((await view()).triggerFirings));
    }
    expect(seen).toEqual(['viewed fired', 'viewed suppressed cooldown', 'viewed fired', 'viewed suppressed rule_cap', 'viewed suppressed rule_cap']);
    p.clock.advance(7 * MS_PER_DAY);
    expect(outcomes((await view()).triggerFirings)).toEqual(['viewed fired']);
  });

  it('a daily cap across several rules, counted in the member local day', async () => {
    const p = await withRules(
      '2026-03-01T10:00:00Z',
      [1, 2, 3, 4].map((i) => ({ id: `r${i}`, on: { event: `E${i}` } })),
    );
    await p.feed([p.event({ userId: 'u1', type: 'identify', traits: '{"timezone":"Asia/Shanghai"}' })]);
    const fire = async (name: string) => outcomes((await p.feed([p.event({ userId: 'u1', event: name })])).triggerFirings);
    // 10:00Z is 18:00 in Shanghai.
    expect([...(await fire('E1')), ...(await fire('E2')), ...(await fire('E3')), ...(await fire('E4'))]).toEqual([
      'r1 fired',
      'r2 fired',
      'r3 fired',
      'r4 suppressed daily_cap',
    ]);
    p.clock.set(Date.parse('2026-03-01T15:59:00Z')); // 23:59 local: same day
    expect(await fire('E4')).toEqual(['r4 suppressed daily_cap']);
    p.clock.set(Date.parse('2026-03-01T16:00:00Z')); // midnight local: a new day, while still March 1 in UTC
    expect(await fire('E4')).toEqual(['r4 fired']);
  });

  it('quiet hours in each member time zone: deferred to the end or dropped', async () => {
    const p = await withRules('2026-03-01T12:00:00Z', [
      { id: 'promo', on: { event: 'Product Viewed' }, controls: { quietHours: { start: '22:00', end: '08:00', mode: 'defer' } } },
      { id: 'nudge', on: { event: 'Product Added' }, controls: { quietHours: { start: '22:00', end: '08:00', mode: 'drop' } } },
    ]);
    await p.feed([
      p.event({ userId: 'ny', type: 'identify', traits: '{"timezone":"America/New_York"}' }),
      p.event({ userId: 'sh', type: 'identify', traits: '{"timezone":"Asia/Shanghai"}' }),
    ]);
    p.clock.set(Date.parse('2026-03-02T03:00:00Z')); // 22:00 in New York, 11:00 in Shanghai
    let step = await p.feed([
      p.event({ userId: 'ny', event: 'Product Viewed' }),
      p.event({ userId: 'sh', event: 'Product Viewed' }),
      p.event({ userId: 'ny', event: 'Product Added' }),
    ]);
    const ny = (await p.view('user', 'ny'))?.memberId;
    const who = (r: TriggerFiringRecord) => (r.memberId === ny ? 'ny' : 'sh');
    expect(step.triggerFirings.map((r) => `${who(r)} ${r.ruleId} ${r.outcome} ${r.reason ?? ''}`.trim()).sort()).toEqual([
      'ny nudge suppressed quiet_hours',
      'ny promo deferred quiet_hours',
      'sh promo fired',
    ]);
    p.clock.set(Date.parse('2026-03-02T12:59:00Z'));
    expect((await p.sweepOutputs()).triggerFirings).toEqual([]);
    p.clock.set(Date.parse('2026-03-02T13:00:00Z')); // 08:00 in New York
    step = { ...step, triggerFirings: (await p.sweepOutputs()).triggerFirings };
    expect(step.triggerFirings.map((r) => [r.ruleId, r.outcome, new Date(r.at).toISOString()])).toEqual([['promo', 'fired', '2026-03-02T13:00:00.000Z']]);
  });

  it('outstanding coupons and marketing opt-out', async () => {
    const p = await withRules('2026-03-01T09:00:00Z', [
      { id: 'coupon_offer', on: { event: 'Product Viewed' }, controls: { maxOutstandingCoupons: 1 } },
      { id: 'order_receipt', on: { event: 'Order Completed' }, controls: { marketing: false } },
      { id: 'order_upsell', on: { event: 'Order Completed' } },
    ]);
    const u = { userId: 'u1' };
    expect(outcomes((await p.feed([p.event({ ...u, event: 'Product Viewed' })])).triggerFirings)).toEqual(['coupon_offer fired']);
    await p.feed([p.event({ ...u, event: 'Coupon Received', properties: '{"coupon_id":"C1"}' })]);
    p.clock.advance(MINUTE);
    expect(outcomes((await p.feed([p.event({ ...u, event: 'Product Viewed' })])).triggerFirings)).toEqual(['coupon_offer suppressed outstanding_coupons']);
    // The order uses the coupon (its receipt and upsell fire: three fires today, the daily cap).
    await p.feed([p.event({ ...u, event: 'Order Completed', properties: order('o1', 10, { coupon: 'C1' }) })]);
    p.clock.advance(MINUTE);
    expect(outcomes((await p.feed([p.event({ ...u, event: 'Product Viewed' })])).triggerFirings)).toEqual(['coupon_offer suppressed daily_cap']);
    p.clock.advance(MS_PER_DAY);
    expect(outcomes((await p.feed([p.event({ ...u, event: 'Product Viewed' })])).triggerFirings)).toEqual(['coupon_offer fired']);

    await p.feed([p.event({ ...u, type: 'identify', traits: '{"marketing_opt_out":true}' })]);
    p.clock.advance(MS_PER_DAY);
    expect(outcomes((await p.feed([p.event({ ...u, event: 'Order Completed', properties: order('o2', 10) })])).triggerFirings)).toEqual([
      'order_receipt fired',
      'order_upsell suppressed opted_out',
    ]);
  });

  it("opt-out race: an anonymous visitor's marketing firing waits 5 s of event time, so an opt-out applied after it (its identify sat on another partition) suppresses it", async () => {
    const p = await withRules('2026-03-01T09:00:00Z', [
      { id: 'promo', on: { event: 'Promo Viewed' }, condition: { '>=': [{ var: 'counters.events.30d.count' }, 1] } },
      { id: 'receipt', on: { event: 'Promo Viewed' }, controls: { marketing: false } },
    ]);
    const viewedAt = p.clock.now();
    // The track keyed by the anonymous id is applied first; only the non-marketing rule goes out at once.
    let step = await p.feed([p.event({ anonymousId: 'race-v1', event: 'Promo Viewed' }), p.event({ anonymousId: 'race-v2', event: 'Promo Viewed' })]);
    expect(outcomes(step.triggerFirings)).toEqual(['receipt fired', 'receipt fired']);
    // The identify from the same batch, keyed by the user id, comes after it; the opt-out is spelled as shops spell it.
    step = await p.feed([p.event({ userId: 'race-u1', anonymousId: 'race-v1', type: 'identify', traits: '{"Marketing-Opt-Out":"yes"}' })]);
    expect(step.triggerFirings).toEqual([]);
    // Decided once 5 s of event time have passed (TRIGGER_CONSENT_WAIT_MS), at that time, on the timer or at a later event.
    p.clock.advance(4_999);
    expect((await p.sweepOutputs()).triggerFirings).toEqual([]);
    p.clock.advance(1);
    const swept = await p.sweepOutputs();
    const optedOutId = (await p.view('user', 'race-u1'))?.memberId;
    const v2 = (await p.view('anon', 'race-v2'))?.memberId;
    expect(swept.triggerFirings.map((f) => [f.ruleId, f.outcome, f.reason, f.memberId, f.at]).sort()).toEqual(
      [
        ['promo', 'suppressed', 'opted_out', optedOutId, viewedAt + 5_000],
        // A visitor nobody opted out gets it, with the values of when its condition held.
        ['promo', 'fired', null, v2, viewedAt + 5_000],
      ].sort(),
    );
    expect(JSON.parse(swept.triggerFirings.find((f) => f.memberId === v2)?.values as string)).toEqual({ 'counters.events.30d.count': 1 });
    // A known member's firing goes out at once: its events and its opt-outs share the user id's partition.
    step = await p.feed([p.event({ userId: 'race-u3', event: 'Promo Viewed' })]);
    expect(outcomes(step.triggerFirings)).toEqual(['promo fired', 'receipt fired']);
  });

  it('consent per channel and a refusal of personalised marketing (PIPL art. 24), each suppression recorded with its reason', async () => {
    const p = await withRules('2026-03-01T09:00:00Z', [
      { id: 'sms_promo', on: { event: 'Product Viewed' }, controls: { channel: 'sms' } },
      { id: 'push_promo', on: { event: 'Product Viewed' }, controls: { channel: 'push' } },
      { id: 'price_alert', on: { event: 'Product Viewed' }, controls: { marketing: false, channel: 'sms' } },
    ]);
    const u = { userId: 'consent-u1' };
    await p.feed([p.event({ ...u, type: 'identify', traits: '{"smsOptOut":"yes"}' })]);
    expect(outcomes((await p.feed([p.event({ ...u, event: 'Product Viewed' })])).triggerFirings).sort()).toEqual([
      'price_alert fired',
      'push_promo fired',
      'sms_promo suppressed opted_out',
    ]);
    // Opt-outs come first; a yes in any spelling of a trait holds (a later sms_opt_out: false beside smsOptOut: yes does not lift it).
    await p.feed([p.event({ ...u, type: 'identify', traits: '{"sms_opt_out":false,"personalisation_opt_out":true}' })]);
    p.clock.advance(MS_PER_DAY);
    expect(outcomes((await p.feed([p.event({ ...u, event: 'Product Viewed' })])).triggerFirings).sort()).toEqual([
      'price_alert fired',
      'push_promo suppressed personalization_refused',
      'sms_promo suppressed opted_out',
    ]);
  });

  it('a holdout keeps a stable share of members out, each recorded as held out', async () => {
    const p = await withRules('2026-03-01T09:00:00Z', [{ id: 'promo', on: { event: 'Product Viewed' }, controls: { holdoutPercent: 30 } }]);
    const records: TriggerFiringRecord[] = [];
    for (let i = 0; i < 60; i++) records.push(...(await p.feed([p.event({ userId: `member-${i}`, event: 'Product Viewed' })])).triggerFirings);
    const held = records.filter((r) => r.outcome === 'held_out');
    expect(held.length).toBeGreaterThan(8);
    expect(held.length).toBeLessThan(30);
    for (const r of records) expect(r.outcome === 'held_out').toBe(inHoldout('promo', r.memberId, 30));
    // The same members again: the same split.
    p.clock.advance(MS_PER_DAY);
    const again: TriggerFiringRecord[] = [];
    for (let i = 0; i < 60; i++) again.push(...(await p.feed([p.event({ userId: `member-${i}`, event: 'Product Viewed' })])).triggerFirings);
    expect(again.filter((r) => r.outcome === 'held_out').map((r) => r.memberId)).toEqual(held.map((r) => r.memberId));
  });
});
