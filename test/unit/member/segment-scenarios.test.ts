import { describe, expect, it } from 'vitest';
import { MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE } from '../../../lib/clock.ts';
import type { SegmentChangeRecord } from '../../../schemas/records.ts';
import { MemberScenario, type ScenarioRule } from '../../harness/member-scenario.ts';

// The stories of test/integration/segment-scenarios.test.ts told through the pure member step.

const changes = (records: readonly SegmentChangeRecord[]) => records.map((r) => `${r.change} ${r.segmentId}`);
const dated = (records: readonly SegmentChangeRecord[]) => records.map((r) => [r.change, r.segmentId, new Date(r.at).toISOString()]);
const order = (id: string, total: number) => JSON.stringify({ order_id: id, total, currency: 'USD' });

const SEGMENTS: ScenarioRule[] = Object.entries({
  browsers: { '>=': [{ var: 'counters.page_views.30d.count' }, 2] },
  buyers: { '>=': [{ var: 'orders.count' }, 1] },
  big_spenders: { '>=': [{ var: 'counters.orders.30d.sum' }, 100] },
  lapsed: { and: [{ in_segment: 'buyers' }, { '>': [{ days_since: { var: 'orders.last_at' } }, 30] }] },
  gold_buyers: { and: [{ in_segment: 'buyers' }, { '==': [{ var: 'traits.tier' }, 'gold'] }] },
}).map(([id, condition]) => ({ id, condition }));

describe('segments evaluated per event and when time passes (pure member step)', () => {
  it('members enter and leave segments with exact records, also with no event', () => {
    const s = new MemberScenario({ start: '2026-03-01T09:00:00Z', rules: SEGMENTS, member: 'visitor' });
    // Rules that read other segments come after them.
    expect(s.ruleSet.segments.map((r) => r.id)).toEqual(['big_spenders', 'browsers', 'buyers', 'gold_buyers', 'lapsed']);

    // A visitor browses twice: a browser.
    const secondPage = s.event({ anonymousId: 'anon-1', type: 'page', name: 'Shoes' });
    s.send({ anonymousId: 'anon-1', type: 'page', name: 'Home' }, secondPage);
    expect(changes(s.segmentChanges)).toEqual(['entered browsers']);
    expect(s.segmentChanges[0]).toMatchObject({
      memberId: 'visitor',
      causeEventId: secondPage.messageId,
      ruleVersion: 1,
      at: s.now(),
      values: '{"counters.page_views.30d.count":2}',
    });

    // Signs up as a gold member: nothing yet (gold buyers must be buyers).
    s.advance(MS_PER_MINUTE);
    s.send({ anonymousId: 'anon-1', userId: 'user-1', type: 'identify', traits: '{"tier":"gold"}' });
    expect(s.segmentChanges).toEqual([]);
    expect(s.member().known).toBe(true);

    // A second device browses, then is aliased: that member folds in and leaves its segments.
    s.sendTo('device', { anonymousId: 'anon-2', type: 'page', name: 'Home' }, { anonymousId: 'anon-2', type: 'page', name: 'Bags' });
    expect(s.segmentChanges.map((c) => [c.memberId, c.change, c.segmentId])).toEqual([['device', 'entered', 'browsers']]);
    const alias = s.event({ userId: 'user-1', previousId: 'anon-2', type: 'alias' });
    s.sendMerging(['device'], alias);
    expect(s.segmentChanges.map((c) => [c.memberId, c.change, c.segmentId, c.causeEventId, c.values])).toEqual([
      ['device', 'exited', 'browsers', alias.messageId, '{"merged":true}'],
    ]);
    expect(s.state('device').segments).toEqual({});
    expect(s.view().counters.page_views?.['30d']).toEqual({ count: 4, sum: 0 });

    // Orders 60, then 50 two days later: buyer (then gold buyer, which reads it), then big spender.
    s.advance(MS_PER_HOUR);
    const firstOrderAt = s.now();
    s.send({ userId: 'user-1', event: 'Order Completed', properties: order('o1', 60) });
    expect(changes(s.segmentChanges)).toEqual(['entered buyers', 'entered gold_buyers']);
    expect(s.segmentChanges.every((c) => c.memberId === 'visitor' && c.at === firstOrderAt)).toBe(true);
    // Two days pass with timers firing at each UTC midnight: nothing changes.
    expect(s.advance(2 * MS_PER_DAY).segmentChanges).toEqual([]);
    const lastOrderAt = s.now();
    s.send({ userId: 'user-1', event: 'Order Completed', properties: order('o2', 50) });
    expect(changes(s.segmentChanges)).toEqual(['entered big_spenders']);
    expect(JSON.parse(s.segmentChanges[0]?.values as string)).toEqual({ 'counters.orders.30d.sum': 110 });
    expect(s.view().segments.map((m) => m.id)).toEqual(['big_spenders', 'browsers', 'buyers', 'gold_buyers']);

    // No events: the first order and the page views of March 1 leave the 30-day windows at
    // UTC midnight 30 days on; on day 31 after the last order the member is lapsed (and silent).
    s.advanceTo(lastOrderAt + 31 * MS_PER_DAY + MS_PER_HOUR);
    const windowEnd = new Date((Math.floor(firstOrderAt / MS_PER_DAY) + 30) * MS_PER_DAY).toISOString();
    expect(windowEnd).toBe('2026-03-31T00:00:00.000Z');
    expect(dated(s.segmentChanges)).toEqual([
      ['exited', 'big_spenders', windowEnd],
      ['exited', 'browsers', windowEnd],
      ['entered', 'lapsed', new Date(lastOrderAt + 31 * MS_PER_DAY).toISOString()],
    ]);
    expect(s.segmentChanges.every((c) => c.causeEventId === null)).toBe(true);
    expect(s.transitions.map((t) => t.toStage)).toEqual(['silent']);
    // Fired once: moving on to the same moment fires nothing again.
    expect(s.advance(0)).toEqual({ transitions: [], segmentChanges: [], triggerFirings: [], identityChanges: [] });

    // Orders again: no longer lapsed, a big spender again.
    s.send({ userId: 'user-1', event: 'Order Completed', properties: order('o3', 150) });
    expect(changes(s.segmentChanges)).toEqual(['entered big_spenders', 'exited lapsed']);
    expect(s.transitions.map((t) => `${t.fromStage}->${t.toStage}`)).toEqual(['silent->reactivated']);
  });

  it('a late event is decided at the member time: it never re-enters a segment the timer already moved it out of', () => {
    const s = new MemberScenario({ start: '2026-03-01T09:00:00Z', rules: SEGMENTS });
    s.send({ userId: 'u1', type: 'page' }, { userId: 'u1', type: 'page' });
    const windowEnd = Date.parse('2026-03-31T00:00:00Z');
    expect(dated(s.advanceTo(windowEnd + MS_PER_HOUR).segmentChanges)).toEqual([['exited', 'browsers', '2026-03-31T00:00:00.000Z']]);
    // A page view from an hour before the exit arrives now (an app that was offline): on the member's
    // time line the window holds only it, so the member stays out, with no change dated before the exit.
    expect(s.send({ userId: 'u1', type: 'page', timestamp: windowEnd - MS_PER_HOUR }).segmentChanges).toEqual([]);
    expect(s.advance(MS_PER_DAY).segmentChanges).toEqual([]);
    expect(s.view().counters.page_views?.['30d']).toMatchObject({ count: 1 });
    const ids = s.member().outputs.segmentChanges.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('with no timer firing, the next event emits the same changes, each dated when it fell due', () => {
    // The same member twice: once the timers fire as time passes, once only its next event moves it on.
    const story = (timers: boolean) => {
      const s = new MemberScenario({ start: '2026-03-01T09:00:00Z', rules: SEGMENTS });
      s.send({ userId: 'u1', type: 'page' }, { userId: 'u1', type: 'page' });
      s.advance(MS_PER_HOUR, { timers });
      s.send({ userId: 'u1', event: 'Order Completed', properties: order('o1', 120) });
      const orderedAt = s.now();
      const quiet = s.advanceTo(orderedAt + 40 * MS_PER_DAY, { timers });
      const comeback = s.send({ userId: 'u1', type: 'page' });
      return { s, orderedAt, quiet, comeback };
    };
    const swept = story(true);
    const unswept = story(false);
    expect(unswept.quiet).toEqual({ transitions: [], segmentChanges: [], triggerFirings: [], identityChanges: [] });
    // The event fires the checks that fell due first, then applies itself.
    expect(dated(unswept.comeback.segmentChanges)).toEqual([...dated(swept.quiet.segmentChanges), ...dated(swept.comeback.segmentChanges)]);
    expect(dated(unswept.comeback.segmentChanges)).toEqual([
      ['exited', 'big_spenders', '2026-03-31T00:00:00.000Z'],
      ['exited', 'browsers', '2026-03-31T00:00:00.000Z'],
      ['entered', 'lapsed', new Date(swept.orderedAt + 31 * MS_PER_DAY).toISOString()],
    ]);
    expect(unswept.comeback.transitions).toEqual([...swept.quiet.transitions, ...swept.comeback.transitions]);
    expect(unswept.s.state()).toEqual(swept.s.state());
  });
});

describe('computed traits (pure member step)', () => {
  it('count, sum, min, max, first, last and unique count over a window, read by segments, moving with time', () => {
    const viewed = (aggregate: 'count' | 'unique_count' | 'min' | 'max' | 'first' | 'last', property?: string) => ({
      kind: 'computed_trait' as const,
      computed: { event: 'Product Viewed', aggregate, windowDays: 7, ...(property ? { property } : {}) },
    });
    const s = new MemberScenario({
      start: '2026-05-01T10:00:00Z',
      rules: [
        { id: 'views_7d', ...viewed('count') },
        { id: 'distinct_products_7d', ...viewed('unique_count', 'product_id') },
        { id: 'cheapest_viewed', ...viewed('min', 'price') },
        { id: 'dearest_viewed', ...viewed('max', 'price') },
        { id: 'first_category', ...viewed('first', 'category') },
        { id: 'last_category', ...viewed('last', 'category') },
        {
          id: 'shoe_spend_30d',
          kind: 'computed_trait',
          computed: { event: 'Order Completed', aggregate: 'sum', property: 'total', windowDays: 30 },
          condition: { '==': [{ var: 'event.properties.category' }, 'shoes'] },
        },
        { id: 'browsing_shoppers', condition: { '>=': [{ var: 'computed.distinct_products_7d' }, 3] } },
      ],
    });
    expect(s.ruleSet.computed).toHaveLength(7);
    const view = (product: string, price: number, category: string) => ({
      userId: 'u1',
      event: 'Product Viewed',
      properties: JSON.stringify({ product_id: product, price, category }),
    });
    s.send(view('p1', 30, 'bags'), view('p2', 12.5, 'shoes'));
    expect(s.segmentChanges).toEqual([]);
    s.advance(2 * MS_PER_DAY);
    s.send(
      view('p1', 30, 'bags'),
      view('p3', 80, 'shoes'),
      { userId: 'u1', event: 'Order Completed', properties: '{"order_id":"o1","total":80,"category":"shoes"}' },
      { userId: 'u1', event: 'Order Completed', properties: '{"order_id":"o2","total":30,"category":"bags"}' },
    );
    expect(changes(s.segmentChanges)).toEqual(['entered browsing_shoppers']);
    const trait = (id: string) => (s.context().computed as Record<string, unknown>)[id];
    expect(trait('views_7d')).toBe(4);
    expect(trait('distinct_products_7d')).toBe(3);
    expect(trait('cheapest_viewed')).toBe(12.5);
    expect(trait('dearest_viewed')).toBe(80);
    expect(trait('first_category')).toBe('bags');
    expect(trait('last_category')).toBe('shoes');
    expect(trait('shoe_spend_30d')).toBe(80);
    // Six days after the first views they leave the 7-day window (at UTC midnight): p2 is gone, 2 distinct products remain.
    s.advanceTo('2026-05-08T00:30:00Z');
    expect(dated(s.segmentChanges)).toEqual([['exited', 'browsing_shoppers', '2026-05-08T00:00:00.000Z']]);
    expect(trait('views_7d')).toBe(2);
    expect(trait('distinct_products_7d')).toBe(2);
  });
});
