import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { NO_RULES, type RuleSet } from '../../domain/rules/rule-set.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRedis } from '../../lib/redis.ts';
import { SegmentBackfill } from '../../processors/pipeline/segment-backfill.ts';
import type { UnitOutputs } from '../../processors/pipeline/unit-completion.ts';
import type { OutboxEntry } from '../../processors/store/member-store.ts';
import { activeRules } from '../harness/active-rules.ts';
import { processorState } from '../harness/processor-state.ts';

const redis = createRedis(inject('services').redisUrl);
beforeAll(() => redis.connect());
afterAll(() => redis.quit());

describe('backfill of newly active rules (needs Redis)', () => {
  it('computes a segment for every existing member and schedules calendar triggers for members that send nothing', async () => {
    let ruleSet: RuleSet = NO_RULES;
    const p = await processorState(redis, inject('services').redisUrl, new Date('2026-03-01T09:00:00Z'), { rules: () => ruleSet });
    // 30 members exist before any rule: 10 have ordered, all have a birthday on March 10.
    for (let i = 0; i < 30; i++)
      await p.feed([
        p.event({ userId: `u${i}`, type: 'identify', traits: '{"birthday":"03-10","timezone":"Europe/Paris"}' }),
        ...(i % 3 === 0 ? [p.event({ userId: `u${i}`, event: 'Order Completed', properties: '{"order_id":"o","total":10}' })] : []),
      ]);

    const { store, rules: active } = await activeRules(redis, [
      { id: 'buyers', condition: { '>=': [{ var: 'orders.count' }, 1] } },
      { id: 'birthday', kind: 'trigger', on: { calendar: { kind: 'birthday', hour: 9 } }, businessLine: 'crm', controls: {} },
    ]);
    ruleSet = active.current();

    const published: OutboxEntry[] = [];
    const backfill = new SegmentBackfill({
      members: p.store,
      driver: p.driver,
      // Completes by collecting, and acknowledges as a completed unit does.
      completion: {
        complete: async (unit: UnitOutputs) => {
          published.push(...[...unit.outboxes.values()].flat());
          await p.drain(unit.outboxes);
        },
      },
      rules: store,
      ruleSet: () => ruleSet,
      settings: p.settings,
      clock: p.clock,
      eventTime: async () => p.clock.now(),
      logger: createLogger({ service: 'test', level: 'silent' }),
      timerShards: () => 4,
      pageSize: 7,
      leaseMs: 10_000,
    });
    await backfill.runOnce();
    expect(await store.backfill('buyers')).toMatchObject({ status: 'done', version: 1, scanned: 30, entered: 10, exited: 0, cursor: '0' });
    expect(await store.backfill('birthday')).toMatchObject({ status: 'done', scanned: 30 });
    const entered = published.filter((e) => e.topic === 'segmentChanges');
    expect(entered).toHaveLength(10);
    // Done backfills are not run again.
    await backfill.runOnce();
    expect(published.filter((e) => e.topic === 'segmentChanges')).toHaveLength(10);

    // Nobody sends anything; on March 10 at 09:00 in Paris every member gets its birthday trigger.
    p.clock.set(Date.parse('2026-03-10T08:00:00Z'));
    const swept = await p.sweepOutputs();
    expect(swept.triggerFirings.map((f) => `${f.ruleId} ${f.outcome} ${new Date(f.at).toISOString()}`)).toEqual(
      Array(30).fill('birthday fired 2026-03-10T08:00:00.000Z'),
    );
  });

  it('leaves members evaluated under the current rules alone, whenever it reaches them, and evaluates the others at the event time', async () => {
    const { store, rules: active } = await activeRules(redis, [{ id: 'recent_viewers', condition: { '>=': [{ var: 'counters.product_views.7d.count' }, 1] } }]);
    const ruleSet = active.current();
    const p = await processorState(redis, inject('services').redisUrl, new Date('2026-03-01T09:00:00Z'), { rules: () => ruleSet });
    // Both members view a product under the rule: they enter at their event.
    const first = await p.feed([p.event({ userId: 'a', event: 'Product Viewed' }), p.event({ userId: 'b', event: 'Product Viewed' })]);
    expect(first.segmentChanges.map((c) => `${c.segmentId} ${c.change}`)).toEqual(['recent_viewers entered', 'recent_viewers entered']);
    const changes: string[] = [];
    const backfill = new SegmentBackfill({
      members: p.store,
      driver: p.driver,
      completion: {
        complete: async (unit: UnitOutputs) => {
          for (const entry of [...unit.outboxes.values()].flat()) if (entry.topic === 'segmentChanges') changes.push(entry.record.change);
          await p.drain(unit.outboxes);
        },
      },
      rules: store,
      ruleSet: () => ruleSet,
      settings: p.settings,
      clock: p.clock,
      // A backfill running while a replay is days further on must not date their exit at its own time.
      eventTime: async () => p.clock.now() + 10 * 86_400_000,
      logger: createLogger({ service: 'test', level: 'silent' }),
      timerShards: () => 4,
      pageSize: 10,
      leaseMs: 10_000,
    });
    await backfill.runOnce();
    expect(await store.backfill('recent_viewers')).toMatchObject({ status: 'done', scanned: 2, entered: 0, exited: 0 });
    expect(changes).toEqual([]);
    // Their exit comes from their own timer, at the moment the 7-day window let go of the view.
    p.clock.advance(8 * 86_400_000);
    const swept = await p.sweepOutputs();
    expect(swept.segmentChanges.map((c) => [c.change, new Date(c.at).toISOString()])).toEqual([
      ['exited', '2026-03-08T00:00:00.000Z'],
      ['exited', '2026-03-08T00:00:00.000Z'],
    ]);
  });
});
