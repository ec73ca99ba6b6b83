import { describe, expect, it } from 'vitest';
import { inHoldout } from '../../../domain/rules/trigger-controls.ts';
import { MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE } from '../../../lib/clock.ts';
import type { TriggerFiringRecord } from '../../../schemas/records.ts';
import { MemberScenario, type ScenarioRule } from '../../harness/member-scenario.ts';

// The stories of test/integration/trigger-scenarios.test.ts told through the pure member step.

type TriggerSpec = Omit<Extract<ScenarioRule, { kind: 'trigger' }>, 'kind'>;

/** A scenario whose active rules are these triggers (and any segments given), with the default daily cap of 3. */
function withTriggers(start: string, triggers: readonly TriggerSpec[], segments: readonly ScenarioRule[] = []): MemberScenario {
  const s = new MemberScenario({ start, rules: [...segments, ...triggers.map((t) => ({ kind: 'trigger' as const, ...t }))] });
  expect(s.ruleSet.triggers.map((t) => t.id)).toEqual(triggers.map((t) => t.id).sort());
  return s;
}

const outcomes = (records: readonly TriggerFiringRecord[]) => records.map((r) => `${r.ruleId} ${r.outcome}${r.reason ? ` ${r.reason}` : ''}`);
const dated = (records: readonly TriggerFiringRecord[]) => records.map((r) => [r.ruleId, r.outcome, new Date(r.at).toISOString()]);
const order = (id: string, total: number, extra: Record<string, unknown> = {}) => JSON.stringify({ order_id: id, total, ...extra });
const NOTHING = { transitions: [], segmentChanges: [], triggerFirings: [], identityChanges: [] };

describe('trigger patterns (pure member step)', () => {
  it('single events with conditions: sign-up, first paid order, order over an amount', () => {
    const s = withTriggers('2026-03-01T09:00:00Z', [
      { id: 'signup', on: { event: 'Signed Up' } },
      { id: 'first_order', on: { event: 'Order Completed' }, condition: { '==': [{ var: 'orders.count' }, 1] } },
      { id: 'big_order', on: { event: 'Order Completed' }, condition: { '>=': [{ var: 'event.properties.total' }, 100] } },
    ]);
    s.send({ userId: 'u1', event: 'Signed Up' });
    expect(outcomes(s.triggerFirings)).toEqual(['signup fired']);
    s.advance(MS_PER_HOUR);
    s.send({ userId: 'u1', event: 'Order Completed', properties: order('o1', 40) });
    expect(outcomes(s.triggerFirings)).toEqual(['first_order fired']);
    expect(JSON.parse(s.triggerFirings[0]?.values as string)).toEqual({ 'orders.count': 1 });
    s.advance(MS_PER_HOUR);
    const bigOrder = s.event({ userId: 'u1', event: 'Order Completed', properties: order('o2', 150) });
    s.send(bigOrder);
    expect(outcomes(s.triggerFirings)).toEqual(['big_order fired']);
    expect(s.triggerFirings[0]).toMatchObject({ at: s.now(), ruleVersion: 1, businessLine: 'default', causeEventId: bigOrder.messageId, memberId: 'member-1' });
    expect(JSON.parse(s.triggerFirings[0]?.values as string)).toEqual({ 'event.properties.total': 150 });
  });

  it('cart added and no paid order within 2 hours, keyed per cart: fires exactly at the deadline for the abandoned cart only', () => {
    const s = withTriggers('2026-03-01T09:00:00Z', [
      { id: 'abandoned_cart', on: { sequence: { start: 'Product Added', cancel: 'Order Completed', withinMinutes: 120, key: 'cart_id' } } },
    ]);
    const addedAt = s.now();
    const cartB = s.event({ userId: 'u1', event: 'Product Added', properties: '{"cart_id":"B","product_id":"p2"}' });
    s.send({ userId: 'u1', event: 'Product Added', properties: '{"cart_id":"A","product_id":"p1"}' }, cartB);
    expect(s.triggerFirings).toEqual([]);
    s.advance(90 * MS_PER_MINUTE);
    s.send({ userId: 'u1', event: 'Order Completed', properties: order('o1', 20, { cart_id: 'A' }) });
    expect(s.advanceTo(addedAt + 119 * MS_PER_MINUTE).triggerFirings).toEqual([]);
    s.advanceTo(addedAt + 121 * MS_PER_MINUTE);
    expect(outcomes(s.triggerFirings)).toEqual(['abandoned_cart fired']);
    expect(s.triggerFirings[0]).toMatchObject({ at: addedAt + 120 * MS_PER_MINUTE, causeEventId: cartB.messageId });
    expect(s.advance(MS_PER_HOUR).triggerFirings).toEqual([]);
    expect(s.state().triggers.pending).toEqual([]);
  });

  it('a cart added while anonymous keeps waiting after sign-up merges the visitor into the member', () => {
    const s = withTriggers('2026-03-01T09:00:00Z', [
      { id: 'abandoned_cart', on: { sequence: { start: 'Product Added', cancel: 'Order Completed', withinMinutes: 60, key: 'cart_id' } } },
    ]);
    const addedAt = s.now();
    s.sendTo('visitor', { anonymousId: 'visitor', event: 'Product Added', properties: '{"cart_id":"C"}' });
    s.advance(10 * MS_PER_MINUTE);
    s.send({ userId: 'u1', type: 'identify' });
    s.sendMerging(['visitor'], { userId: 'u1', previousId: 'visitor', type: 'alias' });
    expect(s.mergedInto('visitor')).toBe('member-1');
    s.advanceTo(addedAt + 61 * MS_PER_MINUTE);
    expect(s.triggerFirings.map((f) => [f.ruleId, f.outcome, f.memberId, f.at])).toEqual([
      ['abandoned_cart', 'fired', 'member-1', addedAt + 60 * MS_PER_MINUTE],
    ]);
  });

  it('entering a segment and reaching a lifecycle stage', () => {
    const s = withTriggers(
      '2026-03-01T09:00:00Z',
      [
        { id: 'welcome_buyer', on: { segment: 'buyers', change: 'entered' } },
        { id: 'win_back', on: { lifecycle: 'silent' } },
        { id: 'no_longer_new', on: { lifecycle: 'new', change: 'exited' } },
      ],
      [{ id: 'buyers', condition: { '>=': [{ var: 'orders.count' }, 1] } }],
    );
    s.send({ userId: 'u1', event: 'Order Completed', properties: order('o1', 30) });
    expect(outcomes(s.triggerFirings)).toEqual(['welcome_buyer fired']);
    expect(s.triggerFirings[0]?.causeEventId).toBe(s.segmentChanges[0]?.causeEventId);
    const orderedAt = s.now();
    s.advanceTo(orderedAt + 31 * MS_PER_DAY + MS_PER_HOUR);
    expect(s.transitions.map((t) => t.toStage)).toEqual(['silent']);
    expect(outcomes(s.triggerFirings)).toEqual(['no_longer_new fired', 'win_back fired']);
    // Fired when the member became silent (more than 30 days after the order), by the timer.
    for (const firing of s.triggerFirings) expect(firing).toMatchObject({ at: orderedAt + 30 * MS_PER_DAY + 1, causeEventId: null });
    expect(s.transitions[0]?.at).toBe(orderedAt + 30 * MS_PER_DAY + 1);
  });

  it('calendar: a birthday at 10:00 in the member time zone and a monthly member day, with no events', () => {
    const s = withTriggers('2026-03-01T09:00:00Z', [
      { id: 'birthday', on: { calendar: { kind: 'birthday', hour: 10 } } },
      { id: 'member_day', on: { calendar: { kind: 'monthly', day: 15, hour: 9 } } },
    ]);
    s.send({ userId: 'u1', type: 'identify', traits: '{"birthday":"1990-03-05","timezone":"Asia/Shanghai"}' });
    expect(s.advanceTo('2026-03-05T01:59:00Z').triggerFirings).toEqual([]);
    s.advanceTo('2026-03-05T02:00:00Z'); // 10:00 in Shanghai
    expect(dated(s.triggerFirings)).toEqual([['birthday', 'fired', '2026-03-05T02:00:00.000Z']]);
    s.advanceTo('2026-04-16T00:00:00Z');
    expect(dated(s.triggerFirings)).toEqual([
      ['member_day', 'fired', '2026-03-15T01:00:00.000Z'],
      ['member_day', 'fired', '2026-04-15T01:00:00.000Z'],
    ]);
    // Next year's birthday is already waiting.
    expect(s.state().triggers.pending.find((p) => p.ruleId === 'birthday')?.dueAt).toBe(Date.parse('2027-03-05T02:00:00Z'));
  });
});

describe('anti-harassment controls (pure member step)', () => {
  it('cooldown and the per-rule cap', () => {
    const s = withTriggers('2026-03-01T09:00:00Z', [
      { id: 'viewed', on: { event: 'Product Viewed' }, controls: { cooldownMinutes: 60, maxFires: { count: 2, windowDays: 7 } } },
    ]);
    const seen: string[] = [];
    for (const minutes of [0, 30, 31, 60, 125]) {
      s.advance(minutes * MS_PER_MINUTE);
      seen.push(...outcomes(s.send({ userId: 'u1', event: 'Product Viewed' }).triggerFirings));
    }
    expect(seen).toEqual(['viewed fired', 'viewed suppressed cooldown', 'viewed fired', 'viewed suppressed rule_cap', 'viewed suppressed rule_cap']);
    s.advance(7 * MS_PER_DAY);
    expect(outcomes(s.send({ userId: 'u1', event: 'Product Viewed' }).triggerFirings)).toEqual(['viewed fired']);
  });

  it('a late event counts the cooldown from the member time: it does not fire again inside it', () => {
    const s = withTriggers('2026-03-01T09:00:00Z', [{ id: 'viewed', on: { event: 'Product Viewed' }, controls: { cooldownMinutes: 60 } }]);
    s.send({ userId: 'u1', type: 'page' });
    s.advance(2 * MS_PER_DAY);
    expect(outcomes(s.send({ userId: 'u1', event: 'Product Viewed' }).triggerFirings)).toEqual(['viewed fired']);
    const firedAt = s.now();
    s.advance(10 * MS_PER_MINUTE);
    // Viewed two hours before the firing, sent only now.
    const late = s.send({ userId: 'u1', event: 'Product Viewed', timestamp: firedAt - 2 * MS_PER_HOUR }).triggerFirings;
    expect(dated(late)).toEqual([['viewed', 'suppressed', new Date(firedAt).toISOString()]]);
    expect(late[0]?.reason).toBe('cooldown');
  });

  it('two events firing a rule in the same millisecond give two firings with their own ids', () => {
    const s = withTriggers('2026-03-01T09:00:00Z', [{ id: 'viewed', on: { event: 'Product Viewed' } }]);
    const fired = s.send({ userId: 'u1', event: 'Product Viewed' }, { userId: 'u1', event: 'Product Viewed' }).triggerFirings;
    expect(outcomes(fired)).toEqual(['viewed fired', 'viewed fired']);
    expect(fired[0]?.at).toBe(fired[1]?.at);
    expect(fired[0]?.id).not.toBe(fired[1]?.id);
  });

  it('a daily cap across several rules, counted in the member local day', () => {
    const s = withTriggers(
      '2026-03-01T10:00:00Z',
      [1, 2, 3, 4].map((i) => ({ id: `r${i}`, on: { event: `E${i}` } })),
    );
    s.send({ userId: 'u1', type: 'identify', traits: '{"timezone":"Asia/Shanghai"}' });
    const fire = (name: string) => outcomes(s.send({ userId: 'u1', event: name }).triggerFirings);
    // 10:00Z is 18:00 in Shanghai.
    expect([...fire('E1'), ...fire('E2'), ...fire('E3'), ...fire('E4')]).toEqual(['r1 fired', 'r2 fired', 'r3 fired', 'r4 suppressed daily_cap']);
    s.advanceTo('2026-03-01T15:59:00Z'); // 23:59 local: same day
    expect(fire('E4')).toEqual(['r4 suppressed daily_cap']);
    s.advanceTo('2026-03-01T16:00:00Z'); // midnight local: a new day, while still March 1 in UTC
    expect(fire('E4')).toEqual(['r4 fired']);
  });

  it('quiet hours in each member time zone: deferred to the end or dropped', () => {
    const s = withTriggers('2026-03-01T12:00:00Z', [
      { id: 'promo', on: { event: 'Product Viewed' }, controls: { quietHours: { start: '22:00', end: '08:00', mode: 'defer' } } },
      { id: 'nudge', on: { event: 'Product Added' }, controls: { quietHours: { start: '22:00', end: '08:00', mode: 'drop' } } },
    ]);
    s.sendTo('ny', { userId: 'ny', type: 'identify', traits: '{"timezone":"America/New_York"}' });
    s.sendTo('sh', { userId: 'sh', type: 'identify', traits: '{"timezone":"Asia/Shanghai"}' });
    s.advanceTo('2026-03-02T03:00:00Z'); // 22:00 in New York, 11:00 in Shanghai
    const nyViewed = s.event({ userId: 'ny', event: 'Product Viewed' });
    const step = [
      ...s.sendTo('ny', nyViewed).triggerFirings,
      ...s.sendTo('sh', { userId: 'sh', event: 'Product Viewed' }).triggerFirings,
      ...s.sendTo('ny', { userId: 'ny', event: 'Product Added' }).triggerFirings,
    ];
    expect(step.map((r) => `${r.memberId} ${r.ruleId} ${r.outcome} ${r.reason ?? ''}`.trim())).toEqual([
      'ny promo deferred quiet_hours',
      'sh promo fired',
      'ny nudge suppressed quiet_hours',
    ]);
    expect(s.advanceTo('2026-03-02T12:59:00Z').triggerFirings).toEqual([]);
    s.advanceTo('2026-03-02T13:00:00Z'); // 08:00 in New York
    expect(dated(s.triggerFirings)).toEqual([['promo', 'fired', '2026-03-02T13:00:00.000Z']]);
    expect(s.triggerFirings[0]).toMatchObject({ memberId: 'ny', causeEventId: nyViewed.messageId });
  });

  it('outstanding coupons and marketing opt-out', () => {
    const s = withTriggers('2026-03-01T09:00:00Z', [
      { id: 'coupon_offer', on: { event: 'Product Viewed' }, controls: { maxOutstandingCoupons: 1 } },
      { id: 'order_receipt', on: { event: 'Order Completed' }, controls: { marketing: false } },
      { id: 'order_upsell', on: { event: 'Order Completed' } },
    ]);
    const u = { userId: 'u1' };
    expect(outcomes(s.send({ ...u, event: 'Product Viewed' }).triggerFirings)).toEqual(['coupon_offer fired']);
    s.send({ ...u, event: 'Coupon Received', properties: '{"coupon_id":"C1"}' });
    s.advance(MS_PER_MINUTE);
    expect(outcomes(s.send({ ...u, event: 'Product Viewed' }).triggerFirings)).toEqual(['coupon_offer suppressed outstanding_coupons']);
    // The order uses the coupon (its receipt and upsell fire: three fires today, the daily cap).
    expect(outcomes(s.send({ ...u, event: 'Order Completed', properties: order('o1', 10, { coupon: 'C1' }) }).triggerFirings)).toEqual([
      'order_receipt fired',
      'order_upsell fired',
    ]);
    expect(s.state().coupons).toEqual({});
    s.advance(MS_PER_MINUTE);
    expect(outcomes(s.send({ ...u, event: 'Product Viewed' }).triggerFirings)).toEqual(['coupon_offer suppressed daily_cap']);
    s.advance(MS_PER_DAY);
    expect(outcomes(s.send({ ...u, event: 'Product Viewed' }).triggerFirings)).toEqual(['coupon_offer fired']);

    s.send({ ...u, type: 'identify', traits: '{"marketing_opt_out":true}' });
    s.advance(MS_PER_DAY);
    expect(outcomes(s.send({ ...u, event: 'Order Completed', properties: order('o2', 10) }).triggerFirings)).toEqual([
      'order_receipt fired',
      'order_upsell suppressed opted_out',
    ]);
  });

  it('a holdout keeps a stable share of members out, each recorded as held out', () => {
    const s = withTriggers('2026-03-01T09:00:00Z', [{ id: 'promo', on: { event: 'Product Viewed' }, controls: { holdoutPercent: 30 } }]);
    const members = Array.from({ length: 60 }, (_, i) => `member-${i}`);
    const viewAll = () => members.flatMap((id) => s.sendTo(id, { userId: id, event: 'Product Viewed' }).triggerFirings);
    const records = viewAll();
    expect(records).toHaveLength(60);
    const held = records.filter((r) => r.outcome === 'held_out');
    expect(held.length).toBeGreaterThan(8);
    expect(held.length).toBeLessThan(30);
    for (const r of records)
      expect(r.outcome === 'held_out' ? `held_out ${r.reason}` : r.outcome).toBe(inHoldout('promo', r.memberId, 30) ? 'held_out holdout' : 'fired');
    // The same members again: the same split.
    s.advance(MS_PER_DAY);
    expect(
      viewAll()
        .filter((r) => r.outcome === 'held_out')
        .map((r) => r.memberId),
    ).toEqual(held.map((r) => r.memberId));
  });

  it('a time-driven firing waits for its time with no timer: the next event fires it first, at its own time', () => {
    // Quiet hours with defer, and nobody sweeps: the member's next event comes after the quiet hours.
    const s = withTriggers('2026-03-02T23:00:00Z', [
      { id: 'promo', on: { event: 'Product Viewed' }, controls: { quietHours: { start: '22:00', end: '08:00', mode: 'defer' } } },
    ]);
    expect(outcomes(s.send({ userId: 'u1', event: 'Product Viewed' }).triggerFirings)).toEqual(['promo deferred quiet_hours']);
    expect(s.advanceTo('2026-03-03T09:00:00Z', { timers: false })).toEqual(NOTHING);
    s.send({ userId: 'u1', event: 'Page Viewed' });
    expect(dated(s.triggerFirings)).toEqual([['promo', 'fired', '2026-03-03T08:00:00.000Z']]);
  });
});
