import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MS_PER_DAY } from '../../lib/clock.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRedis } from '../../lib/redis.ts';
import { DEFAULT_COUNTERS, DEFAULT_WINDOWS_DAYS } from '../../processors/logic/counters.ts';
import { ActiveRules } from '../../rules/store/active-rules.ts';
import { RuleStore } from '../../rules/store/rule-store.ts';
import type { SegmentChangeRecord } from '../../schemas/records.ts';
import { processorState } from '../harness/processor-state.ts';

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
    const store = new RuleStore(redis, `rules${Date.now()}:`);
    for (const [id, condition] of Object.entries(SEGMENTS))
      await store.write(
        id,
        0,
        { id, kind: 'segment', name: id, description: '', condition, active: true, updatedAt: 0, updatedBy: 'test' },
        { actor: 'test', action: 'create', before: null, at: 0 },
      );
    const rules = new ActiveRules(
      store,
      { counters: DEFAULT_COUNTERS.map((c) => c.name), windowsDays: DEFAULT_WINDOWS_DAYS, computedTraits: new Map() },
      createLogger({ service: 'test', level: 'error' }),
    );
    await rules.refresh();
    expect(rules.current().segments.map((s) => s.id)).toEqual(['big_spenders', 'browsers', 'buyers', 'gold_buyers', 'lapsed']);
    const p = await processorState(redis, new Date('2026-03-01T09:00:00Z'), { rules: () => rules.current() });

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
