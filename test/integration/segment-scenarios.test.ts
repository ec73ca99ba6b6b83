import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_WINDOWS_DAYS } from '../../domain/member/counters.ts';
import { DEFAULT_RFM } from '../../domain/member/rfm.ts';
import { ruleContext } from '../../domain/member/segments.ts';
import { MS_PER_DAY } from '../../lib/clock.ts';
import { createRedis } from '../../lib/redis.ts';
import type { SegmentChangeRecord } from '../../schemas/records.ts';
import { activeRules, type RuleSpec } from '../harness/active-rules.ts';
import { processorState, STATE_CONFIG } from '../harness/processor-state.ts';

const redis = createRedis(inject('services').redisUrl);
beforeAll(() => redis.connect());
afterAll(() => redis.quit());

const changes = (records: readonly SegmentChangeRecord[]) => records.map((r) => `${r.change} ${r.segmentId}`);
const order = (id: string, total: number) => JSON.stringify({ order_id: id, total, currency: 'USD' });

const SEGMENTS: Record<string, unknown> = {
  browsers: { '>=': [{ var: 'counters.page_views.30d.count' }, 2] },
  buyers: { '>=': [{ var: 'orders.count' }, 1] },
  big_spenders: { '>=': [{ var: 'counters.orders.30d.sum' }, 100] },
  lapsed: { and: [{ in_segment: 'buyers' }, { '>': [{ days_since: { var: 'orders.last_at' } }, 30] }] },
  gold_buyers: { and: [{ in_segment: 'buyers' }, { '==': [{ var: 'traits.tier' }, 'gold'] }] },
};

describe('segments evaluated per event and when time passes (needs Redis)', () => {
  it('members enter and leave segments with exact records, also with no event, and a replay changes nothing', async () => {
    const { rules } = await activeRules(
      redis,
      Object.entries(SEGMENTS).map(([id, condition]) => ({ id, condition })),
    );
    expect(rules.current().segments.map((s) => s.id)).toEqual(['big_spenders', 'browsers', 'buyers', 'gold_buyers', 'lapsed']);
    const p = await processorState(redis, inject('services').redisUrl, new Date('2026-03-01T09:00:00Z'), { rules: () => rules.current() });

    // A visitor browses twice: a browser.
    const browsing = [p.event({ anonymousId: 'anon-1', type: 'page', name: 'Home' }), p.event({ anonymousId: 'anon-1', type: 'page', name: 'Shoes' })];
    let step = await p.feed(browsing);
    expect(changes(step.segmentChanges)).toEqual(['entered browsers']);
    const visitorId = step.segmentChanges[0]?.memberId;
    expect(step.segmentChanges[0]).toMatchObject({ causeEventId: browsing[1]?.messageId, ruleVersion: 1, values: '{"counters.page_views.30d.count":2}' });

    // Signs up as a gold member; a second device browses, then is aliased: that member folds in and leaves its segments.
    p.clock.advance(60_000);
    step = await p.feed([p.event({ anonymousId: 'anon-1', userId: 'user-1', type: 'identify', traits: '{"tier":"gold"}' })]);
    expect(step.segmentChanges).toEqual([]);
    step = await p.feed([p.event({ anonymousId: 'anon-2', type: 'page', name: 'Home' }), p.event({ anonymousId: 'anon-2', type: 'page', name: 'Bags' })]);
    const deviceId = step.segmentChanges[0]?.memberId;
    expect(changes(step.segmentChanges)).toEqual(['entered browsers']);
    step = await p.feed([p.event({ userId: 'user-1', previousId: 'anon-2', type: 'alias' })]);
    expect(step.segmentChanges.map((c) => [c.memberId, c.change, c.segmentId])).toEqual([[deviceId, 'exited', 'browsers']]);

    // Orders 60, then 50 two days later: buyer (then gold buyer, which reads it), then big spender.
    p.clock.advance(3_600_000);
    const firstOrderAt = p.clock.now();
    step = await p.feed([p.event({ userId: 'user-1', event: 'Order Completed', properties: order('o1', 60) })]);
    expect(changes(step.segmentChanges)).toEqual(['entered buyers', 'entered gold_buyers']);
    expect(step.segmentChanges.every((c) => c.memberId === visitorId && c.at === firstOrderAt)).toBe(true);
    p.clock.advance(2 * MS_PER_DAY);
    const lastOrderAt = p.clock.now();
    step = await p.feed([p.event({ userId: 'user-1', event: 'Order Completed', properties: order('o2', 50) })]);
    expect(changes(step.segmentChanges)).toEqual(['entered big_spenders']);
    expect(JSON.parse(step.segmentChanges[0]?.values as string)).toEqual({ 'counters.orders.30d.sum': 110 });
    const member = await p.view('user', 'user-1');
    expect(member?.memberId).toBe(visitorId);

    // No events: the first order and the page views of March 1 leave the 30-day windows at
    // UTC midnight 30 days on; on day 31 after the last order the member is lapsed (and silent).
    p.clock.set(lastOrderAt + 31 * MS_PER_DAY + 3_600_000);
    const swept = await p.sweepOutputs();
    const windowEnd = new Date((Math.floor(firstOrderAt / MS_PER_DAY) + 30) * MS_PER_DAY).toISOString();
    expect(windowEnd).toBe('2026-03-31T00:00:00.000Z');
    expect(swept.segmentChanges.map((c) => [c.change, c.segmentId, new Date(c.at).toISOString()])).toEqual([
      ['exited', 'big_spenders', windowEnd],
      ['exited', 'browsers', windowEnd],
      ['entered', 'lapsed', new Date(lastOrderAt + 31 * MS_PER_DAY).toISOString()],
    ]);
    expect(swept.segmentChanges.every((c) => c.causeEventId === null)).toBe(true);
    expect(swept.lifecycle.map((t) => t.toStage)).toEqual(['silent']);
    expect(await p.sweepOutputs()).toEqual({ lifecycle: [], segmentChanges: [], triggerFirings: [] });

    // Orders again: no longer lapsed, a big spender again.
    const comeback = p.event({ userId: 'user-1', event: 'Order Completed', properties: order('o3', 150) });
    step = await p.feed([comeback]);
    expect(changes(step.segmentChanges)).toEqual(['entered big_spenders', 'exited lapsed']);

    // A replay of the same record at its offset: nothing changes, nothing is emitted.
    step = await p.feed([comeback], [8]);
    expect(step.segmentChanges).toEqual([]);
  });
});

describe('computed traits (needs Redis)', () => {
  it('count, sum, min, max, first, last and unique count over a window, read by segments, moving with time', async () => {
    const viewed = (aggregate: string, property?: string) => ({
      computed: { event: 'Product Viewed', aggregate, windowDays: 7, ...(property ? { property } : {}) },
    });
    const trait = (id: string, fields: object): RuleSpec => ({ id, kind: 'computed_trait', ...fields });
    const { rules } = await activeRules(redis, [
      trait('views_7d', viewed('count')),
      trait('distinct_products_7d', viewed('unique_count', 'product_id')),
      trait('cheapest_viewed', viewed('min', 'price')),
      trait('dearest_viewed', viewed('max', 'price')),
      trait('first_category', viewed('first', 'category')),
      trait('last_category', viewed('last', 'category')),
      trait('shoe_spend_30d', {
        computed: { event: 'Order Completed', aggregate: 'sum', property: 'total', windowDays: 30 },
        condition: { '==': [{ var: 'event.properties.category' }, 'shoes'] },
      }),
      { id: 'browsing_shoppers', condition: { '>=': [{ var: 'computed.distinct_products_7d' }, 3] } },
    ]);
    expect(rules.current().computed).toHaveLength(7);
    const p = await processorState(redis, inject('services').redisUrl, new Date('2026-05-01T10:00:00Z'), { rules: () => rules.current() });
    const view = (product: string, price: number, category: string) =>
      p.event({ userId: 'u1', event: 'Product Viewed', properties: JSON.stringify({ product_id: product, price, category }) });
    await p.feed([view('p1', 30, 'bags'), view('p2', 12.5, 'shoes')]);
    p.clock.advance(2 * MS_PER_DAY);
    const step = await p.feed([
      view('p1', 30, 'bags'),
      view('p3', 80, 'shoes'),
      p.event({ userId: 'u1', event: 'Order Completed', properties: '{"order_id":"o1","total":80,"category":"shoes"}' }),
      p.event({ userId: 'u1', event: 'Order Completed', properties: '{"order_id":"o2","total":30,"category":"bags"}' }),
    ]);
    expect(changes(step.segmentChanges)).toEqual(['entered browsing_shoppers']);
    const memberId = step.segmentChanges[0]?.memberId as string;
    const traitValue = async (rule: string) => {
      const loaded = (await p.store.load([{ memberId, messageIds: [] }])).get(memberId);
      const context = ruleContext(
        loaded?.state as never,
        true,
        p.clock.now(),
        { state: STATE_CONFIG, windowsDays: DEFAULT_WINDOWS_DAYS, rfm: DEFAULT_RFM },
        rules.current().computed,
      );
      return (context.computed as Record<string, unknown>)[rule];
    };
    expect(await traitValue('views_7d')).toBe(4);
    expect(await traitValue('distinct_products_7d')).toBe(3);
    expect(await traitValue('cheapest_viewed')).toBe(12.5);
    expect(await traitValue('dearest_viewed')).toBe(80);
    expect(await traitValue('first_category')).toBe('bags');
    expect(await traitValue('last_category')).toBe('shoes');
    expect(await traitValue('shoe_spend_30d')).toBe(80);
    // Six days after the first views they leave the 7-day window (at UTC midnight): p2 is gone, 2 distinct products remain.
    p.clock.set(Date.parse('2026-05-08T00:30:00Z'));
    const swept = await p.sweepOutputs();
    expect(swept.segmentChanges.map((c) => [c.change, c.segmentId, new Date(c.at).toISOString()])).toEqual([
      ['exited', 'browsing_shoppers', '2026-05-08T00:00:00.000Z'],
    ]);
    expect(await traitValue('views_7d')).toBe(2);
  });
});
