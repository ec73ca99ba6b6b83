import { describe, expect, it } from 'vitest';
import { MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE } from '../../../lib/clock.ts';
import type { LifecycleTransitionRecord } from '../../../schemas/records.ts';
import { MemberScenario } from '../../harness/member-scenario.ts';

// The member's state machine in the stories of test/integration/processor-scenarios.test.ts,
// told through the pure member step; identity, hashing, dedup and storage stay there.

const moves = (outputs: readonly LifecycleTransitionRecord[]) => outputs.map((o) => `${o.fromStage ?? '-'}->${o.toStage}`);
const order = (id: string, total: number) => JSON.stringify({ order_id: id, total, currency: 'USD' });
const NOTHING = { transitions: [], segmentChanges: [], triggerFirings: [], identityChanges: [] };

describe('a member lifecycle, step by step (pure member step)', () => {
  it('a visitor browses, signs up, orders twice, goes quiet, comes back and refunds', () => {
    const s = new MemberScenario({ start: '2026-03-01T09:00:00Z' });
    const anon = { anonymousId: 'anon-1' };

    // Browses anonymously: a prospect.
    const firstPage = s.event({ ...anon, type: 'page', name: 'Home' });
    s.send(firstPage, { ...anon, event: 'Product Viewed', properties: '{"product_id":"p1"}' });
    expect(moves(s.transitions)).toEqual(['-->prospect']);
    expect(s.transitions[0]).toMatchObject({ memberId: 'member-1', at: s.now(), causeEventId: firstPage.messageId, reason: 'never_ordered' });
    expect(s.view().counters.events?.['1d']).toEqual({ count: 2, sum: 0 });
    expect(s.view().rfm).toBeNull();

    // Signs up: identify with both ids, then alias; traits are kept, the stage does not move.
    s.advance(MS_PER_MINUTE);
    s.send({ ...anon, userId: 'user-1', type: 'identify', traits: '{"plan":"basic"}' }, { userId: 'user-1', previousId: 'anon-1', type: 'alias' });
    expect(s.outputs).toEqual(NOTHING);
    expect(s.member().known).toBe(true);
    expect(s.view().traits).toEqual({ plan: 'basic' });

    // First order, then another five days later.
    s.advance(MS_PER_HOUR);
    s.send({ userId: 'user-1', event: 'Order Completed', properties: order('o1', 120) });
    expect(moves(s.transitions)).toEqual(['prospect->new']);
    expect(s.transitions[0]).toMatchObject({ reason: 'first_order', at: s.now() });
    s.advance(5 * MS_PER_DAY);
    s.send({ userId: 'user-1', event: 'Order Completed', properties: order('o2', 80) });
    expect(moves(s.transitions)).toEqual(['new->active']);
    const lastOrderAt = s.now();
    expect(s.view().rfm).toMatchObject({ frequency: 2, monetary: 200, r: 5, f: 2, m: 2 });

    // Quiet: nothing on day 30, silent on day 31, churned on day 61, with no event at all.
    expect(s.advanceTo(lastOrderAt + 30 * MS_PER_DAY)).toEqual(NOTHING);
    s.advanceTo(lastOrderAt + 31 * MS_PER_DAY);
    expect(moves(s.transitions)).toEqual(['active->silent']);
    expect(s.transitions[0]).toMatchObject({ at: lastOrderAt + 30 * MS_PER_DAY + 1, causeEventId: null, reason: 'no_order_30d' });
    s.advanceTo(lastOrderAt + 61 * MS_PER_DAY);
    expect(moves(s.transitions)).toEqual(['silent->churned']);
    expect(s.transitions[0]).toMatchObject({ at: lastOrderAt + 60 * MS_PER_DAY + 1, reason: 'no_order_60d' });
    expect(s.view().lifecycle).toEqual({ stage: 'churned', since: lastOrderAt + 60 * MS_PER_DAY + 1 });

    // Orders again (from another device): reactivated.
    s.send({ userId: 'user-1', anonymousId: 'anon-2', event: 'Order Completed', properties: order('o3', 50) });
    expect(moves(s.transitions)).toEqual(['churned->reactivated']);

    // Refunds the first order: M drops, F does not.
    s.advance(MS_PER_DAY);
    s.send({ userId: 'user-1', event: 'Order Refunded', properties: order('o1', 120) });
    expect(s.transitions).toEqual([]);
    const final = s.view();
    expect(final.rfm).toMatchObject({ frequency: 3, monetary: 130 });
    expect(final.orders).toMatchObject({ count: 3, spend: 250, refunds: 1, refunded: 120 });
    expect(final.lifecycle?.stage).toBe('reactivated');
  });

  it('goes quiet with no timer firing: its next event emits the transitions it missed first, each dated when it became true', () => {
    const s = new MemberScenario({ start: '2026-03-01T09:00:00Z' });
    s.send({ userId: 'u1', event: 'Order Completed', properties: order('o1', 10) });
    const orderedAt = s.now();
    expect(s.advanceTo(orderedAt + 90 * MS_PER_DAY, { timers: false })).toEqual(NOTHING);
    const comeback = s.event({ userId: 'u1', event: 'Order Completed', properties: order('o2', 10) });
    s.send(comeback);
    expect(s.transitions.map((t) => [`${t.fromStage}->${t.toStage}`, t.at - orderedAt, t.causeEventId])).toEqual([
      ['new->silent', 30 * MS_PER_DAY + 1, null],
      ['silent->churned', 60 * MS_PER_DAY + 1, null],
      ['churned->reactivated', 90 * MS_PER_DAY, comeback.messageId],
    ]);
  });

  it('a late event counts in its own day but is dated on the member time line, never before its last evaluation', () => {
    const s = new MemberScenario({
      start: '2026-03-10T12:00:00Z',
      rules: [
        { id: 'repeat_buyers', condition: { '>=': [{ var: 'orders.count' }, 2] } },
        { id: 'order_thanks', kind: 'trigger', on: { event: 'Order Completed' } },
      ],
    });
    s.send({ userId: 'u1', event: 'Order Completed', properties: order('o1', 10) });
    const firstOrderAt = s.now();
    s.advance(MS_PER_DAY);
    // An order made two days before the first arrives now: its outputs are dated when the member was last evaluated.
    s.send({ userId: 'u1', event: 'Order Completed', properties: order('o0', 30), timestamp: firstOrderAt - 2 * MS_PER_DAY });
    expect(moves(s.transitions)).toEqual(['new->active']);
    expect(s.transitions[0]?.at).toBe(firstOrderAt);
    expect(s.segmentChanges.map((c) => [c.change, c.segmentId, c.at])).toEqual([['entered', 'repeat_buyers', firstOrderAt]]);
    expect(s.triggerFirings.map((f) => [f.ruleId, f.outcome, f.at])).toEqual([['order_thanks', 'fired', firstOrderAt]]);
    expect(s.view().orders).toMatchObject({ count: 2, firstAt: firstOrderAt - 2 * MS_PER_DAY, lastAt: firstOrderAt });
    expect(s.view().counters.orders?.['1d']).toEqual({ count: 0, sum: 0 });
    expect(s.view().counters.orders?.['7d']).toEqual({ count: 2, sum: 40 });
  });
});

describe('merges (pure member step)', () => {
  it('folds an anonymous member into the known member exactly once', () => {
    const s = new MemberScenario({ start: '2026-05-01T09:00:00Z', member: 'known' });
    s.send({ userId: 'u-m', anonymousId: 'device-a', event: 'Order Completed', properties: order('o1', 30) });
    // Later, browsing anonymously on another device.
    s.sendTo('device-b', { anonymousId: 'device-b', event: 'Product Viewed' }, { anonymousId: 'device-b', event: 'Product Added' });
    expect(moves(s.transitions)).toEqual(['-->prospect']);
    // Logs in on that device: device-b's member merges into u-m's.
    const login = s.event({ userId: 'u-m', anonymousId: 'device-b', event: 'Logged In' });
    s.sendMerging(['device-b'], login);
    expect(s.transitions).toEqual([]);
    expect(s.state().mergedFrom).toEqual(['device-b']);
    expect(s.view().counters.events?.['1d']).toEqual({ count: 4, sum: 0 });
    expect(s.view().counters.cart_adds?.['1d']).toEqual({ count: 1, sum: 0 });
    expect(s.view().lifecycle?.stage).toBe('new');
    // The merge again (its event replayed): nothing is counted twice.
    s.merge('device-b', { causeEventId: login.messageId });
    expect(s.outputs).toEqual(NOTHING);
    expect(s.view().counters.events?.['1d']).toEqual({ count: 4, sum: 0 });
    expect(s.state().mergedFrom).toEqual(['device-b']);
  });

  it('orders made while anonymous move the stage of the member they fold into, dated at the merge', () => {
    const s = new MemberScenario({ start: '2026-05-01T09:00:00Z', member: 'known' });
    s.send({ userId: 'u1', type: 'identify' });
    s.sendTo('guest', { anonymousId: 'guest', event: 'Order Completed', properties: order('g1', 25) });
    expect(moves(s.transitions)).toEqual(['-->new']);
    s.advance(MS_PER_HOUR);
    const login = s.event({ userId: 'u1', anonymousId: 'guest', event: 'Logged In' });
    s.sendMerging(['guest'], login);
    expect(s.transitions.map((t) => [t.memberId, `${t.fromStage}->${t.toStage}`, t.at, t.reason])).toEqual([
      ['known', 'prospect->new', login.timestamp, 'identities_merged'],
    ]);
    expect(s.view().orders).toMatchObject({ count: 1, spend: 25 });
  });
});
