import { describe, expect, it } from 'vitest';
import { DEFAULT_COUNTERS, DEFAULT_WINDOWS_DAYS } from '../../../domain/member/counters.ts';
import { DEFAULT_LIFECYCLE } from '../../../domain/member/lifecycle.ts';
import { advanceTime, applyEvent, emptyMemberState, storedMemberState } from '../../../domain/member/member-state.ts';
import { memberView } from '../../../domain/member/member-view.ts';
import { DEFAULT_RFM } from '../../../domain/member/rfm.ts';
import { windowTotals } from '../../../domain/member/windows.ts';
import { ManualClock, MS_PER_DAY } from '../../../lib/clock.ts';
import type { EventRecord, LifecycleTransitionRecord } from '../../../schemas/records.ts';
import { testEvent } from '../../harness/test-event.ts';

const config = { counters: DEFAULT_COUNTERS, longestWindowDays: 365, lifecycle: DEFAULT_LIFECYCLE };
let seq = 0;
function event(clock: ManualClock, partial: Partial<EventRecord>): EventRecord {
  return testEvent(`m${++seq}`, clock.now(), { anonymousId: 'anon-1', source: 'web', ...partial });
}
const transitions = (outputs: LifecycleTransitionRecord[]) => outputs.map((o) => `${o.fromStage ?? '-'}->${o.toStage}`);

describe('one member, step by step (pure state machine)', () => {
  it('browses, signs up, orders twice, goes quiet, comes back and refunds', () => {
    const clock = new ManualClock(new Date('2026-03-01T09:00:00Z'));
    const state = emptyMemberState('member-1');
    const view = () => memberView(state, clock.now(), DEFAULT_WINDOWS_DAYS, DEFAULT_RFM);
    const order = (total: number, id: string) =>
      event(clock, { userId: 'u1', event: 'Order Completed', properties: JSON.stringify({ order_id: id, total, currency: 'USD' }) });

    // Step 1: a visitor browses.
    let out = applyEvent(state, event(clock, { type: 'page', name: 'Home' }), config).outputs;
    out.push(...applyEvent(state, event(clock, { event: 'Product Viewed', properties: '{"product_id":"p1"}' }), config).outputs);
    expect(transitions(out)).toEqual(['-->prospect']);
    expect(view().counters.page_views?.['1d']).toEqual({ count: 1, sum: 0 });
    expect(view().rfm).toBeNull();

    // Step 2: signs up.
    clock.advance(60_000);
    applyEvent(state, event(clock, { type: 'identify', userId: 'u1', traits: '{"plan":"basic"}' }), config);
    expect(state.traits).toEqual({ plan: 'basic' });

    // Step 3: first order.
    clock.advance(3_600_000);
    out = applyEvent(state, order(120, 'o1'), config).outputs;
    expect(transitions(out)).toEqual(['prospect->new']);
    expect(out[0]).toMatchObject({ memberId: 'member-1', causeEventId: `m${seq}`, reason: 'first_order', at: clock.now() });

    // Step 4: orders again 5 days later.
    clock.advance(5 * MS_PER_DAY);
    out = applyEvent(state, order(80, 'o2'), config).outputs;
    expect(transitions(out)).toEqual(['new->active']);
    expect(view().rfm).toMatchObject({ recencyDays: 0, frequency: 2, monetary: 200, r: 5, f: 2, m: 2, group: 'general-value' });
    expect(view().counters.orders?.['30d']).toEqual({ count: 2, sum: 200 });
    const lastOrderAt = clock.now();

    // Step 5: goes quiet. Exactly 30 days later nothing changes; on day 31 silent, no event needed.
    clock.set(lastOrderAt + 30 * MS_PER_DAY);
    expect(transitions(advanceTime(state, clock.now(), config).outputs)).toEqual([]);
    clock.set(lastOrderAt + 31 * MS_PER_DAY);
    out = advanceTime(state, clock.now(), config).outputs;
    expect(transitions(out)).toEqual(['active->silent']);
    expect(out[0]).toMatchObject({ at: lastOrderAt + 30 * MS_PER_DAY + 1, causeEventId: null, reason: 'no_order_30d' });

    // Step 6: day 61: churned.
    clock.set(lastOrderAt + 61 * MS_PER_DAY);
    expect(transitions(advanceTime(state, clock.now(), config).outputs)).toEqual(['silent->churned']);
    expect(view().rfm).toMatchObject({ recencyDays: 61, r: 3 });

    // Step 7: orders again: reactivated.
    out = applyEvent(state, order(50, 'o3'), config).outputs;
    expect(transitions(out)).toEqual(['churned->reactivated']);
    expect(view().rfm).toMatchObject({ frequency: 3, monetary: 250 });

    // Step 8: refunds the first order: M drops, F stays.
    clock.advance(MS_PER_DAY);
    out = applyEvent(state, event(clock, { userId: 'u1', event: 'Order Refunded', properties: '{"order_id":"o1","total":120}' }), config).outputs;
    expect(out).toEqual([]);
    expect(view().rfm).toMatchObject({ frequency: 3, monetary: 130 });
    expect(state.orders).toMatchObject({ count: 3, spend: 250, refunds: 1, refunded: 120 });
  });

  it('puts a late event in its own day bucket', () => {
    const clock = new ManualClock(new Date('2026-03-10T12:00:00Z'));
    const state = emptyMemberState('member-2');
    applyEvent(state, event(clock, { event: 'Product Viewed' }), config);
    applyEvent(state, event(clock, { event: 'Product Viewed', timestamp: clock.now() - 3 * MS_PER_DAY }), config);
    const counters = memberView(state, clock.now(), DEFAULT_WINDOWS_DAYS, DEFAULT_RFM).counters.product_views;
    expect(counters?.['1d']).toEqual({ count: 1, sum: 0 });
    expect(counters?.['7d']).toEqual({ count: 2, sum: 0 });
    expect(state.firstSeenAt).toBe(clock.now() - 3 * MS_PER_DAY);
  });

  it('sums orders and refunds sent with revenue instead of total, as spend and RFM do', () => {
    const clock = new ManualClock(new Date('2026-03-10T12:00:00Z'));
    const state = emptyMemberState('member-4');
    const send = (name: string, properties: object) =>
      applyEvent(state, event(clock, { userId: 'u4', event: name, properties: JSON.stringify(properties) }), config);
    send('Order Completed', { order_id: 'o1', revenue: 40.5, currency: 'USD' });
    send('Order Completed', { order_id: 'o2', total: 20, revenue: 99, currency: 'USD' });
    send('Order Refunded', { order_id: 'o1', revenue: 10.25 });
    const view = memberView(state, clock.now(), DEFAULT_WINDOWS_DAYS, DEFAULT_RFM);
    expect(view.counters.orders?.['30d']).toEqual({ count: 2, sum: 60.5 });
    expect(view.counters.refunds?.['30d']).toEqual({ count: 1, sum: 10.25 });
    expect(state.orders).toMatchObject({ count: 2, spend: 60.5, refunded: 10.25 });
    expect(view.rfm).toMatchObject({ frequency: 2, monetary: 50.25 });
  });
});

describe('a member stored by an earlier version', () => {
  it('reads day buckets stored as objects keyed by day and goes on counting from them', () => {
    const clock = new ManualClock(new Date('2026-03-10T09:00:00Z'));
    const today = Math.floor(clock.now() / MS_PER_DAY);
    const stored = JSON.parse(JSON.stringify(emptyMemberState('member-3')));
    stored.counters = { page_views: { [today - 2]: { count: 3, sum: 0 }, [today]: { count: 1, sum: 0 } } };
    stored.paid = { [today - 40]: { count: 1, sum: 19.99 } };
    delete stored.segments;
    delete stored.coupons;
    const state = storedMemberState(stored);
    applyEvent(state, event(clock, { type: 'page', name: 'Home' }), config);
    const view = memberView(state, clock.now(), DEFAULT_WINDOWS_DAYS, DEFAULT_RFM);
    expect(view.counters.page_views?.['1d']).toEqual({ count: 2, sum: 0 });
    expect(view.counters.page_views?.['7d']).toEqual({ count: 5, sum: 0 });
    expect(windowTotals(state.paid, clock.now(), 90)).toEqual({ count: 1, sum: 19.99 });
    expect(state.segments).toEqual({});
    expect(state.coupons).toEqual({});
  });
});
